"""The benchmark's measurements and its output file (what it measures, not how fast: no timing assertions)."""
import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bannb import bench
from bannb.models import create_model


def forward_flops(arch, shape, classes, batch):
    model = create_model(arch, shape[0], classes)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(batch, *shape))
    return counter.get_total_flops()


def test_measure_case_on_a_small_network(monkeypatch):
    monkeypatch.setitem(bench.CASES, "tiny", ("wrn-10-1", (1, 28, 28), 10))
    row = bench.measure_case("tiny", steps=1)
    forward = forward_flops("wrn-10-1", (1, 28, 28), 10, bench.BATCH)
    # teacher forward + student forward + student backward (≈ 2 forwards; the first conv has no input gradient)
    assert 3.5 * forward < row["step_flops"] <= 4 * forward
    assert row["parameters"] == sum(p.numel() for p in create_model("wrn-10-1", 1, 10).parameters())
    assert row["speedup"] == pytest.approx(row["plain_fp32_seconds"] / row["bannb_seconds"])
    assert row["bannb_flops_per_second"] == pytest.approx(row["step_flops"] / row["bannb_seconds"])
    assert 0 < row["data_share"] < 1 and row["peak_memory_mib"] > 0
    assert row["precision"] == "bf16" and row["batch"] == bench.BATCH


def test_report_sections_are_merged(tmp_path):
    rows = [dict(case="a", speedup=2.0)]
    bench.write_report(tmp_path, dict(rows=rows, device="cpu"))
    report = bench.write_report(tmp_path, dict(accuracy=dict(outcome="within noise")))
    on_disk = json.loads((tmp_path / "performance.json").read_text())
    assert on_disk == report == dict(rows=rows, device="cpu", accuracy=dict(outcome="within noise"))
    assert (tmp_path / "performance.csv").read_text().splitlines() == ["case,speedup", "a,2.0"]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("argv, message", [
    (["--cases", "wrn-16-2"], "unknown case 'wrn-16-2'; the cases are: wrn-16-2 1×28×28"),
    (["--steps", "0"], "--steps must be at least 1"),
])
def test_bad_arguments(argv, message, tmp_path, capsys):
    assert bench.main([*argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir()), "a refused run writes nothing"
