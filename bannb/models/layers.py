"""Building blocks shared by the model families: the pre-activation units, the classifier head,
the stem → stages → head skeleton, weight init, and argument checks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bannb.errors import ConfigError


def check_int(name: str, value, minimum: int = 1) -> int:
    # bool is an int subclass; `depth=True` is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_fraction(name: str, value, low: float, high: float, *, low_open: bool, high_open: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    # No bias: every conv here is followed (directly or after the residual add) by BatchNorm.
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class NormActConv(nn.Sequential):
    """BN-ReLU-conv: DenseNet's transition conv and the residual students' stage-closing conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.act = nn.ReLU(inplace=True)
        self.conv = conv1x1(in_channels, out_channels) if kernel_size == 1 else conv3x3(in_channels, out_channels)


class PreActBasicUnit(nn.Module):
    """Pre-activation basic unit (BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3), the Wide-ResNet block."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dropout: float = 0.0,
                 projection: bool = False):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.norm2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = conv3x3(out_channels, out_channels)
        needs_projection = projection or stride != 1 or in_channels != out_channels
        self.shortcut = conv1x1(in_channels, out_channels, stride) if needs_projection else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = F.relu(self.norm1(x))
        # A projection sees the pre-activated input, as in He et al. 2016 and Zagoruyko & Komodakis.
        shortcut = x if self.shortcut is None else self.shortcut(preact)
        out = self.conv1(preact)
        out = self.conv2(self.dropout(F.relu(self.norm2(out))))
        return out + shortcut


class PreActBottleneckUnit(nn.Module):
    """Pre-activation bottleneck unit (He et al. 2016): 1x1 (mid) → 3x3 (mid, strided) → 1x1 (out)."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int = 1,
                 projection: bool = False):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv1x1(in_channels, mid_channels)
        self.norm2 = nn.BatchNorm2d(mid_channels)
        self.conv2 = conv3x3(mid_channels, mid_channels, stride)
        self.norm3 = nn.BatchNorm2d(mid_channels)
        self.conv3 = conv1x1(mid_channels, out_channels)
        needs_projection = projection or stride != 1 or in_channels != out_channels
        self.shortcut = conv1x1(in_channels, out_channels, stride) if needs_projection else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = F.relu(self.norm1(x))
        shortcut = x if self.shortcut is None else self.shortcut(preact)
        out = self.conv1(preact)
        out = self.conv2(F.relu(self.norm2(out)))
        out = self.conv3(F.relu(self.norm3(out)))
        return out + shortcut


class ClassifierHead(nn.Module):
    """BN-ReLU-global average pool-Linear. Adaptive pooling lets 28x28 and 32x32 inputs share a model."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.norm(x)))
        return self.fc(torch.flatten(x, 1))


class StagedNet(nn.Module):
    """stem → stages, each optionally followed by a down-sampling step → classifier head.

    Every family in this package has this shape, so one `stage_outputs` serves them all, and a
    residual student can be checked stage by stage against its DenseNet teacher.
    """

    def __init__(self, stem: nn.Module, stages: list[nn.Module], downsamples: list[nn.Module],
                 num_features: int, num_classes: int):
        super().__init__()
        if len(stages) != len(downsamples):
            raise ValueError("one down-sampling step (nn.Identity for none) per stage")
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.downsamples = nn.ModuleList(downsamples)
        self.head = ClassifierHead(num_features, num_classes)
        self.num_features = num_features
        self.num_classes = num_classes
        self.apply(init_weights)

    def stage_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's output before its down-sampling step (for a DenseNet: after the transition conv)."""
        outputs = []
        x = self.stem(x)
        for stage, downsample in zip(self.stages, self.downsamples):
            x = stage(x)
            outputs.append(x)
            x = downsample(x)
        return outputs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage, downsample in zip(self.stages, self.downsamples):
            x = downsample(stage(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def init_weights(module: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) convs, unit-scale BN, zero biases: the init of the WRN,
    DenseNet and pre-activation ResNet reference code."""
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        if module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
