"""Profiles: one declaration per scale of the book, its precision of record, the note it prints (computed),
and the chapter context built on it."""
import dataclasses

import pytest

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
)
from tests.conftest import meta_count


def test_registry_is_a_dict_of_profiles_by_name():
    assert set(PROFILES) == {"smoke", "cpu", "paper", "gpu"} and DEFAULT_PROFILE == "cpu"
    assert all(isinstance(p, Profile) and p.name == name for name, p in PROFILES.items())
    assert get_profile("cpu") is PROFILES["cpu"] and get_profile(PROFILES["cpu"]) is PROFILES["cpu"]
    with pytest.raises(ConfigError, match="unknown profile 'laptop'; valid profiles are: cpu, gpu, paper, smoke"):
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
    tiny = dataclasses.replace(PROFILES["smoke"], name="tiny", epochs=1, seeds=(4,))
    monkeypatch.setitem(PROFILES, "tiny", tiny)
    assert make_config("tiny").epochs == 1 and chapter_seeds("tiny", None) == [4]


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
