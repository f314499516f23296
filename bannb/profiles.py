"""Profiles: named sets of defaults. A profile sets defaults; every parameter can still be given."""
from __future__ import annotations

from .errors import ConfigError, unknown_choice
from .distributed import world_size
from .learner import resolve_precision
from .models import model_family
from .runs import RunConfig

# The Wide-ResNet reference recipe the paper says it follows (an assumption: the paper gives no epochs, lr or batch):
# SGD, momentum 0.9, lr 0.1 ×0.2 at 30%, 60%, 80% of training, weight decay 5e-4, batch 128, pad-4 crop + flip.
RECIPE = dict(lr=0.1, momentum=0.9, weight_decay=5e-4, schedule="step", milestones=(0.3, 0.6, 0.8), gamma=0.2, batch_size=128,
              augment=True)

PROFILES = {
    # Seconds per run, on a small subset: exercises every code path; its numbers mean nothing.
    "smoke": dict(RECIPE, dataset="fashion-mnist", arch="wrn-16-1", epochs=2, batch_size=64,
                  train_size=2048, valid_size=500, test_size=1000),
    # The default: real results on the full Fashion-MNIST with small nets, on a laptop-class CPU.
    "cpu": dict(RECIPE, dataset="fashion-mnist", arch="wrn-16-1", epochs=5, valid_size=5000),
    # The paper's scale, for GPUs: CIFAR-100, the paper's networks, 200 epochs, dropout 0.3 in Wide-ResNets.
    "paper": dict(RECIPE, dataset="cifar100", arch="densenet-bc-90-60", epochs=200, valid_size=5000, wrn_dropout=0.3),
}


def profile_defaults(profile: str) -> dict:
    if profile not in PROFILES:
        raise unknown_choice("profile", profile, PROFILES)
    return dict(PROFILES[profile])


def make_config(profile: str = "cpu", device: str = "cpu", precision: str = "auto", **overrides) -> RunConfig:
    """A run config: the profile's defaults, then every override that is not None."""
    values = profile_defaults(profile)
    wrn_dropout = values.pop("wrn_dropout", 0.0)
    values.update({key: value for key, value in overrides.items() if value is not None})
    if "dropout" not in overrides or overrides["dropout"] is None:
        values["dropout"] = wrn_dropout if model_family(values["arch"]) == "wide_resnet" else 0.0
    values["precision"] = resolve_precision(precision, device)
    values.setdefault("processes", world_size())
    try:
        return RunConfig(**values)
    except TypeError as err:
        raise ConfigError(f"bad run parameter: {err}") from err


def default_seeds(profile: str) -> list[int]:
    """The seeds a chapter averages over when its `seeds` parameter is None: [0, 1] at smoke (fast), else [0, 1, 2]."""
    profile_defaults(profile)  # validates the name
    return [0, 1] if profile == "smoke" else [0, 1, 2]
