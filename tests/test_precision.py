"""`precision="auto"` by measurement: the choice, the cache, and what bypasses it (no timing assertions)."""
import json
import math

import pytest
import torch

from bannb.bench import machine
from bannb.errors import ConfigError
from bannb.image import precision
from bannb.image.precision import Candidate, decide, resolve_precision


class FakeTimer:
    """Stands in for the step timing: fixed seconds per candidate, and a record of what was timed."""

    def __init__(self, seconds: dict):
        self.seconds, self.calls = seconds, []

    def __call__(self, candidate, give_up_after):
        self.calls.append((candidate.label, give_up_after))
        seconds = self.seconds[candidate.label]
        return math.inf if seconds > give_up_after else seconds


XEON_WRN = {"fp32": 0.200, "fp32+channels-last": 0.161, "bf16": 0.203, "bf16+channels-last": 0.173}
XEON_DENSENET = {"fp32": 1.160, "fp32+channels-last": 0.951, "bf16": 0.866, "bf16+channels-last": 0.802}


@pytest.mark.parametrize("seconds, chosen", [(XEON_WRN, "fp32+channels-last"), (XEON_DENSENET, "bf16+channels-last")])
def test_the_fastest_candidate_is_chosen_and_reported(tmp_path, seconds, chosen):
    timer, lines = FakeTimer(seconds), []
    decision = decide("wrn-16-1", (1, 28, 28), distill=True, measure=timer, cache=tmp_path / "p.json", log=lines.append)
    assert decision.choice == Candidate.from_label(chosen) and decision.measured_now
    assert [label for label, _ in timer.calls] == ["fp32", "fp32+channels-last", "bf16", "bf16+channels-last"]
    assert decision.seconds == seconds
    others = ", ".join(f"{label} {s * 1e3:.0f} ms" for label, s in seconds.items() if label != chosen)
    assert len(lines) == 1 and lines[0].startswith(f"precision auto → {chosen} for wrn-16-1 1×28×28 on ")
    assert f": {seconds[chosen] * 1e3:.0f} ms vs {others} (measured once; cached in " in lines[0]


def test_a_hopeless_candidate_is_given_up_after_three_times_the_best(tmp_path):
    # bf16 emulated in software (no AVX512-BF16): ten times slower, never timed to the end
    timer = FakeTimer({"fp32": 0.1, "fp32+channels-last": 0.08, "bf16": 1.0, "bf16+channels-last": 0.9})
    decision = decide("wrn-16-1", (1, 28, 28), measure=timer, cache=tmp_path / "p.json", log=lambda l: None)
    assert decision.choice == Candidate("fp32", True)
    assert timer.calls[0] == ("fp32", math.inf) and timer.calls[2] == ("bf16", pytest.approx(0.24))
    assert math.isinf(decision.seconds["bf16"]) and math.isinf(decision.seconds["bf16+channels-last"])


def test_the_cache_answers_without_measuring_again(tmp_path):
    cache = tmp_path / "cache" / "precision.json"
    timer = FakeTimer(XEON_DENSENET)
    first = decide("densenet-bc-40-12", (1, 28, 28), measure=timer, cache=cache, log=lambda line: None)
    assert len(timer.calls) == 4
    lines = []
    again = decide("densenet-bc-40-12", (1, 28, 28), measure=timer, cache=cache, log=lines.append)
    assert len(timer.calls) == 4 and lines == [], "read back silently, nothing timed"
    assert again.choice == first.choice and again.seconds == first.seconds and not again.measured_now
    # another network, batch size or teacher setting is another question
    decide("densenet-bc-40-12", (1, 28, 28), batch_size=64, measure=timer, cache=cache, log=lambda line: None)
    decide("densenet-bc-40-12", (1, 28, 28), distill=True, measure=timer, cache=cache, log=lambda line: None)
    assert len(timer.calls) == 12
    entries = json.loads(cache.read_text())
    assert len(entries) == 3 and {entry["choice"] for entry in entries.values()} == {"bf16+channels-last"}
    assert all(f"torch {torch.__version__} | densenet-bc-40-12 1×28×28 → 10 | batch " in key for key in entries)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"k": {"choice": "bf17", "seconds": {}}}',
                                     '{"k": {"seconds": {"fp32": 1}}}'])
def test_a_corrupt_cache_is_reported_and_rebuilt(tmp_path, content):
    cache = tmp_path / "precision.json"
    cache.write_text(content)
    timer, lines = FakeTimer(XEON_WRN), []
    decision = decide("wrn-16-1", (1, 28, 28), measure=timer, cache=cache, log=lines.append)
    assert lines[0].startswith(f"precision cache {cache} is unreadable (") and "measuring again" in lines[0]
    assert len(timer.calls) == 4 and decision.choice == Candidate("fp32", True)
    assert list(json.loads(cache.read_text()).values())[0]["choice"] == "fp32+channels-last"


def test_the_cache_lives_outside_git(tmp_path, monkeypatch):
    monkeypatch.setenv("BANNB_CACHE", str(tmp_path))
    assert precision.cache_file() == tmp_path / "precision.json"
    monkeypatch.delenv("BANNB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert precision.cache_file() == tmp_path / "xdg" / "bannb" / "precision.json"


def test_explicit_precision_bypasses_the_measurement(tmp_path, monkeypatch):
    monkeypatch.setenv("BANNB_CACHE", str(tmp_path))
    monkeypatch.setattr(precision, "step_seconds", lambda *args, **kwargs: pytest.fail("measured"))
    for explicit in ("fp32", "bf16"):
        assert resolve_precision(explicit, "cpu", arch="wrn-16-1", input_shape=(1, 28, 28)) == explicit
    assert not (tmp_path / "precision.json").exists()
    with pytest.raises(ConfigError, match="fp16 mixed precision needs a CUDA device"):
        resolve_precision("fp16", "cpu", arch="wrn-16-1", input_shape=(1, 28, 28))
    with pytest.raises(ConfigError, match="valid precisions are: auto, bf16, fp16, fp32"):
        resolve_precision("int8", "cpu", arch="wrn-16-1", input_shape=(1, 28, 28))


def test_auto_through_resolve_precision_reads_the_cached_decision(tmp_path, monkeypatch):
    monkeypatch.setenv("BANNB_CACHE", str(tmp_path))
    decide("wrn-16-1", (1, 28, 28), measure=FakeTimer({**XEON_WRN, "bf16": 0.1}), log=lambda line: None)
    monkeypatch.setattr(precision, "step_seconds", lambda *args, **kwargs: pytest.fail("measured again"))
    assert resolve_precision("auto", "cpu", arch="wrn-16-1", input_shape=(1, 28, 28)) == "bf16"
    assert precision.auto_settings("cpu", "wrn-16-1", (1, 28, 28)) == dict(precision="bf16", channels_last=False)


def test_real_measurement_of_a_tiny_network(tmp_path):
    """The real timer end to end on a network small enough for seconds: every candidate timed or given up."""
    lines = []
    decision = decide("wrn-10-1", (1, 8, 8), batch_size=8, distill=True, cache=tmp_path / "p.json", log=lines.append)
    assert set(decision.seconds) == {"fp32", "fp32+channels-last", "bf16", "bf16+channels-last"}
    assert all(seconds > 0 for seconds in decision.seconds.values())
    assert decision.seconds[decision.choice.label] == min(decision.seconds.values())
    assert lines[0].startswith(f"precision auto → {decision.choice.label} for wrn-10-1 1×8×8 on ")


def test_cpu_identity():
    info = machine.cpu_info()
    assert info["model"] and info["cores"] >= 1 and info["threads"] == torch.get_num_threads()
    assert info["isa"] in ("amx", "avx512-bf16", "avx512", "avx2") or info["isa"] == info["arch"]
    assert precision.slug("Intel(R) Xeon(R) Processor (avx512-bf16)") == "intel-r-xeon-r-processor-avx512-bf16"
    assert machine.isa_level({"avx2": True, "avx512f": True, "avx512_bf16": True}) == "avx512-bf16"
    assert machine.isa_level({"avx2": True, "amx_tile": True, "avx512_bf16": True}) == "amx"


def test_time_steps_judges_every_call_but_the_first():
    import time
    calls = []

    def slow_first_call():
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.2)  # kernel selection on the first call: not a reason to give up

    assert not math.isinf(precision.time_steps(slow_first_call, warmup=1, steps=2, give_up_after=1.0))
    calls.clear()

    def slow_second_call():
        calls.append(1)
        if len(calls) == 2:
            time.sleep(1.2)

    assert math.isinf(precision.time_steps(slow_second_call, warmup=1, steps=2, give_up_after=1.0))
    assert len(calls) == 2, "given up at once"
