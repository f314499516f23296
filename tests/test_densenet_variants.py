"""Table 4's DenseNet students: other depths with the teacher's hidden-state size after each transition,
and other compression factors."""
import pytest
import torch

from bannb.errors import ConfigError
from bannb.models import (
    count_parameters,
    create_model,
    densenet_bc,
    densenet_bc_param_count,
    densenet_compression_variant,
    densenet_depth_variant,
    densenet_stage_channels,
    model_family,
)
from tests.conftest import meta_count


def test_depth_variant_names_by_hand():
    # DenseNet-BC-22-12: 3 layers per block; stem 24 → 24 + 36 = 60 → 30; 30 + 36 = 66 → 33; 33 + 36 = 69
    assert densenet_stage_channels(22, 12) == [30, 33, 69]
    # 2×: 6 layers of growth 12·3/6 = 6, depth 6·6 + 4 = 40; the transitions keep the teacher's 30 and 33
    assert densenet_depth_variant(22, 12, 2) == "densenet-bc-40-6-t30-33"
    assert densenet_depth_variant(22, 12, 3) == "densenet-bc-58-4-t30-33"
    # 0.5×: round(1.5) = 2 layers, growth round(12·3/2) = 18
    assert densenet_depth_variant(22, 12, 0.5) == "densenet-bc-16-18-t30-33"
    assert densenet_depth_variant(90, 60, 2) == "densenet-bc-172-30-t480-660"


def test_compression_variant_is_the_plain_densenet_with_that_compression():
    name = densenet_compression_variant(22, 12, 0.5)
    assert name == "densenet-bc-22-12-t15-12"  # floor(0.25·60) = 15; floor(0.25·(15 + 36)) = 12
    assert model_family(name) == "densenet_variant"
    with torch.device("meta"):
        plain = densenet_bc(22, 12, compression=0.25)
    assert meta_count(name) == count_parameters(plain)
    assert densenet_compression_variant(22, 12, 1.5) == "densenet-bc-22-12-t45-60"


@pytest.mark.parametrize("name", ["densenet-bc-40-6-t30-33", "densenet-bc-16-18-t30-33", "densenet-bc-22-12-t45-60"])
@pytest.mark.parametrize("in_channels, num_classes", [(1, 10), (3, 100)])
def test_closed_form_count_equals_model(name, in_channels, num_classes):
    depth, growth, first, second = (int(part.lstrip("t")) for part in name.split("-")[2:])
    expected = densenet_bc_param_count(depth, growth, in_channels=in_channels, num_classes=num_classes,
                                       transition_channels=(first, second))
    assert meta_count(name, in_channels=in_channels, num_classes=num_classes) == expected


@pytest.mark.parametrize("factor", [0.5, 2, 3])
def test_depth_variant_keeps_the_hidden_state_after_each_transition(factor):
    torch.manual_seed(0)
    teacher = create_model("densenet-bc-22-12", in_channels=1).eval()
    student = create_model(densenet_depth_variant(22, 12, factor), in_channels=1).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        teacher_shapes = [out.shape for out in teacher.stage_outputs(x)]
        student_shapes = [out.shape for out in student.stage_outputs(x)]
        assert student(x).shape == (2, 10)
    assert student_shapes[:2] == teacher_shapes[:2] == [(2, 30, 28, 28), (2, 33, 14, 14)]
    assert student_shapes[2] == (2, 69, 7, 7)  # n'·g' = n·g here, so even the last block's output matches


def test_paper_scale_depth_variants_shrink_as_table_4s_do():
    # Table 4 (CIFAR-100): 0.5×, 2×, 3×, 4× Depth have 21.2M, 13.7M, 12.9M, 12.6M parameters
    counts = [meta_count(densenet_depth_variant(90, 60, f), num_classes=100) for f in (0.5, 2, 3, 4)]
    assert counts == sorted(counts, reverse=True)
    assert abs(counts[0] / 21.2e6 - 1) < 0.05 and abs(counts[1] / 13.7e6 - 1) < 0.10


@pytest.mark.parametrize("build", [
    lambda: densenet_depth_variant(22, 12, 0.1),        # no layers left
    lambda: densenet_compression_variant(22, 12, 3),    # compression 1.5
    lambda: densenet_bc(22, 12, transition_channels=(30,)),
    lambda: create_model("densenet-bc-22-12-t0-33"),
    lambda: create_model("densenet-bc-22-12-t30-33", compression=0.5),  # not an option: the name fixes it
])
def test_bad_variants_are_config_errors(build):
    with pytest.raises(ConfigError):
        build()
