"""Video models, by name: ``vidbook.models.build(name, num_classes=..., variant=...)``."""

from vidbook.models import (  # noqa: F401  (importing a model's module registers it)
    anatomy,
    c3d,
    cnn_lstm,
    frame_cnn,
    mae,
    resnet3d,
    timesformer,
    vivit,
)
from vidbook.models.flops import count_flops, flops_per_clip, parameter_count
from vidbook.models.registry import (
    available,
    build,
    build_for_clips,
    default_variant,
    register,
    variant_config,
    variants,
)

__all__ = [
    "available",
    "build",
    "build_for_clips",
    "count_flops",
    "default_variant",
    "flops_per_clip",
    "parameter_count",
    "register",
    "variant_config",
    "variants",
]
