"""The objectives of the book's tasks beyond classification, for the Trainer's ``objective=``.

Each reads a SynthScenes batch (``vidbook.data.SynthScenes``) and hands the model's output to the
task's loss in ``vidbook.models``; the field's metrics for each task are in ``vidbook.eval``.
"""

from __future__ import annotations

from typing import Any

import torch

from vidbook.errors import BadValueError
from vidbook.models.detection import detection_loss
from vidbook.train.objective import Objective


def _scene_batch(batch: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(batch, dict) or any(k not in batch for k in ("clip", *keys)):
        got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise BadValueError(
            f"a SynthScenes batch with 'clip' and {list(keys)} was expected, got {got}"
        )


class Detection(Objective):
    """Per-frame boxes of every visible actor: ``detection_loss`` of a CenterDetector's maps."""

    def __init__(self, size_weight: float = 0.1) -> None:
        self.size_weight = size_weight

    def unpack(self, batch: Any) -> tuple[torch.Tensor, dict]:
        _scene_batch(batch, ("boxes", "visible"))
        return batch["clip"], {"boxes": batch["boxes"], "visible": batch["visible"]}

    def loss(self, output: torch.Tensor, targets: dict) -> torch.Tensor:
        return detection_loss(output, targets["boxes"], targets["visible"], self.size_weight)
