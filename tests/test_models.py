"""Architectures: parameter counts against the paper, shapes, gradients, and the error messages."""
import math

import pytest
import torch

from bannb.errors import ConfigError
from bannb.models import (
    count_parameters,
    create_model,
    dense_res_student,
    densenet_bc,
    densenet_bc_param_count,
    densenet_stage_channels,
    list_models,
    model_family,
)
from bannb.models.densenet import DenseLayer, densenet_layers_per_block
from bannb.models.preact_resnet import preact_resnet
from bannb.models.registry import FAMILIES, REGISTRY, resolve
from bannb.models.wide_resnet import wide_resnet
from tests.conftest import meta_count

SMALL_MODELS = [name for name in list_models(modality="image") if meta_count(name) < 1_000_000]


def test_small_models_cover_every_family():
    assert {model_family(name) for name in SMALL_MODELS} == {name for name, family in FAMILIES.items() if family.modality == "image"}


# --- parameter counts ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, paper_millions", [
    ("wrn-28-1", 0.38), ("wrn-28-2", 1.48), ("wrn-28-5", 9.16), ("wrn-28-10", 36.0),
])
def test_wide_resnet_counts_match_table_1(name, paper_millions):
    count = meta_count(name)
    assert abs(count / (paper_millions * 1e6) - 1) < 0.03, count


DENSENET_CONFIGS = [
    dict(depth=40, growth=12),
    dict(depth=100, growth=12),
    dict(depth=112, growth=33),
    dict(depth=90, growth=60),
    dict(depth=80, growth=80),
    dict(depth=80, growth=120),
    dict(depth=40, growth=12, compression=0.7),  # floor(0.7·96) = 67: the rounding path
    dict(depth=22, growth=8, bottleneck_width=2),
    dict(depth=40, growth=12, in_channels=1, num_classes=100),
]


@pytest.mark.parametrize("config", DENSENET_CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_densenet_closed_form_count_equals_model(config):
    with torch.device("meta"):
        model = densenet_bc(**config)
    assert count_parameters(model) == densenet_bc_param_count(**config)


# Standard DenseNet-BC (compression 0.5, bottleneck 4·growth) at CIFAR-10 shape; the paper's figures
# differ (its compression is not stated), so these are regression values, next to the paper's.
PAPER_DENSENETS = {
    # (depth, growth): (ours, paper Table 1)
    (112, 33): (6_892_786, 6.3e6),
    (90, 60): (15_054_010, 16.1e6),
    (80, 80): (20_949_290, 22.4e6),
    (80, 120): (47_045_530, 50.4e6),
}


@pytest.mark.parametrize("depth, growth", list(PAPER_DENSENETS))
def test_paper_densenet_counts(depth, growth, record_property):
    ours, paper = PAPER_DENSENETS[(depth, growth)]
    count = meta_count(f"densenet-bc-{depth}-{growth}")
    print(f"DenseNet-BC-{depth}-{growth}: {count:,} parameters here, {paper / 1e6}M in the paper "
          f"({count / paper - 1:+.1%})")
    record_property(f"densenet-bc-{depth}-{growth}", {"ours": count, "paper": paper})
    assert count == ours == densenet_bc_param_count(depth, growth)
    # "near, not at": a guard against a structural change that the regression value alone would hide
    assert abs(count / paper - 1) < 0.10


def test_densenet_bc_100_12_matches_huang_et_al():
    count = meta_count("densenet-bc-100-12")
    assert count == 769_162
    assert abs(count / 0.77e6 - 1) < 0.01


def test_paper_depths_round_down_like_the_reference_code():
    assert densenet_layers_per_block(100) == 16
    assert densenet_layers_per_block(90) == 14  # 86 / 6 = 14.3
    assert densenet_layers_per_block(80) == 12  # 76 / 6 = 12.7


@pytest.mark.parametrize("name, paper_millions", [("preresnet-1001", 10.2), ("preresnet-164", 1.7)])
def test_preact_resnet_counts(name, paper_millions):
    count = meta_count(name)
    assert abs(count / (paper_millions * 1e6) - 1) < 0.03, count


def test_densenet_stage_channels_by_hand():
    # DenseNet-BC-40-12: 6 layers per block, stem 2·12 = 24 channels.
    # block 1: 24 + 6·12 = 96 → transition floor(96/2) = 48
    # block 2: 48 + 72 = 120 → 60
    # block 3: 60 + 72 = 132, no transition
    assert densenet_stage_channels(40, 12) == [48, 60, 132]
    # compression 0.7: 96 → 67; 67 + 72 = 139 → 97; 97 + 72 = 169
    assert densenet_stage_channels(40, 12, compression=0.7) == [67, 97, 169]


# --- residual students (Table 5) ------------------------------------------------------------------

STUDENTS = [name for name in list_models() if model_family(name) == "res_student"]


def teacher_name(student):
    spec = resolve(student)
    return f"densenet-bc-{spec.arguments['teacher_depth']}-{spec.arguments['teacher_growth']}"


@pytest.mark.parametrize("student", STUDENTS)
def test_student_keeps_teacher_stem_and_output_layer(student):
    with torch.device("meta"):
        model, teacher = create_model(student, num_classes=100), create_model(teacher_name(student), num_classes=100)
    assert model.stem.weight.shape == teacher.stem.weight.shape
    assert model.head.fc.weight.shape == teacher.head.fc.weight.shape
    assert model.head.fc.bias.shape == teacher.head.fc.bias.shape


def transition_outputs(densenet, x):
    """The DenseNet's transition conv outputs (blocks 1, 2) and last block output, read by forward hooks."""
    outputs = []
    watched = [densenet.stages[0][1], densenet.stages[1][1], densenet.stages[2]]
    hooks = [m.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for m in watched]
    try:
        densenet(x)
    finally:
        for hook in hooks:
            hook.remove()
    return outputs


@pytest.mark.parametrize("student", [s for s in STUDENTS if s in SMALL_MODELS])
@pytest.mark.parametrize("in_channels, size", [(3, 32), (1, 28)])
def test_student_stage_outputs_match_teacher_transitions(student, in_channels, size):
    torch.manual_seed(0)
    model = create_model(student, in_channels=in_channels).eval()
    teacher = create_model(teacher_name(student), in_channels=in_channels).eval()
    x = torch.randn(2, in_channels, size, size)
    with torch.no_grad():
        expected = transition_outputs(teacher, x)
        assert [t.shape for t in teacher.stage_outputs(x)] == [t.shape for t in expected]
        got = model.stage_outputs(x)
    assert [t.shape for t in got] == [t.shape for t in expected]
    assert [t.shape[1] for t in got] == densenet_stage_channels(
        resolve(student).arguments["teacher_depth"], resolve(student).arguments["teacher_growth"])


def test_student_widths_follow_ratio():
    model = dense_res_student(40, 12, units=2, ratio=0.5, block="bottleneck")
    # out = [48, 60, 132]; the last block is read as if compressed: [48, 60, 66] → widths [24, 30, 33],
    # bottleneck inner width w // 4
    last_units = [stage[1] for stage in model.stages]
    assert [unit.conv3.out_channels for unit in last_units] == [24, 30, 33]
    assert [unit.conv1.out_channels for unit in last_units] == [6, 7, 8]
    assert all(stage[0].shortcut is not None and stage[1].shortcut is None for stage in model.stages)


@pytest.mark.parametrize("name, paper_millions", [
    ("res-student-90-60-wide-1-1", 20.9), ("res-student-90-60-wide-2-1", 43.1),
    ("res-student-90-60-wide-4-0.5", 24.3), ("res-student-90-60-wide-4-1", 87.3),
])
def test_wide_students_match_table_5(name, paper_millions):
    with torch.device("meta"):
        count = count_parameters(create_model(name, num_classes=100))
    assert abs(count / (paper_millions * 1e6) - 1) < 0.045, count


# --- forward and backward -------------------------------------------------------------------------

@pytest.mark.parametrize("name", SMALL_MODELS)
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_forward_shapes(name, channels_last):
    for in_channels, size, num_classes in [(1, 28, 10), (3, 32, 100)]:
        if model_family(name) == "linear" and resolve(name).arguments["image_size"] != size:
            continue  # a linear classifier is built for one image size (tested below)
        model = create_model(name, in_channels=in_channels, num_classes=num_classes).eval()
        x = torch.randn(2, in_channels, size, size)
        if channels_last:
            model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
        with torch.no_grad():
            out = model(x)
        assert out.shape == (2, num_classes)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["wrn-16-1", "densenet-bc-40-12", "preresnet-20", "res-student-40-12-bottleneck-2-1"])
def test_backward_gives_finite_grads_everywhere(name):
    torch.manual_seed(0)
    overrides = {"dropout": 0.3} if model_family(name) == "wide_resnet" else {}
    model = create_model(name, in_channels=1, **overrides).train()
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 1, 28, 28)), torch.tensor([1, 7]))
    loss.backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name


def test_memory_efficient_densenet_matches_plain(monkeypatch):
    torch.manual_seed(0)
    plain = densenet_bc(22, 6, in_channels=1).double().train()
    efficient = densenet_bc(22, 6, in_channels=1, memory_efficient=True).double().train()
    efficient.load_state_dict(plain.state_dict())

    bottleneck_calls = 0
    original = DenseLayer._bottleneck

    def counting(self, features, update_running_stats):
        nonlocal bottleneck_calls
        bottleneck_calls += 1
        return original(self, features, update_running_stats)

    monkeypatch.setattr(DenseLayer, "_bottleneck", counting)
    x = torch.randn(2, 1, 28, 28, dtype=torch.float64)
    outputs = []
    for model in (plain, efficient):
        bottleneck_calls = 0
        out = model(x)
        out.square().sum().backward()
        outputs.append(out)
        layers = sum(isinstance(m, DenseLayer) for m in model.modules())
        # the checkpointed path recomputes each layer's bottleneck once in backward
        assert bottleneck_calls == layers * (2 if model is efficient else 1)

    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-10, atol=1e-12)
    for (name, p), (_, q) in zip(plain.named_parameters(), efficient.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-12, msg=name)
    # the recomputation must not move the BN running averages a second time
    for (name, a), (_, b) in zip(plain.named_buffers(), efficient.named_buffers()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)


# --- registry and errors --------------------------------------------------------------------------

def test_registered_names_agree_with_their_patterns():
    for name, spec in REGISTRY.items():
        match = FAMILIES[spec.family].pattern.fullmatch(name)
        assert match, name
        assert FAMILIES[spec.family].parse(match) == spec.arguments, name


def test_parametric_names():
    assert meta_count("wrn-10-1") > 0
    assert model_family("res-student-40-12-wide-3-0.25") == "res_student"
    model = create_model("res-student-40-12-wide-3-0.25", in_channels=1)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_overrides_reach_the_constructor():
    model = create_model("wrn-16-1", dropout=0.3)
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.3 for m in model.modules())
    assert meta_count("densenet-bc-40-12", compression=0.7) == densenet_bc_param_count(40, 12, 0.7)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError) as error:
        create_model("resnet-50")
    message = str(error.value)
    assert "resnet-50" in message
    for name in list_models():
        assert name in message
    assert "wrn-DEPTH-WIDEN" in message
    with pytest.raises(ConfigError):
        model_family("vgg-16")


def test_unknown_override_names_the_valid_ones():
    with pytest.raises(ConfigError, match="dropout") as error:
        create_model("wrn-16-1", drop_rate=0.2)
    assert "drop_rate" in str(error.value)
    with pytest.raises(ConfigError, match="compression, bottleneck_width, drop_rate, memory_efficient"):
        create_model("densenet-bc-40-12", dropout=0.2)
    with pytest.raises(ConfigError, match="fixed by the name"):
        create_model("preresnet-20", depth=56)


@pytest.mark.parametrize("build", [
    lambda: wide_resnet(27, 1),
    lambda: wide_resnet(4, 1),
    lambda: densenet_bc(7, 12),
    lambda: preact_resnet(21),
    lambda: preact_resnet(47),  # 9n+2 but below 164, and not 6n+2
    lambda: create_model("wrn-27-2"),
    lambda: create_model("preresnet-100"),
    lambda: create_model("densenet-bc-6-12"),
    lambda: dense_res_student(7, 12, units=1, ratio=1),
], ids=["wrn-27", "wrn-4", "densenet-7", "preresnet-21", "preresnet-47", "name-wrn-27", "name-preresnet-100",
        "name-densenet-6", "student-of-densenet-7"])
def test_invalid_depth_is_config_error(build):
    with pytest.raises(ConfigError, match="depth"):
        build()


@pytest.mark.parametrize("build", [
    lambda: dense_res_student(40, 12, units=1, ratio=1, block="dense"),
    lambda: dense_res_student(40, 12, units=0, ratio=1),
    lambda: dense_res_student(40, 12, units=1, ratio=0),
    lambda: wide_resnet(16, 0),
    lambda: wide_resnet(16, 1, dropout=1.0),
    lambda: densenet_bc(40, 12, compression=0.0),
    lambda: create_model("wrn-16-1", num_classes=0),
])
def test_invalid_arguments_are_config_errors(build):
    with pytest.raises(ConfigError):
        build()


def test_count_parameters_counts_every_tensor():
    model = create_model("wrn-16-1")
    assert count_parameters(model) == sum(math.prod(p.shape) for p in model.parameters())


def test_linear_classifier_is_one_affine_map_of_the_pixels():
    model = create_model("linear-28", in_channels=1, num_classes=10)
    assert count_parameters(model) == 28 * 28 * 10 + 10
    images = torch.randn(3, 1, 28, 28)
    expected = images.flatten(1) @ model.fc.weight.T + model.fc.bias
    assert torch.allclose(model(images), expected)
    with pytest.raises(ValueError, match=r"linear-28 takes 28×28 images, got \(32, 32\); use linear-32"):
        model(torch.randn(1, 1, 32, 32))
