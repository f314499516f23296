"""Profiles: one declaration per scale of the book, its precision of record, the note it prints (computed),
and the chapter context built on it."""
import dataclasses

import pytest
import torch

from bannb.book import chapter
from bannb.errors import ConfigError
from bannb.models import model_family
from bannb.study.experiments import book_config, chapter_seeds, transfer_grid
from bannb.study.profiles import (
    DEFAULT_PROFILE,
    PROFILES,
    Profile,
    get_profile,
    make_config,
    parameter_count,
    recipe_table,
    resolve_device,
)
from tests.conftest import meta_count


def test_registry_is_a_dict_of_profiles_by_name():
    assert set(PROFILES) == {"smoke", "cpu", "cpu-next", "paper", "gpu"} and DEFAULT_PROFILE == "cpu"
    assert all(isinstance(p, Profile) and p.name == name for name, p in PROFILES.items())
    assert get_profile("cpu") is PROFILES["cpu"] and get_profile(PROFILES["cpu"]) is PROFILES["cpu"]
    with pytest.raises(ConfigError, match="unknown profile 'laptop'; valid profiles are: cpu, cpu-next, gpu, paper, smoke"):
        get_profile("laptop")
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["cpu"].epochs = 1


def test_a_profile_is_its_run_defaults():
    for name, profile in PROFILES.items():
        config = make_config(name, precision="fp32")
        for field in Profile.RUN_FIELDS:
            assert getattr(config, field) == getattr(profile, field), (name, field)
        assert config.dropout == (profile.wrn_dropout if model_family(config.arch) == "wide_resnet" else 0.0)
    assert make_config("cpu", epochs=7, arch=None).epochs == 7  # None keeps the profile's value
    assert list(recipe_table().index) == list(PROFILES) and recipe_table().loc["cpu", "epochs"] == PROFILES["cpu"].epochs == 20


def test_seeds_and_book_shrinking_come_from_the_profile():
    assert chapter_seeds("smoke", None) == [0, 1] and chapter_seeds("cpu", None) == list(range(8))
    assert chapter_seeds("cpu", None, secondary=True) == [0, 1, 2] and chapter_seeds("cpu", [7]) == [7]
    assert transfer_grid("paper")["seeds"] == list(PROFILES["paper"].secondary_seeds)
    assert book_config("smoke").train_size == PROFILES["smoke"].book_overrides["train_size"]
    assert make_config("smoke").train_size == PROFILES["smoke"].train_size  # outside the book: the profile's own


def test_adding_a_profile_is_one_entry(monkeypatch):
    tiny = dataclasses.replace(PROFILES["smoke"], name="tiny", epochs=1, seeds=(4,), secondary_seeds=(4,))
    monkeypatch.setitem(PROFILES, "tiny", tiny)
    assert make_config("tiny").epochs == 1 and chapter_seeds("tiny", None) == [4]


def test_the_committed_records_keep_their_run_ids():
    """Nothing of #20 changes a config's fields, hash or id: every committed record is still found by its id."""
    from bannb.paths import DATA_DIR
    from bannb.runs.store import Run
    records = sorted(path for path in (DATA_DIR / "runs").iterdir() if (path / "config.json").is_file())
    assert records, "the committed records"
    for path in records:
        assert Run(path).config.run_id == path.name


def test_the_committed_image_records_were_trained_on_the_fashion_mnist_of_record(fashion_mnist_available):
    from bannb.data import RECORDED_DATA_SHA256, data_fingerprint, data_mismatch
    config = make_config("cpu")
    assert data_fingerprint(config) == RECORDED_DATA_SHA256["fashion-mnist"]
    assert data_mismatch(config, {}) is None  # a committed record (no fingerprint of its own) on this data
    assert "it was trained on other fashion-mnist data" in data_mismatch(config, {"data_sha256": "0" * 64})


# ---------------------------------------------------------------- precision of record (#13 item 2)

def fake_auto(decision):
    """`precision.auto_settings` as it would be on a machine whose `auto` decides `decision` (and channels-last)."""
    return lambda *args, **kwargs: dict(precision=decision, channels_last=True)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_book_configs_do_not_depend_on_what_auto_decides(profile, monkeypatch, fashion_mnist_available):
    monkeypatch.setattr("bannb.study.profiles.auto_settings", fake_auto("bf16"))
    on_bf16_machine = [book_config(profile, seed).hash for seed in (0, 1, 2)] + [make_config(profile).hash]
    monkeypatch.setattr("bannb.study.profiles.auto_settings", fake_auto("fp32"))
    assert make_config(profile, precision="auto").precision == "fp32", "the fake decides auto"
    on_fp32_machine = [book_config(profile, seed).hash for seed in (0, 1, 2)] + [make_config(profile).hash]
    assert on_fp32_machine == on_bf16_machine
    assert book_config(profile).precision == PROFILES[profile].precision == {"paper": "bf16"}.get(profile, "fp32")
    # a run in another precision is another run
    other = "bf16" if PROFILES[profile].precision == "fp32" else "fp32"
    assert book_config(profile, precision=other).hash != book_config(profile).hash


def test_a_profile_without_precision_of_record_uses_auto(monkeypatch, fashion_mnist_available):
    monkeypatch.setitem(PROFILES, "free", dataclasses.replace(PROFILES["smoke"], name="free", precision=None))
    monkeypatch.setattr("bannb.study.profiles.auto_settings", fake_auto("fp32"))
    assert make_config("free").precision == "fp32"
    monkeypatch.setattr("bannb.study.profiles.auto_settings", fake_auto("bf16"))
    assert make_config("free").precision == "bf16"


# ---------------------------------------------------------------- the note, computed

def test_note_is_computed_from_the_real_network_and_data(fashion_mnist_available):
    cpu = PROFILES["cpu"].note()
    params = meta_count("wrn-16-1", in_channels=1, num_classes=10)
    assert f"wrn-16-1 ({params / 1e6:.2f}M parameters)" in cpu
    assert "3,000 training, 2,000 validation and 10,000 test images" in cpu  # the regime study's subset
    assert "20 epochs, one-cycle-hold schedule" in cpu and "fp32, the profile's precision of record" in cpu
    assert "mean nothing" not in cpu
    # a chapter's overrides change the note: another network, its own count
    wider = PROFILES["cpu"].note(arch="wrn-16-2", train_size=4000)
    assert f"wrn-16-2 ({parameter_count('wrn-16-2', 1, 10) / 1e6:.2f}M parameters)" in wider
    assert "4,000 training" in wider
    smoke = PROFILES["smoke"].note()
    assert smoke.startswith("**smoke profile: the numbers in this chapter mean nothing.**")
    assert "512 training, 500 validation and 1,000 test images" in smoke  # the book's shrinking


def test_note_names_the_largest_network_of_the_grid(fashion_mnist_available, monkeypatch):
    grid = dict(PROFILES["smoke"].transfer, wrn_archs=["wrn-16-2"])
    monkeypatch.setitem(PROFILES, "smoke", dataclasses.replace(PROFILES["smoke"], transfer=grid))
    count = parameter_count("wrn-16-2", 1, 10)
    assert f"the largest network of the book at this profile is wrn-16-2 ({count / 1e6:.2f}M)" \
        in PROFILES["smoke"].note()


# ---------------------------------------------------------------- the chapter context

def test_chapter_resolves_seeds_and_overrides_and_shows_the_note_once(fashion_mnist_available, capsys):
    ctx = chapter(profile="smoke", seeds=None, arch=None, epochs=1, generations=2, device="cpu")
    assert ctx.profile is PROFILES["smoke"] and ctx.seeds == [0, 1] and ctx.secondary_seeds == [0]
    assert ctx.overrides == {"epochs": 1} and ctx.device == "cpu" and ctx.parameters["generations"] == 2
    shown = capsys.readouterr().out
    assert shown.strip() == ctx.note() and "1 epoch," in shown
    again = chapter(profile="smoke", seeds=[5], arch=None, epochs=1, generations=2, device="cpu")
    assert again.seeds == [5] and capsys.readouterr().out == ""  # the same note is not shown twice


@pytest.mark.parametrize("parameters, message", [
    (dict(profile="laptop"), "unknown profile 'laptop'"),
    (dict(profile="cpu", seeds=[]), "seeds must be a non-empty list of integers"),
    (dict(profile="cpu", epochs="five"), "epochs must be a positive integer"),
])
def test_chapter_refuses_bad_parameters(parameters, message):
    with pytest.raises(ConfigError, match=message):
        chapter(show_note=False, **parameters)


# ---------------------------------------------------------------- parameters validated together, up front (#20)

@pytest.fixture
def no_training(monkeypatch):
    """Whatever would train fails the test: the refusals come before anything trains."""
    def trains(*args, **kwargs):
        raise AssertionError("a run was trained")
    for target in ("bannb.runs.plan.train_all", "bannb.runs.plan.train", "bannb.runs.lifecycle.train",
                   "bannb.study.chapters.train_all", "bannb.study.chapters.train"):
        monkeypatch.setattr(target, trains)


@pytest.mark.parametrize("parameters, message", [
    # chapter 4 compares BAN-3 of each secondary seed with BAN-2 of the same seed: the smoke profile's secondary
    # seed 0 is not among seeds [1] (today: ~130 s of training, then "no seed in common" in a late cell)
    (dict(seeds=[1], name="04_born_again"),
     r"chapter 04_born_again: secondary seeds \[0\] are not all among the seeds \[1\] \(missing: 0\), yet it "
     r"compares BAN-3 of each secondary seed with BAN-2 of the same seed, which only the seeds train; give "
     r"secondary seeds among the seeds \(e.g. `-y 'secondary_seeds: \[1\]'`\) or add 0 to the seeds"),
    (dict(seeds=[0, 1], secondary_seeds=[0, 5], name="04_born_again"), r"missing: 5"),
    (dict(seeds=[1], name="11_summary"), "chapter 04_born_again: secondary seeds"),  # the summary reads chapter 4
    (dict(seeds=[0, 0]), r"parameter seeds \[0, 0\] name 0 more than once: a repeated seed trains one replicate "
                         r"and would count it twice"),
    (dict(secondary_seeds=[1, 1]), "parameter secondary_seeds .* name 1 more than once"),
    (dict(secondary_seeds=[]), "parameter secondary_seeds must be a non-empty list of integers"),
    (dict(secondary_seeds=3), "parameter secondary_seeds must be a non-empty list of integers"),
    (dict(seeds=[-1]), "parameter seeds must lie between 0 and 999, got -1"),
    (dict(seeds=[2**40]), "parameter seeds must lie between 0 and 999"),
    (dict(precision="fp8"), "unknown precision 'fp8'"),
    (dict(dropout=1.5), "parameter dropout must be a number from 0 up to"),
    (dict(device="gpu"), "unknown device 'gpu'; valid devices are cpu, cuda and cuda:N"),
    (dict(train_size=60_000), r"train_size 60000 is more than fashion-mnist holds .*\(give train_size ≤ 59500\)"),
])
def test_chapter_refuses_seeds_and_parameters_that_would_fail_late(parameters, message, no_training):
    with pytest.raises(ConfigError, match=message) as refused:
        chapter(profile="smoke", show_note=False, **parameters)
    assert "\n" not in str(refused.value), "one line"


def test_seeds_a_chapter_does_not_pair_are_accepted(no_training):
    # chapter 7's BAN-3 and Ens*3 are compared with each other, on the secondary seeds alone; chapter 5 has none
    assert chapter(profile="smoke", seeds=[1], show_note=False, name="07_ensembles").secondary_seeds == [0]
    assert chapter(profile="smoke", seeds=[1], show_note=False, name="05_cwtm").seeds == [1]
    ctx = chapter(profile="smoke", seeds=[1, 3], secondary_seeds=[3], show_note=False, name="04_born_again")
    assert (ctx.seeds, ctx.secondary_seeds) == ([1, 3], [3])


def test_which_chapters_pair_secondary_with_central_seeds_is_read_from_their_declarations():
    from bannb.study.chapters import CHAPTERS, chapter_entries, seed_pairings
    pairing = {chapter: seed_pairings(chapter, "smoke") for chapter in CHAPTERS}
    assert pairing.pop("04_born_again") == (("BAN-3", "BAN-2"), ("BAN-3", "Teacher"), ("Teacher (2× epochs)", "BAN-1"))
    assert not any(pairing.values()), pairing
    # the library's own path refuses them too, before its plan trains
    with pytest.raises(ConfigError, match="chapter 04_born_again: secondary seeds"):
        chapter_entries("04_born_again", "smoke", seeds=[1])
    with pytest.raises(ConfigError, match="name 2 more than once"):
        chapter_entries("09_language_models", "smoke", seeds=[2, 2])


@pytest.mark.parametrize("change, message", [
    (dict(seeds=(0, 0)), r"profile bad: seeds \[0, 0\] name 0 more than once"),
    (dict(secondary_seeds=(3,)), r"profile bad: its secondary_seeds \(3,\) must be among its seeds \(0, 1\)"),
    (dict(lm_seeds=()), "profile bad: lm_seeds must be a non-empty list"),
])
def test_a_profile_declares_valid_seeds(change, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(PROFILES["smoke"], name="bad", **change)


# ---------------------------------------------------------------- a profile that needs a GPU (#20)

def test_gpu_profiles_are_refused_without_cuda_unless_the_cpu_is_asked_for(monkeypatch, no_training):
    assert {name for name, p in PROFILES.items() if p.needs_gpu} == {"gpu", "paper"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("gpu", "paper"):
        with pytest.raises(ConfigError) as refused:
            chapter(profile=name, show_note=False)
        assert str(refused.value) == (
            f"profile {name} needs a GPU, and no CUDA device is visible here (torch.cuda.is_available() is False); "
            f"to train it on the CPU anyway, ask for the CPU explicitly (device=\"cpu\"; with papermill "
            f"`-p device cpu`), or choose a CPU profile (smoke, cpu, cpu-next)")
        assert chapter(profile=name, device="cpu", show_note=False).device == "cpu"  # asked for: allowed
    assert chapter(profile="smoke", show_note=False).device == "cpu"  # a CPU profile falls back on the CPU
    with pytest.raises(ConfigError, match="device 'cuda' was asked for, but no CUDA device is visible here"):
        chapter(profile="smoke", device="cuda", show_note=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert chapter(profile="gpu", show_note=False).device == "cuda"
    with pytest.raises(ConfigError, match=r"device 'cuda:1' was asked for, but only 1 CUDA device\(s\) are visible"):
        resolve_device("gpu", "cuda:1")


def test_auto_takes_the_measured_precision_and_layout(monkeypatch, fashion_mnist_available):
    asked = []

    def measured(device, arch, input_shape, num_classes, batch_size, distill=False, log=print):
        asked.append((arch, input_shape, num_classes, batch_size, distill))
        return dict(precision="fp32", channels_last=False)

    monkeypatch.setattr("bannb.study.profiles.auto_settings", measured)
    config = make_config("cpu", precision="auto")
    assert (config.precision, config.channels_last) == ("fp32", False)
    assert asked == [("wrn-16-1", (1, 28, 28), 10, PROFILES["cpu"].batch_size, False)]
    # an explicit layout wins over the measured one; the book's pinned precision never asks
    assert make_config("cpu", precision="auto", channels_last=True).channels_last is True
    make_config("cpu")
    assert len(asked) == 2


def test_the_next_cpu_book_shares_every_run_the_cpu_book_has():
    """The staging profile of the next cold cpu book differs from `cpu` in its seeds alone: every run of the cpu
    plan is a run of its plan (the same config, hence the same id), so nothing recorded is trained again."""
    from bannb.study.chapters import BOOK_PLAN_CHAPTERS, chapter_plan
    current, following = PROFILES["cpu"], PROFILES["cpu-next"]
    assert following.staging_for == "cpu" and not following.committed
    assert set(current.seeds) < set(following.seeds) and len(following.seeds) >= 20
    assert set(current.secondary_seeds) < set(following.secondary_seeds) and len(following.secondary_seeds) >= 5
    for chapter in ("03_teachers", "05_cwtm"):  # chapter 5's plan holds chapter 4's central chains
        assert {c.run_id for c in chapter_plan(chapter, "cpu")} <= {c.run_id for c in chapter_plan(chapter, "cpu-next")}
    assert set(BOOK_PLAN_CHAPTERS) >= {"02_gradient", "07_ensembles"}
