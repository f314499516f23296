"""DenseNet-BC for CIFAR (Huang et al. 2017): the paper's DenseNet teachers (Tables 1, 2, 4, 5).

The paper names its DenseNets depth-growth (112-33, 90-60, 80-80, 80-120) and does not give the
compression or bottleneck width; the defaults here are standard DenseNet-BC (0.5 and 4·growth).
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from bannb.errors import ConfigError
from bannb.models.layers import NormActConv, StagedNet, check_fraction, check_int, conv1x1, conv3x3

NUM_BLOCKS = 3


def densenet_layers_per_block(depth: int) -> int:
    """Bottleneck layers per dense block: n = (depth - 4) // 6, rounded down.

    Two of the paper's depths, 90 and 80, are not 6n + 4. The authors' DenseNet reference code
    (liuzhuang13/DenseNet, densenet.lua) computes N = (depth - 4) / 3 / 2 and loops `for i = 1, N`,
    which rounds down; we do the same, so 90 → 14 and 80 → 12 layers per block (true depths 88 and 76).
    """
    check_int("depth", depth, minimum=10)
    return (depth - 4) // 6


def _compress(channels: int, compression: float) -> int:
    compressed = math.floor(compression * channels)
    if compressed < 1:
        raise ConfigError(f"compression {compression} leaves no channels out of {channels}")
    return compressed


def _check_transitions(transition_channels) -> tuple[int, ...] | None:
    if transition_channels is None:
        return None
    if not isinstance(transition_channels, (tuple, list)) or len(transition_channels) != NUM_BLOCKS - 1:
        raise ConfigError(f"transition_channels must give the output channels of the {NUM_BLOCKS - 1} transition "
                          f"convs, got {transition_channels!r}")
    for channels in transition_channels:
        check_int("transition channels", channels)
    return tuple(transition_channels)


def densenet_stage_channels(depth: int, growth: int, compression: float = 0.5,
                            transition_channels: tuple[int, int] | None = None) -> list[int]:
    """Channels after each block's transition conv (blocks 1, 2) and out of the last block (block 3).

    `transition_channels`, when given, sets the transition convs' outputs directly (compression is then unused).
    """
    layers = densenet_layers_per_block(depth)
    check_int("growth", growth)
    check_fraction("compression", compression, 0.0, 1.0, low_open=True, high_open=False)
    transitions = _check_transitions(transition_channels)
    channels = 2 * growth
    stage_channels = []
    for block in range(NUM_BLOCKS):
        channels += layers * growth
        if block < NUM_BLOCKS - 1:
            channels = transitions[block] if transitions else _compress(channels, compression)
        stage_channels.append(channels)
    return stage_channels


def densenet_variant_name(depth: int, growth: int, transition_channels) -> str:
    """The registry name of DenseNet-BC-depth-growth whose transition convs output `transition_channels`."""
    first, second = _check_transitions(transition_channels)
    densenet_layers_per_block(depth)
    return f"densenet-bc-{depth}-{growth}-t{first}-{second}"


def densenet_depth_variant(depth: int, growth: int, factor: float, compression: float = 0.5) -> str:
    """Table 4's "k×Depth" student of DenseNet-BC-depth-growth, as a registry name.

    The paper keeps "the same hidden-state size after each spatial transition"; our reading: the student
    has round(factor·n) layers per block (n: the teacher's), a growth rate scaled by n/n' (rounded) so
    each block adds about as many channels as the teacher's, and transition convs that output exactly
    the teacher's channels. The depth is 6n' + 4.
    """
    check_fraction("factor", factor, 0.0, float("inf"), low_open=True, high_open=True)
    layers = densenet_layers_per_block(depth)
    student_layers = round(factor * layers)
    if student_layers < 1:
        raise ConfigError(f"a depth factor of {factor} leaves no layers out of {layers} per block")
    student_growth = max(1, round(growth * layers / student_layers))
    transitions = densenet_stage_channels(depth, growth, compression)[:NUM_BLOCKS - 1]
    return densenet_variant_name(6 * student_layers + 4, student_growth, transitions)


def densenet_compression_variant(depth: int, growth: int, factor: float, compression: float = 0.5) -> str:
    """Table 4's "k×Compr" student of DenseNet-BC-depth-growth: the same depth and growth with the compression
    factor multiplied by `factor` (so the hidden state after each transition changes), as a registry name."""
    check_fraction("factor·compression", factor * compression, 0.0, 1.0, low_open=True, high_open=False)
    transitions = densenet_stage_channels(depth, growth, factor * compression)[:NUM_BLOCKS - 1]
    return densenet_variant_name(depth, growth, transitions)


def densenet_bc_param_count(depth: int, growth: int, compression: float = 0.5, in_channels: int = 3,
                            num_classes: int = 10, bottleneck_width: int = 4,
                            transition_channels: tuple[int, int] | None = None) -> int:
    """Parameters of `densenet_bc(...)` counted from the architecture's definition, without building it.

    A dense layer whose input has c channels holds BN(c) + conv1x1(c→m) + BN(m) + conv3x3(m→g), with
    m = bottleneck_width·g: (2 + m)·c + 2m + 9mg. Its input grows by g per layer, so a block of n
    layers entering with c0 channels holds (2 + m)·(n·c0 + g·n(n-1)/2) + n·(2m + 9mg).
    """
    n = densenet_layers_per_block(depth)
    g = growth
    m = bottleneck_width * g
    stage_channels = densenet_stage_channels(depth, growth, compression, transition_channels)
    block_inputs = [2 * g] + stage_channels[:-1]

    total = in_channels * 2 * g * 9  # stem conv3x3, no bias
    for block, c0 in enumerate(block_inputs):
        total += (2 + m) * (n * c0 + g * n * (n - 1) // 2) + n * (2 * m + 9 * m * g)
        if block < NUM_BLOCKS - 1:
            concatenated = c0 + n * g
            total += 2 * concatenated + concatenated * stage_channels[block]  # transition BN + conv1x1
    final = stage_channels[-1]
    total += 2 * final + final * num_classes + num_classes  # head BN + Linear
    return total


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1(bottleneck_width·growth)-BN-ReLU-conv3x3(growth) over the block's features so far."""

    def __init__(self, in_channels: int, growth: int, bottleneck_width: int, drop_rate: float,
                 memory_efficient: bool):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv1x1(in_channels, bottleneck_width * growth)
        self.norm2 = nn.BatchNorm2d(bottleneck_width * growth)
        self.conv2 = conv3x3(bottleneck_width * growth, growth)
        # Dropout on each new feature map, as torchvision's DenseNet does.
        self.dropout = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.memory_efficient = memory_efficient

    def _bottleneck(self, features: list[torch.Tensor], update_running_stats: bool) -> torch.Tensor:
        x = features[0] if len(features) == 1 else torch.cat(features, 1)  # cat of one tensor would copy it
        if update_running_stats or not self.norm1.training:
            x = self.norm1(x)
        else:
            # The checkpoint's recomputation: same batch statistics, same output, but momentum 0 leaves
            # the running averages where the first pass put them. (Passing the buffers, not None, keeps
            # the saved tensors identical to the first pass's, which the checkpoint verifies.)
            x = F.batch_norm(x, self.norm1.running_mean, self.norm1.running_var, self.norm1.weight,
                             self.norm1.bias, training=True, momentum=0.0, eps=self.norm1.eps)
        return self.conv1(F.relu(x))

    def _checkpointed_bottleneck(self, features: list[torch.Tensor]) -> torch.Tensor:
        # The concatenation and its BN output are the big tensors (they grow with every layer); the
        # checkpoint drops them after the forward pass and recomputes them during backward.
        calls = 0

        def bottleneck(*tensors: torch.Tensor) -> torch.Tensor:
            nonlocal calls
            calls += 1
            return self._bottleneck(list(tensors), update_running_stats=calls == 1)

        return checkpoint(bottleneck, *features, use_reentrant=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and self.training and torch.is_grad_enabled():
            out = self._checkpointed_bottleneck(features)
        else:
            out = self._bottleneck(features, update_running_stats=True)
        out = self.conv2(F.relu(self.norm2(out)))
        return self.dropout(out)


class _AppendToBuffer(torch.autograd.Function):
    """features[:, :c] (already in `buffer`) → features[:, :c + g], by writing `new` into the buffer's next g
    channels: the concatenation without copying the earlier features again.

    The write goes through `buffer.data`, whose version counter is its own: the earlier layers saved views of the
    first c channels for their backward, and those channels are never written again, so the saved values stay
    valid. Backward splits the gradient between the earlier features and the new ones."""

    @staticmethod
    def forward(ctx, features, new, buffer):
        start = features.shape[1]
        ctx.start = start
        buffer.data[:, start:start + new.shape[1]].copy_(new)
        return buffer[:, :start + new.shape[1]]

    @staticmethod
    def backward(ctx, grad):
        return grad[:, :ctx.start], grad[:, ctx.start:], None


class DenseBlock(nn.Module):
    """Each layer reads the concatenation of the block input and all earlier layers' outputs.

    The outputs are kept in a list and concatenated once per layer (and once at the end), rather
    than growing one running tensor, which would copy the block's features again at every layer.
    With `buffered`, every layer's output is written once into a buffer preallocated for the whole
    block, and each layer reads a view of its first channels: no concatenation at all (same parameters,
    same outputs and gradients; tried to bring the memory-bound DenseNets nearer their limit).
    """

    def __init__(self, num_layers: int, in_channels: int, growth: int, bottleneck_width: int,
                 drop_rate: float, memory_efficient: bool, buffered: bool = False):
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth, growth, bottleneck_width, drop_rate, memory_efficient)
            for i in range(num_layers)
        )
        self.out_channels = in_channels + num_layers * growth
        self.buffered = buffered

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.buffered and not self.layers[0].memory_efficient:
            return self._forward_buffered(x)
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, 1)

    def _forward_buffered(self, x: torch.Tensor) -> torch.Tensor:
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        buffer = torch.empty((x.shape[0], self.out_channels, *x.shape[2:]), dtype=x.dtype, device=x.device,
                             memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        features = _AppendToBuffer.apply(x[:, :0], x, buffer)
        for layer in self.layers:
            new = layer([features])
            features = _AppendToBuffer.apply(features, new.to(buffer.dtype), buffer)
        return features


def densenet_bc(depth: int, growth: int, compression: float = 0.5, bottleneck_width: int = 4,
                drop_rate: float = 0.0, memory_efficient: bool = False, in_channels: int = 3,
                num_classes: int = 10, transition_channels: tuple[int, int] | None = None) -> StagedNet:
    """DenseNet-BC-depth-growth: conv3x3 to 2·growth, three dense blocks of (depth-4)//6 bottleneck
    layers, transitions BN-ReLU-conv1x1(floor(compression·c))-AvgPool2d(2) after blocks 1 and 2,
    then BN-ReLU-pool-Linear.

    Stage i of the returned network is dense block i plus its transition conv; the average pooling
    is the stage's down-sampling step, so `stage_outputs` gives the transition conv outputs.
    `memory_efficient` recomputes each layer's concat+BN-ReLU-conv1x1 in backward instead of storing it.
    `transition_channels` sets the two transition convs' outputs directly (Table 4's students: see
    `densenet_depth_variant`); compression is then unused.
    """
    layers = densenet_layers_per_block(depth)
    stage_channels = densenet_stage_channels(depth, growth, compression, transition_channels)
    check_int("bottleneck_width", bottleneck_width)
    check_fraction("drop_rate", drop_rate, 0.0, 1.0, low_open=False, high_open=True)
    if not isinstance(memory_efficient, bool):
        raise ConfigError(f"memory_efficient must be True or False, got {memory_efficient!r}")
    check_int("in_channels", in_channels)
    check_int("num_classes", num_classes)

    stages, downsamples = [], []
    channels = 2 * growth
    for block in range(NUM_BLOCKS):
        dense = DenseBlock(layers, channels, growth, bottleneck_width, drop_rate, memory_efficient)
        if block < NUM_BLOCKS - 1:
            stages.append(nn.Sequential(dense, NormActConv(dense.out_channels, stage_channels[block])))
            downsamples.append(nn.AvgPool2d(2))
        else:
            stages.append(nn.Sequential(dense))  # the head's BN-ReLU closes the last block
            downsamples.append(nn.Identity())
        channels = stage_channels[block]
    return StagedNet(
        stem=conv3x3(in_channels, 2 * growth),
        stages=stages,
        downsamples=downsamples,
        num_features=channels,
        num_classes=num_classes,
    )


def densenet_variants(densenet: str, depth_factors, compression_factors) -> dict:
    """Table 4's students of the DenseNet-BC teacher `densenet` (densenet-bc-DEPTH-GROWTH): {"2×Depth": arch name,
    …, "0.5×Compr": arch name, …}, the names `create_model` builds."""
    match = re.fullmatch(r"densenet-bc-(\d+)-(\d+)", densenet) if isinstance(densenet, str) else None
    if match is None:
        raise ConfigError(f"Table 4's students are built around a DenseNet-BC named densenet-bc-DEPTH-GROWTH, "
                          f"got {densenet!r}")
    depth, growth = int(match[1]), int(match[2])
    variants = {f"{factor:g}×Depth": densenet_depth_variant(depth, growth, factor) for factor in depth_factors}
    variants.update({f"{factor:g}×Compr": densenet_compression_variant(depth, growth, factor)
                     for factor in compression_factors})
    return variants
