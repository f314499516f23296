"""The paper's architectures: Wide-ResNets, DenseNet-BCs, pre-activation ResNets and the Table 5
residual students, built by name with `create_model`.

The constructors `wide_resnet` and `preact_resnet` share their modules' names, so they are not
re-exported here (that would hide the modules `bannb.models.wide_resnet` and
`bannb.models.preact_resnet`); import them from those modules.
"""
from bannb.models import lstm_lm  # noqa: E402,F401  (registers the language models' family: after the registry)
from bannb.models.densenet import (
    densenet_bc,
    densenet_bc_param_count,
    densenet_compression_variant,
    densenet_depth_variant,
    densenet_stage_channels,
    densenet_variant_name,
    densenet_variants,
)
from bannb.models.layers import StagedNet
from bannb.models.preact_resnet import dense_res_student
from bannb.models.registry import count_parameters, create_model, list_models, model_family, parameter_count

__all__ = [
    "StagedNet",
    "count_parameters",
    "create_model",
    "dense_res_student",
    "densenet_bc",
    "densenet_bc_param_count",
    "densenet_compression_variant",
    "densenet_depth_variant",
    "densenet_stage_channels",
    "densenet_variant_name",
    "densenet_variants",
    "list_models",
    "model_family",
    "parameter_count",
]
