"""Pre-activation ResNets: He et al. 2016 ("Identity Mappings") for CIFAR, and the paper's Table 5
residual students of a DenseNet teacher."""
from __future__ import annotations

from torch import nn

from bannb.errors import ConfigError
from bannb.models.densenet import densenet_stage_channels
from bannb.models.layers import (
    NormActConv,
    PreActBasicUnit,
    PreActBottleneckUnit,
    StagedNet,
    check_fraction,
    check_int,
    conv3x3,
)

STUDENT_BLOCKS = ("wide", "bottleneck")


def preact_resnet_layout(depth: int) -> tuple[str, int]:
    """(unit kind, units per stage) from He et al.'s depth conventions: 9n+2 with bottleneck units
    for the deep nets (164, 1001), 6n+2 with basic units otherwise (20, 56, 110)."""
    check_int("depth", depth, minimum=8)
    if depth >= 164 and (depth - 2) % 9 == 0:
        return "bottleneck", (depth - 2) // 9
    if (depth - 2) % 6 == 0:
        return "basic", (depth - 2) // 6
    raise ConfigError(
        f"pre-activation ResNet depth must be 6n+2 (basic units: 20, 32, 56, 110, ...) or 9n+2 and "
        f">= 164 (bottleneck units: 164, 1001, ...), got {depth}"
    )


def preact_resnet(depth: int, in_channels: int = 3, num_classes: int = 10) -> StagedNet:
    """Pre-ResNet-depth for CIFAR: a 16-channel stem, three stages of strides 1, 2, 2, then
    BN-ReLU-pool-Linear. Basic units have widths 16/32/64; bottleneck units have inner widths
    16/32/64 and outputs 64/128/256 (expansion 4). Pre-ResNet-1001 is Table 5's 10.2M baseline."""
    kind, units = preact_resnet_layout(depth)
    check_int("in_channels", in_channels)
    check_int("num_classes", num_classes)

    widths = [16, 32, 64]
    strides = [1, 2, 2]
    stages = []
    channels = 16
    for width, stride in zip(widths, strides):
        if kind == "bottleneck":
            out = 4 * width
            stage = [PreActBottleneckUnit(channels, width, out, stride)]
            stage += [PreActBottleneckUnit(out, width, out) for _ in range(units - 1)]
        else:
            out = width
            stage = [PreActBasicUnit(channels, out, stride)]
            stage += [PreActBasicUnit(out, out) for _ in range(units - 1)]
        stages.append(nn.Sequential(*stage))
        channels = out
    return StagedNet(
        stem=conv3x3(in_channels, 16),
        stages=stages,
        downsamples=[nn.Identity() for _ in stages],  # the strided first unit of each stage down-samples
        num_features=channels,
        num_classes=num_classes,
    )


def student_stage_widths(teacher_depth: int, teacher_growth: int, ratio: float,
                         compression: float = 0.5) -> list[int]:
    """Residual width of each student stage: ratio × the teacher's channels after a transition conv, at least 1.

    The last dense block has no transition; its width is taken as if it had one (compression × its
    output). With that reading the wide students' parameter counts land within 4% of all four of the
    paper's Table 5 figures (21.7/43.8/24.8/88.1M against 20.9/43.1/24.3/87.3M on CIFAR-100); with the
    block's full output they would be 2–2.3× the paper's.
    """
    check_fraction("ratio", ratio, 0.0, float("inf"), low_open=True, high_open=True)
    stage_channels = densenet_stage_channels(teacher_depth, teacher_growth, compression)
    reference = stage_channels[:-1] + [int(compression * stage_channels[-1])]
    return [max(1, round(ratio * channels)) for channels in reference]


def dense_res_student(teacher_depth: int, teacher_growth: int, units: int, ratio: float,
                      block: str = "wide", compression: float = 0.5, in_channels: int = 3,
                      num_classes: int = 10) -> StagedNet:
    """A residual student of DenseNet-BC-teacher_depth-teacher_growth (the paper's Table 5).

    The paper: "Students keep the teacher's first convolution and output layer shapes; each dense
    block is replaced by residual (wide or bottleneck) blocks whose output matches the dense block's
    output after its 1×1 transition convolution, before down-sampling." It gives no more detail, so
    this is our reading:

    - stem: conv3x3 in_channels → 2·growth, as the teacher's;
    - stage i (i = 1..3): `units` pre-activation residual units of width w_i = max(1, round(ratio·out_i)),
      where out_i = densenet_stage_channels(teacher)[i] is the teacher's channels after block i's
      transition conv (for the last stage, compression × block 3's output: see `student_stage_widths`). "wide" units are basic units (two
      3x3 convs, the Wide-ResNet block); "bottleneck" units are 1x1 (w/4) → 3x3 (w/4) → 1x1 (w), the
      paper's "Pre-ResNet". The first unit of a stage always has a 1x1 projection shortcut (its input
      is the previous stage's out_{i-1} channels, or the stem's);
    - each stage ends with BN-ReLU-conv1x1 to out_i, mirroring the teacher's transition conv, so the
      stage's output has the teacher's shape; AvgPool2d(2) follows stages 1 and 2, as in the teacher;
    - head: BN-ReLU-pool-Linear(out_3 → num_classes), the teacher's output layer shape.

    No strided convs: all down-sampling is the teacher's average pooling, so stage outputs match the
    teacher's spatially as well.
    """
    if block not in STUDENT_BLOCKS:
        raise ConfigError(f"unknown residual block {block!r}; valid blocks are: {', '.join(STUDENT_BLOCKS)}")
    check_int("units", units)
    check_int("teacher_growth", teacher_growth)
    stage_channels = densenet_stage_channels(teacher_depth, teacher_growth, compression)
    widths = student_stage_widths(teacher_depth, teacher_growth, ratio, compression)
    check_int("in_channels", in_channels)
    check_int("num_classes", num_classes)

    stem_channels = 2 * teacher_growth
    stages, downsamples = [], []
    channels = stem_channels
    for i, (width, out) in enumerate(zip(widths, stage_channels)):
        residual = []
        for u in range(units):
            unit_in = channels if u == 0 else width
            if block == "wide":
                residual.append(PreActBasicUnit(unit_in, width, projection=u == 0))
            else:
                residual.append(PreActBottleneckUnit(unit_in, max(1, width // 4), width, projection=u == 0))
        stages.append(nn.Sequential(*residual, NormActConv(width, out)))
        downsamples.append(nn.AvgPool2d(2) if i < len(widths) - 1 else nn.Identity())
        channels = out
    return StagedNet(
        stem=conv3x3(in_channels, stem_channels),
        stages=stages,
        downsamples=downsamples,
        num_features=channels,
        num_classes=num_classes,
    )
