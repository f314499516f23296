"""The benchmark's measurements and its output files (what it measures, not how fast: no timing assertions)."""
import json
import math
import shutil
import subprocess

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bannb.bench import cpu as bench
from bannb.bench import machine
from bannb.image.precision import resolve_precision
from bannb.models import create_model

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
    assert machine.step_flops(step) == 2 * 8 * 4 * 2
    assert bench.step_bytes(step) == 4 * (8 * 4 + 4 * 2 + 8 * 2)


def test_the_machine_ceilings_are_measured():
    assert machine.matmul_peak(torch.float32, seconds=0.05) > 0
    assert bench.memory_bandwidth(megabytes=8, seconds=0.05) > 0


def test_auto_without_a_network_follows_the_cpu_flags():
    """Without a network to time, `auto` falls back on the CPU's bf16 instructions: bf16 exactly where the CPU
    reports AVX512-BF16 or AMX (read from /proc/cpuinfo here, from torch's own detection in the library)."""
    flags = machine.cpu_info()["flags"]
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


def _report(model, isa, fp32_ms, auto, variants=None, bandwidth=2e10, old=False):
    """A report as `main` writes it (old=True: as the first files were, auto's choice and the plain loop only)."""
    seconds = {label: ms / 1e3 for label, ms in fp32_ms.items()}
    choice = auto
    row = dict(case="densenet-bc-40-12 1×28×28", plain_fp32_seconds=1.0, candidates=seconds,
               candidate_shares={label: dict(share_of_peak=0.25, share_of_bandwidth=None if old else 0.5)
                                 for label in seconds},
               plain_fp32_shares=dict(share_of_peak=0.2, share_of_bandwidth=None), auto=dict(choice=choice),
               fastest=None if old else min(seconds, key=seconds.get),
               auto_gap=None if old else seconds[choice] / min(seconds.values()) - 1, bannb_seconds=seconds[choice])
    if variants:
        row["variants"] = {name: dict(seconds=ms / 1e3, precision=choice, share_of_peak=0.3, share_of_bandwidth=0.6,
                                      first_epoch_seconds=None) for name, ms in variants.items()}
    return dict(machine=dict(model=model, isa=isa, cores=2, threads=2, flags={"avx512f": True, "avx512_bf16": False}),
                torch="2.x", matmul_peak_flops_per_second={"fp32": 3e11, "bf16": 1.5e11},
                memory_bandwidth_bytes_per_second=None if old else bandwidth, rows=[row], measured="2026-01-01")


def test_the_reports_side_by_side(tmp_path):
    new = _report("Intel Xeon", "avx512", {"fp32": 500, "fp32+channels-last": 400, "bf16": 900,
                                           "bf16+channels-last": 410}, auto="bf16+channels-last",
                  variants={"concat (as before)": 410, "preallocated buffer": 533})
    new["rows"].append(dict(new["rows"][0], case="wrn-16-1 1×28×28", variants={}))  # written after the DenseNet
    old = _report("AMD EPYC", "avx512-bf16", {"bf16+channels-last": 250}, auto="bf16+channels-last", old=True)
    for report in (new, old):
        bench.write_report(bench.report_file(tmp_path, report["machine"]), report)
    reports = bench.read_reports(tmp_path)
    assert list(reports) == ["AMD EPYC (avx512-bf16)", "Intel Xeon (avx512)"]

    machines = bench.machines_table(reports).set_index("CPU")
    assert machines.loc["Intel Xeon (avx512)", "bf16 / fp32"] == pytest.approx(0.5)
    assert machines.loc["Intel Xeon (avx512)", "memory bandwidth (GB/s)"] == pytest.approx(20.0)
    assert math.isnan(machines.loc["AMD EPYC (avx512-bf16)", "memory bandwidth (GB/s)"])
    assert machines.loc["Intel Xeon (avx512)", "flags"] == "avx512f"

    steps = bench.steps_table(reports)
    assert list(steps.loc[steps["CPU"] == "Intel Xeon (avx512)", "case"]) == [  # in the order of bench.CASES
        "wrn-16-1 1×28×28", "densenet-bc-40-12 1×28×28"]
    steps = steps[steps["case"].str.startswith("densenet")].set_index("CPU")
    xeon, amd = steps.loc["Intel Xeon (avx512)"], steps.loc["AMD EPYC (avx512-bf16)"]
    assert xeon["fastest"] == "fp32+channels-last" and xeon["auto vs fastest (%)"] == pytest.approx(2.5)
    assert xeon["within tolerance"] is True and xeon["fp32"] == pytest.approx(500)
    assert xeon["speed-up over plain"] == pytest.approx(1 / 0.41)
    assert xeon["% of memory bandwidth"] == pytest.approx(50.0)
    assert amd["within tolerance"] is None and amd["fastest"] == "not measured" and math.isnan(amd["fp32"])
    assert math.isnan(amd["% of memory bandwidth"])
    # a gap beyond the tolerance fails it
    strict = bench.steps_table(reports, tolerance=0.01)
    assert not strict.loc[strict["CPU"] == "Intel Xeon (avx512)", "within tolerance"].any()

    variants = bench.variants_table(reports).set_index("dense block")
    assert list(variants["CPU"]) == ["Intel Xeon (avx512)"] * 2
    assert variants.loc["preallocated buffer", "change (%)"] == pytest.approx(30.0)
    assert variants.loc["concat (as before)", "change (%)"] == pytest.approx(0.0)


def test_accuracy_difference_pairs_bf16_and_fp32_by_seed():
    runs = [dict(precision=p, seed=s, test_error=e) for p, s, e in
            [("bf16", 0, 9.2), ("bf16", 1, 9.4), ("bf16", 2, 9.0),
             ("fp32", 0, 9.5), ("fp32", 1, 9.3), ("fp32", 2, 9.4)]]
    diff = bench.accuracy_difference(dict(accuracy=dict(runs=runs)))
    assert diff.n == 3 and diff.paired and diff.mean == pytest.approx((-0.3 + 0.1 - 0.4) / 3)
    assert bench.accuracy_difference({}) is None


COMMITTED = sorted(bench.RESULTS_DIR.glob("performance-*.json"))
MEASURED = {}  # case -> its measurement, shared by every committed report's test (the tiny network measures alike)


@pytest.mark.parametrize("committed", COMMITTED, ids=lambda path: path.stem)
def test_quick_prints_every_committed_report_and_leaves_it_unchanged(committed, tmp_path, monkeypatch, capsys):
    """`--quick` on the CPU type of each committed report (whose rows may be an older format): merged into a copy of
    that report (`--out`), the report prints, every row of it; by default it writes apart (`QUICK_OUT`), and the
    committed reports keep their bytes. The measured work is a tiny network's, in this process."""
    before = {path: path.read_bytes() for path in COMMITTED}
    report = json.loads(committed.read_text())
    monkeypatch.setattr(bench, "cpu_info", lambda: report["machine"])
    monkeypatch.setattr(bench, "matmul_peak", lambda dtype: 1e11)
    monkeypatch.setattr(bench, "memory_bandwidth", lambda: 1e10)
    monkeypatch.setitem(bench.CASES, "wrn-16-1 1×28×28", ("wrn-10-1", (1, 12, 12), 10))
    monkeypatch.setattr(bench, "QUICK_OUT", tmp_path / "quick")

    measured = MEASURED

    def one_case(command, **_):  # `python -m bannb.bench --one <case> --steps <n> …`, measured here (once) at batch 8
        name, steps = command[command.index("--one") + 1], int(command[command.index("--steps") + 1])
        if name not in measured:
            measured[name] = json.dumps(bench.measure_case(name, steps, batch=8))
        return subprocess.CompletedProcess(command, 0, measured[name], "")
    monkeypatch.setattr(bench.subprocess, "run", one_case)

    (tmp_path / "copy").mkdir()
    shutil.copy(committed, tmp_path / "copy" / committed.name)
    assert bench.main(["--quick", "--out", str(tmp_path / "copy")]) == 0
    out = capsys.readouterr().out
    merged = json.loads((tmp_path / "copy" / committed.name).read_text())
    assert [row["case"] for row in merged["rows"]] == [row["case"] for row in report["rows"]
                                                      if row["case"] != "wrn-16-1 1×28×28"] + ["wrn-16-1 1×28×28"]
    for row in merged["rows"]:
        assert f"\n{row['case']:<28} " in out
    assert bench.main(["--quick"]) == 0
    assert f"written: {tmp_path / 'quick' / committed.name}" in capsys.readouterr().out
    assert {path: path.read_bytes() for path in COMMITTED} == before
