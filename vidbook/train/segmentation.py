"""The segmentation task: SynthScenes masks, the space-time U-Net of ``vidbook.models``, and the
DAVIS measures (J, F, J&F) from ``vidbook.eval`` on the test split."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from vidbook.data import ClipLoader
from vidbook.errors import BadValueError
from vidbook.eval.segmentation import video_segmentation_metrics
from vidbook.models.segmentation import (
    TARGETS,
    SegmenterConfig,
    VideoSegmenter,
    mask_targets,
    segmentation_loss,
)
from vidbook.runtime import eval_mode
from vidbook.train.objective import Objective
from vidbook.train.scene_sets import scene_set

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec

# Segmenters by name: what they see (3 frames at a time, or one) and what they segment.
SEGMENTERS = {
    "segmenter_3d": {"config": {"width": 16, "blocks": 1, "temporal": True}, "target": "actors"},
    "segmenter_2d": {"config": {"width": 16, "blocks": 1, "temporal": False}, "target": "actors"},
    "moving_3d": {"config": {"width": 16, "blocks": 1, "temporal": True}, "target": "moving"},
    "moving_2d": {"config": {"width": 16, "blocks": 1, "temporal": False}, "target": "moving"},
}
_KEYS = ("instances", "motion", "start", "end")


class Segmentation(Objective):
    """Per-pixel masks of ``target`` (:data:`~vidbook.models.segmentation.TARGETS`):
    binary cross-entropy + soft Dice of the segmenter's logits."""

    def __init__(self, target: str = "actors", dice_weight: float = 1.0) -> None:
        if target not in TARGETS:
            raise BadValueError(f"target must be one of {TARGETS}, got {target!r}")
        self.target, self.dice_weight = target, dice_weight

    def unpack(self, batch: Any) -> tuple[torch.Tensor, dict]:
        if not isinstance(batch, dict) or any(k not in batch for k in ("clip", *_KEYS)):
            got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise BadValueError(
                f"a SynthScenes batch with 'clip' and {list(_KEYS)} was expected, got {got}"
            )
        return batch["clip"], {k: batch[k] for k in _KEYS}

    def loss(self, output: torch.Tensor, targets: dict) -> torch.Tensor:
        return segmentation_loss(output, mask_targets(targets, self.target), self.dice_weight)


def segmenter(name: str) -> tuple[VideoSegmenter, Segmentation]:
    """The segmenter ``name`` (one of :data:`SEGMENTERS`) and its objective."""
    if name not in SEGMENTERS:
        raise BadValueError(f"unknown segmenter {name!r}; the segmenters are {tuple(SEGMENTERS)}")
    entry = SEGMENTERS[name]
    return VideoSegmenter(SegmenterConfig(**entry["config"])), Segmentation(entry["target"])


def segmentation_parts(
    spec: RunSpec, dev: torch.device
) -> tuple[ClipLoader, ClipLoader, VideoSegmenter, str]:
    """Train and validation loaders of SynthScenes, the segmenter ``spec.model``, a description."""
    model, objective = segmenter(spec.model)
    train = ClipLoader(scene_set(spec, "train"), batch_size=spec.batch_size,
                       seed=spec.seed, device=dev)  # fmt: skip
    val = ClipLoader(scene_set(spec, "val"), batch_size=max(spec.batch_size, 64),
                     shuffle=False, device=dev)  # fmt: skip
    described = (
        f"SynthScenes {spec.train_size} train / {spec.val_size} val clips, {spec.clip_shape}, "
        f"1-4 actors, {spec.difficulty}; masks of {objective.target!r}"
    )
    return train, val, model, described


def segmentation_test(model: VideoSegmenter, spec: RunSpec, dev: torch.device, target: str
                      ) -> dict:  # fmt: skip
    """J, F and J&F (DAVIS definitions, ``vidbook.eval.segmentation``) of ``model``'s masks of
    ``target`` on the SynthScenes test split (``spec.test_size`` clips, default the validation
    size): the mask of a clip is one object, scored on the frames where it is not empty."""
    scenes = scene_set(spec, "test")
    predicted, truth = [], []
    with eval_mode(model):
        for batch in ClipLoader(scenes, batch_size=64, shuffle=False, device=dev):
            predicted.append((model(batch["clip"]) > 0).to(torch.uint8).cpu())
            truth.append(mask_targets(batch, target).to(torch.uint8).cpu())
    pred, gt = torch.cat(predicted), torch.cat(truth)
    keep = gt.flatten(1).bool().any(1)  # a clip with nothing to segment (no mover) holds no object
    scores = video_segmentation_metrics(pred[keep], gt[keep], num_ids=1)
    return {"J": scores["J"], "F": scores["F"], "J&F": scores["J&F"], "target": target,
            "clips": len(scenes), "objects": scores["objects"]}  # fmt: skip
