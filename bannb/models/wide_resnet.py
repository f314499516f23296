"""Wide Residual Networks (Zagoruyko & Komodakis 2016), the CIFAR variant: the paper's Table 1 and 3 teachers."""
from __future__ import annotations

from torch import nn

from bannb.errors import ConfigError
from bannb.models.layers import PreActBasicUnit, StagedNet, check_fraction, check_int, conv3x3


def wide_resnet_units_per_group(depth: int) -> int:
    """Basic units per group, n, from the WRN paper's depth convention depth = 6n + 4."""
    check_int("depth", depth, minimum=10)
    if (depth - 4) % 6 != 0:
        raise ConfigError(
            f"Wide-ResNet depth must be 6n+4 (10, 16, 22, 28, 40, ...), got {depth}"
        )
    return (depth - 4) // 6


def wide_resnet(depth: int, widen_factor: int, dropout: float = 0.0, in_channels: int = 3,
                num_classes: int = 10) -> StagedNet:
    """WRN-depth-widen_factor: a 16-channel stem, then three groups of pre-activation basic units
    with widths 16k, 32k, 64k and strides 1, 2, 2, then BN-ReLU-pool-Linear.

    `dropout` sits between the two convs of every unit; the WRN paper's CIFAR setting is 0.3, which
    callers pass explicitly.
    """
    units = wide_resnet_units_per_group(depth)
    check_int("widen_factor", widen_factor)
    check_fraction("dropout", dropout, 0.0, 1.0, low_open=False, high_open=True)
    check_int("in_channels", in_channels)
    check_int("num_classes", num_classes)

    widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
    strides = [1, 2, 2]
    stages = []
    channels = 16
    for width, stride in zip(widths, strides):
        group = [PreActBasicUnit(channels, width, stride, dropout)]
        group += [PreActBasicUnit(width, width, 1, dropout) for _ in range(units - 1)]
        stages.append(nn.Sequential(*group))
        channels = width
    return StagedNet(
        stem=conv3x3(in_channels, 16),
        stages=stages,
        downsamples=[nn.Identity() for _ in stages],  # the strided first unit of each group down-samples
        num_features=channels,
        num_classes=num_classes,
    )
