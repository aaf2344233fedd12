"""Video models, by name: ``vidbook.models.build(name, num_classes=...)``."""

from vidbook.models import c3d, frame_cnn  # noqa: F401  (registers the models)
from vidbook.models.registry import available, build, register

__all__ = ["available", "build", "register"]
