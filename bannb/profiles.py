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
    # The paper's Table 1 (CIFAR-10, its Wide-ResNets) on one GPU in about 20 minutes, on CIFAR-10 re-encoded as
    # JPEG (`cifar10-jpeg`: absolute errors are not comparable with published CIFAR-10 figures). Run it on CUDA
    # (precision "auto" resolves to bf16 there), once per network of GPU_TABLE1_ARCHS, seeds 0-2, e.g.
    #   python -m bannb ban --profile gpu --device cuda --generations 1 --arch wrn-28-1 --seeds 0 1 2
    # Batch 512 with the lr scaled linearly (0.1 × 512/128), fastai's one-cycle to converge in few epochs, no
    # dropout (the paper's WRN dropout slows fitting the training set, which a short schedule cannot afford).
    # Sized without a GPU measurement (none was lent), from FLOPs: forward 0.43 GFLOP/image for WRN-28-2 and
    # 0.11 for WRN-28-1 (torch's FLOP counter, 2 per multiply-add); a training step is ~3 forwards, a BAN
    # student's step 4 (the teacher's forward on the same batch). Assumed throughput with bf16, channels-last,
    # the data resident on the GPU and batch 512 on one H100: WRN-28-2 20k images/s (≈ 26 TFLOP/s, 3% of the
    # bf16 peak: such narrow convolutions are memory- and launch-bound), WRN-28-1 40k images/s (4× fewer FLOPs
    # but no faster per byte moved); evaluation (5,000 valid + 1,000 probe images per epoch) at 3× those rates.
    # Seconds per epoch for one seed: WRN-28-2 teacher 45,000/20k + 0.1 = 2.35, its student 3.1; WRN-28-1
    # teacher 1.18, its student 1.55: 8.2 s, 24.5 s for three seeds. Fixed costs (decoding the archive once,
    # start-up, cuDNN autotuning, each run's final test and training-set evaluations) ≈ 100 s. 30 epochs:
    # 24.5 × 30 + 100 ≈ 840 s ≈ 14 min (18 min at 15k/30k images/s), leaving room within 20 minutes. Re-plan
    # from the first measured epoch: epochs ≈ (1200 s − 100 s) / (3 × the four runs' seconds per epoch).
    "gpu": dict(RECIPE, dataset="cifar10-jpeg", arch="wrn-28-2", epochs=30, batch_size=512, lr=0.4,
                schedule="one-cycle", valid_size=5000),
}

# The networks of the paper's Table 1 the `gpu` profile trains (its arch default is the last one).
GPU_TABLE1_ARCHS = ("wrn-28-1", "wrn-28-2")


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
