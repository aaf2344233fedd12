"""Training loop, checkpoints and learning-rate schedules for the book's video models."""

from vidbook.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from vidbook.train.multiview import multi_view_clips, predict_views
from vidbook.train.trainer import NonFiniteLossError, TrainConfig, Trainer

__all__ = [
    "CheckpointError",
    "NonFiniteLossError",
    "TrainConfig",
    "Trainer",
    "load_checkpoint",
    "multi_view_clips",
    "predict_views",
    "save_checkpoint",
]
