"""Training: a run as one call, the loop, its settings, checkpoints and schedules.

- ``runner``: ``run(RunSpec(...))`` builds data and model and trains them (what ``vidbook train``
  calls);
- ``trainer``: the ``Trainer`` loop; ``config``: its ``TrainConfig``; ``progress``: its display;
  ``objective``: what it minimises (classification, or a task's own loss);
- ``checkpoint``: atomic checkpoints that resume bit-exactly; ``schedule``: learning-rate
  schedules by name.
"""

from vidbook.train.checkpoint import (
    CheckpointError,
    export_weights,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from vidbook.train.config import TrainConfig
from vidbook.train.objective import Classification, Objective
from vidbook.train.runner import RunResult, RunSpec, run
from vidbook.train.trainer import NonFiniteLossError, Trainer

__all__ = [
    "CheckpointError",
    "Classification",
    "NonFiniteLossError",
    "Objective",
    "RunResult",
    "RunSpec",
    "TrainConfig",
    "Trainer",
    "export_weights",
    "load_checkpoint",
    "load_weights",
    "run",
    "save_checkpoint",
]
