"""Video models, by name: ``vidbook.models.build(name, num_classes=...)``."""

from vidbook.models import anatomy, c3d, cnn_lstm, frame_cnn, timesformer  # noqa: F401  (registers them)
from vidbook.models.registry import available, build, build_for_clips, register

__all__ = ["available", "build", "build_for_clips", "register"]
