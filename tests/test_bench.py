"""The benchmark's measurements and its output files (what it measures, not how fast: no timing assertions)."""
import json
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bannb import bench
from bannb.learner import resolve_precision
from bannb.models import create_model
from bannb.precision import cpu_info

LABELS = ["fp32", "fp32+channels-last", "bf16", "bf16+channels-last"]


def forward_flops(arch, shape, classes, batch):
    model = create_model(arch, shape[0], classes)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(batch, *shape))
    return counter.get_total_flops()


def test_measure_case_on_a_small_network(monkeypatch):
    monkeypatch.setitem(bench.CASES, "tiny", ("wrn-10-1", (1, 12, 12), 10))
    row = bench.measure_case("tiny", steps=1, batch=16)
    forward = forward_flops("wrn-10-1", (1, 12, 12), 10, 16)
    # teacher forward + student forward + student backward (≈ 2 forwards; the first conv has no input gradient)
    assert 3.5 * forward < row["step_flops"] <= 4 * forward
    # bf16 activations and gradients take half the bytes; the fp32 master weights and SGD state do not shrink
    assert row["step_bytes"]["bf16"] < row["step_bytes"]["fp32"]
    assert row["parameters"] == sum(p.numel() for p in create_model("wrn-10-1", 1, 10).parameters())
    assert list(row["candidates"]) == LABELS and row["batch"] == 16
    assert row["auto"]["choice"] in LABELS and set(row["auto"]["timed"]) == set(LABELS)
    finished = {label: s for label, s in row["candidates"].items() if not math.isinf(s)}
    assert row["fastest"] == min(finished, key=finished.get)
    assert row["bannb_seconds"] == row["candidates"][row["auto"]["choice"]]
    assert row["auto_gap"] == pytest.approx(row["bannb_seconds"] / finished[row["fastest"]] - 1)
    assert row["peak_memory_mib"] > 0 and "variants" not in row

    peaks, bandwidth = {"fp32": 1e11, "bf16": 2e11}, 1e10
    bench.add_shares(row, peaks, bandwidth)
    for label, seconds in finished.items():
        precision = label.split("+")[0]
        shares = row["candidate_shares"][label]
        assert shares["share_of_peak"] == pytest.approx(row["step_flops"] / seconds / peaks[precision])
        assert shares["share_of_bandwidth"] == pytest.approx(row["step_bytes"][precision] / seconds / bandwidth)
    assert row["speedup"] == pytest.approx(row["plain_fp32_seconds"] / row["bannb_seconds"])


def test_step_bytes_and_flops_of_a_known_step():
    a, b = torch.randn(8, 4), torch.randn(4, 2)

    def step():
        (a @ b).t()  # the transpose is a view: it moves nothing
    assert bench.step_flops(step) == 2 * 8 * 4 * 2
    assert bench.step_bytes(step) == 4 * (8 * 4 + 4 * 2 + 8 * 2)


def test_the_machine_ceilings_are_measured():
    assert bench.matmul_peak(torch.float32, seconds=0.05) > 0
    assert bench.memory_bandwidth(megabytes=8, seconds=0.05) > 0


def test_auto_without_a_network_follows_the_cpu_flags():
    """Without a network to time, `auto` falls back on the CPU's bf16 instructions: bf16 exactly where the CPU
    reports AVX512-BF16 or AMX (read from /proc/cpuinfo here, from torch's own detection in the library)."""
    flags = cpu_info()["flags"]
    native_bf16 = bool(flags.get("avx512_bf16") or flags.get("amx_tile"))
    assert resolve_precision("auto", "cpu") == ("bf16" if native_bf16 else "fp32")


@pytest.mark.skipif(not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()),
                    reason="bf16 is emulated without AVX512-BF16 or AMX")
def test_native_bf16_matmul_matches_fp32_within_bf16_rounding():
    a, b = torch.randn(64, 64), torch.randn(64, 64)
    product = (a.bfloat16() @ b.bfloat16()).float()
    assert torch.allclose(product, a @ b, rtol=0.05, atol=0.5)


def test_one_file_per_cpu_type_and_sections_are_merged(tmp_path):
    machine = dict(model="Intel(R) Xeon(R) Processor", isa="avx512-bf16")
    path = bench.report_file(tmp_path, machine)
    assert path.name == "performance-intel-r-xeon-r-processor-avx512-bf16.json"
    bench.write_report(path, dict(rows=[dict(case="a", speedup=2.0), dict(case="b", speedup=1.0)], device="cpu"))
    bench.write_report(path, dict(rows=[dict(case="b", speedup=3.0)]))
    report = bench.write_report(path, dict(accuracy=dict(outcome="within noise")))
    assert json.loads(path.read_text()) == report == dict(
        rows=[dict(case="a", speedup=2.0), dict(case="b", speedup=3.0)], device="cpu",
        accuracy=dict(outcome="within noise"))
    assert bench.report_file(tmp_path, dict(model="AMD EPYC", isa="avx2")).name == "performance-amd-epyc-avx2.json"
    assert not list(tmp_path.glob("*.tmp"))


def test_every_committed_result_file_names_its_cpu():
    from bannb.data.arrays import PROJECT_ROOT
    files = sorted((PROJECT_ROOT / "book" / "results").glob("performance-*.json"))
    assert files, "make bench writes book/results/performance-<cpu>.json"
    for path in files:
        report = json.loads(path.read_text())
        assert report["machine"]["model"] and report["machine"]["isa"]
        assert bench.report_file(path.parent, report["machine"]) == path


@pytest.mark.parametrize("argv, message", [
    (["--cases", "wrn-16-2"], "unknown case 'wrn-16-2'; the cases are: wrn-16-1 1×28×28"),
    (["--steps", "0"], "--steps must be at least 1"),
])
def test_bad_arguments(argv, message, tmp_path, capsys):
    assert bench.main([*argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir()), "a refused run writes nothing"
