"""Architectures by name: the paper's networks (and small CPU-sized relatives), plus parametric names.

A name fixes an architecture; `create_model` overrides may only change what the name does not say
(dropout, compression, ...), so a run config that records the name and overrides rebuilds the model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from bannb.errors import ConfigError, unknown_choice
from bannb.models.densenet import densenet_bc
from bannb.models.linear import linear_classifier
from bannb.models.preact_resnet import dense_res_student, preact_resnet
from bannb.models.wide_resnet import wide_resnet


@dataclass(frozen=True)
class Family:
    name: str
    constructor: Callable[..., nn.Module]
    options: tuple[str, ...]  # keywords a caller may override; the rest come from the model's name
    pattern: re.Pattern
    pattern_help: str
    parse: Callable[[re.Match], dict]
    # what the network reads: "image" (built from in_channels and num_classes) or "text" (a language model, whose
    # classes are its vocabulary; `bannb.models.lstm_lm` registers that family from its own file)
    modality: str = "image"


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text else value


FAMILIES = {
    family.name: family
    for family in [
        Family(
            "wide_resnet", wide_resnet, ("dropout",),
            re.compile(r"wrn-(\d+)-(\d+)"), "wrn-DEPTH-WIDEN",
            lambda m: dict(depth=int(m[1]), widen_factor=int(m[2])),
        ),
        Family(
            "densenet", densenet_bc, ("compression", "bottleneck_width", "drop_rate", "memory_efficient"),
            re.compile(r"densenet-bc-(\d+)-(\d+)"), "densenet-bc-DEPTH-GROWTH",
            lambda m: dict(depth=int(m[1]), growth=int(m[2])),
        ),
        Family(
            # Table 4's students: a DenseNet-BC whose transition convs output given channel counts
            # (see densenet_depth_variant and densenet_compression_variant).
            "densenet_variant", densenet_bc, ("bottleneck_width", "drop_rate", "memory_efficient"),
            re.compile(r"densenet-bc-(\d+)-(\d+)-t(\d+)-(\d+)"), "densenet-bc-DEPTH-GROWTH-tCHANNELS1-CHANNELS2",
            lambda m: dict(depth=int(m[1]), growth=int(m[2]), transition_channels=(int(m[3]), int(m[4]))),
        ),
        Family(
            "linear", linear_classifier, (),
            re.compile(r"linear-(\d+)"), "linear-IMAGESIZE",
            lambda m: dict(image_size=int(m[1])),
        ),
        Family(
            "preact_resnet", preact_resnet, (),
            re.compile(r"preresnet-(\d+)"), "preresnet-DEPTH",
            lambda m: dict(depth=int(m[1])),
        ),
        Family(
            "res_student", dense_res_student, ("compression",),
            re.compile(r"res-student-(\d+)-(\d+)-(wide|bottleneck)-(\d+)-(\d+(?:\.\d+)?)"),
            "res-student-TEACHERDEPTH-TEACHERGROWTH-{wide|bottleneck}-UNITS-RATIO",
            lambda m: dict(teacher_depth=int(m[1]), teacher_growth=int(m[2]), block=m[3],
                           units=int(m[4]), ratio=_number(m[5])),
        ),
    ]
}


def register_family(family: Family) -> Family:
    FAMILIES[family.name] = family
    return family


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    arguments: dict = field(default_factory=dict)
    note: str = ""  # the paper's name for it, or why it is here


REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, family: str, note: str = "", **arguments) -> ModelSpec:
    spec = ModelSpec(name, family, arguments, note)
    REGISTRY[name] = spec
    return spec


# Table 1 and 3 teachers, and smaller WRNs for CPU runs. Dropout (0.3 in the WRN paper) is an override.
register_model("wrn-16-1", "wide_resnet", depth=16, widen_factor=1, note="CPU-sized")
register_model("wrn-16-2", "wide_resnet", depth=16, widen_factor=2, note="CPU-sized")
register_model("wrn-16-4", "wide_resnet", depth=16, widen_factor=4)
register_model("wrn-28-1", "wide_resnet", depth=28, widen_factor=1, note="Wide-ResNet-28-1, Table 1: 0.38M")
register_model("wrn-28-2", "wide_resnet", depth=28, widen_factor=2, note="Wide-ResNet-28-2, Table 1: 1.48M")
register_model("wrn-28-5", "wide_resnet", depth=28, widen_factor=5, note="Wide-ResNet-28-5, Table 1: 9.16M")
register_model("wrn-28-10", "wide_resnet", depth=28, widen_factor=10, note="Wide-ResNet-28-10, Table 1: 36M")

# Table 1 and 2 teachers; 40-12 and 100-12 are Huang et al.'s small DenseNet-BCs.
register_model("densenet-bc-40-12", "densenet", depth=40, growth=12, note="CPU-sized")
register_model("densenet-bc-100-12", "densenet", depth=100, growth=12, note="Huang et al.: 0.8M")
register_model("densenet-bc-112-33", "densenet", depth=112, growth=33, note="DenseNet-112-33, Table 1: 6.3M")
register_model("densenet-bc-90-60", "densenet", depth=90, growth=60, note="DenseNet-90-60, Table 1: 16.1M")
register_model("densenet-bc-80-80", "densenet", depth=80, growth=80, note="DenseNet-80-80, Table 1: 22.4M")
register_model("densenet-bc-80-120", "densenet", depth=80, growth=120, note="DenseNet-80-120, Table 1: 50.4M")

# Table 4 analogues around DenseNet-BC-22-12 (transitions to 30 and 33 channels), small enough for CPU runs.
register_model("densenet-bc-40-6-t30-33", "densenet_variant", depth=40, growth=6, transition_channels=(30, 33),
               note="CPU-sized: 2×Depth of DenseNet-BC-22-12, same hidden-state size after each transition")

# The floor chapter 8's networks must beat: logistic regression on Fashion-MNIST's 28×28 pixels.
register_model("linear-28", "linear", image_size=28, note="softmax regression on the pixels")

register_model("preresnet-20", "preact_resnet", depth=20, note="CPU-sized")
register_model("preresnet-56", "preact_resnet", depth=56)
register_model("preresnet-164", "preact_resnet", depth=164, note="He et al. 2016: 1.7M")
register_model("preresnet-1001", "preact_resnet", depth=1001, note="Pre-activation ResNet-1001, Table 5: 10.2M")

# Table 5: residual students of DenseNet-90-60 (units per block - width ratio to the block output).
register_model("res-student-90-60-bottleneck-14-0.5", "res_student", teacher_depth=90, teacher_growth=60,
               block="bottleneck", units=14, ratio=0.5, note="BAN-Pre-ResNet-14-0.5, Table 5: 7.3M")
register_model("res-student-90-60-bottleneck-14-1", "res_student", teacher_depth=90, teacher_growth=60,
               block="bottleneck", units=14, ratio=1, note="BAN-Pre-ResNet-14-1, Table 5: 17.7M")
register_model("res-student-90-60-wide-1-1", "res_student", teacher_depth=90, teacher_growth=60,
               block="wide", units=1, ratio=1, note="BAN-Wide-ResNet-1-1, Table 5: 20.9M")
register_model("res-student-90-60-wide-2-1", "res_student", teacher_depth=90, teacher_growth=60,
               block="wide", units=2, ratio=1, note="BAN-Match-Wide-ResNet-2-1, Table 5: 43.1M")
register_model("res-student-90-60-wide-4-0.5", "res_student", teacher_depth=90, teacher_growth=60,
               block="wide", units=4, ratio=0.5, note="BAN-Wide-ResNet-4-0.5, Table 5: 24.3M")
register_model("res-student-90-60-wide-4-1", "res_student", teacher_depth=90, teacher_growth=60,
               block="wide", units=4, ratio=1, note="BAN-Wide-ResNet-4-1, Table 5: 87.3M")
# The same construction around DenseNet-BC-40-12, small enough for CPU runs.
register_model("res-student-40-12-wide-1-1", "res_student", teacher_depth=40, teacher_growth=12,
               block="wide", units=1, ratio=1, note="CPU-sized")
register_model("res-student-40-12-wide-2-0.5", "res_student", teacher_depth=40, teacher_growth=12,
               block="wide", units=2, ratio=0.5, note="CPU-sized")
register_model("res-student-40-12-bottleneck-2-1", "res_student", teacher_depth=40, teacher_growth=12,
               block="bottleneck", units=2, ratio=1, note="CPU-sized")


def list_models(modality: str | None = None) -> list[str]:
    """The registered names, in registration order (families grouped, small to large); with `modality`
    ("image" or "text"), only the networks that read it."""
    return [name for name, spec in REGISTRY.items()
            if modality is None or FAMILIES[spec.family].modality == modality]


def _unknown_architecture(name) -> ConfigError:
    patterns = ", ".join(family.pattern_help for family in FAMILIES.values())
    return ConfigError(f"{unknown_choice('architecture', name, list_models())}; "
                       f"names of the forms {patterns} are also accepted when their numbers are valid")


def resolve(name: str) -> ModelSpec:
    """The spec for a registered name, or one parsed from a parametric name."""
    if not isinstance(name, str):
        raise _unknown_architecture(name)
    if name in REGISTRY:
        return REGISTRY[name]
    for family in FAMILIES.values():
        match = family.pattern.fullmatch(name)
        if match:
            return ModelSpec(name, family.name, family.parse(match))
    raise _unknown_architecture(name)


def model_family(name: str) -> str:
    """'wide_resnet', 'densenet', 'densenet_variant', 'linear', 'preact_resnet', 'res_student' or 'lstm_lm'."""
    return resolve(name).family


def create_model(name: str, in_channels: int = 3, num_classes: int = 10, **overrides) -> nn.Module:
    """Build the named architecture for `in_channels`-channel images and `num_classes` classes (a language model:
    a vocabulary of `num_classes` tokens; it ignores `in_channels`).

    `overrides` set the options the name leaves open (see `FAMILIES[...].options`), e.g.
    `create_model("wrn-28-10", dropout=0.3)`.
    """
    spec = resolve(name)
    family = FAMILIES[spec.family]
    unknown = sorted(set(overrides) - set(family.options))
    if unknown:
        fixed = sorted(set(unknown) & set(spec.arguments))
        reason = f" ({', '.join(fixed)} fixed by the name)" if fixed else ""
        takes = ", ".join(family.options) if family.options else "no options"
        raise ConfigError(
            f"{name!r} does not take {', '.join(unknown)}{reason}; a {family.name} model takes: {takes}"
        )
    return family.constructor(**spec.arguments, **overrides, in_channels=in_channels, num_classes=num_classes)


def count_parameters(model: nn.Module) -> int:
    """All parameters, trainable or not (tied ones once). Works on models built on the meta device."""
    return sum(p.numel() for p in model.parameters())


def parameter_count(name: str, in_channels: int = 3, num_classes: int = 10) -> int:
    """The parameters of the named network (built on the meta device: no weights are allocated)."""
    with torch.device("meta"):
        return count_parameters(create_model(name, in_channels=in_channels, num_classes=num_classes))
