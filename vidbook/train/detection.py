"""The detection task: SynthScenes boxes (and track ids), the CenterNet-style detector of
``vidbook.models.detection``, and COCO AP from pycocotools (``vidbook.eval.detection``) on the
test split. Registered in ``vidbook.train.tasks``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from vidbook.data import ClipLoader
from vidbook.errors import BadValueError
from vidbook.eval.detection import coco_detection_metrics, scene_targets
from vidbook.eval.scene_tracking import tracking_comparison
from vidbook.models.detection import CenterDetector, CenterDetectorConfig, decode, detection_loss
from vidbook.runtime import eval_mode
from vidbook.train.objective import Objective
from vidbook.train.scene_sets import scene_set

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec

# Detectors by name, with the settings measured in chapter 7.
DETECTORS = {
    "center_detector": {"width": 16, "blocks": 1, "temporal": True, "embedding": 0},
    "center_detector_2d": {"width": 16, "blocks": 1, "temporal": False, "embedding": 0},
    "center_tracker": {"width": 16, "blocks": 1, "temporal": True, "embedding": 8},  # + appearance
}


def _scene_batch(batch: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(batch, dict) or any(k not in batch for k in ("clip", *keys)):
        got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise BadValueError(
            f"a SynthScenes batch with 'clip' and {list(keys)} was expected, got {got}"
        )


class Detection(Objective):
    """Per-frame boxes of every visible actor (and, if the detector has appearance channels,
    embeddings that tell the actors apart): ``detection_loss`` of a CenterDetector's maps."""

    def __init__(self, size_weight: float = 0.1, embed_weight: float = 0.5) -> None:
        self.size_weight, self.embed_weight = size_weight, embed_weight

    def unpack(self, batch: Any) -> tuple[torch.Tensor, dict]:
        _scene_batch(batch, ("boxes", "visible", "track_id"))
        keys = ("boxes", "visible", "track_id")
        return batch["clip"], {k: batch[k] for k in keys}

    def loss(self, output: torch.Tensor, targets: dict) -> torch.Tensor:
        return detection_loss(output, targets["boxes"], targets["visible"], self.size_weight,
                              track_id=targets["track_id"], embed_weight=self.embed_weight)  # fmt: skip


def detection_parts(
    spec: RunSpec, dev: torch.device
) -> tuple[ClipLoader, ClipLoader, CenterDetector, str]:
    """Train and validation loaders of SynthScenes, the detector ``spec.model``, a description."""
    scenes = [scene_set(spec, "train"), scene_set(spec, "val")]
    train = ClipLoader(scenes[0], batch_size=spec.batch_size, seed=spec.seed, device=dev)
    val = ClipLoader(scenes[1], batch_size=max(spec.batch_size, 64), shuffle=False, device=dev)
    model = CenterDetector(CenterDetectorConfig(**DETECTORS[spec.model]))
    described = (
        f"SynthScenes {spec.train_size} train / {spec.val_size} val clips, {spec.clip_shape}, "
        f"1-4 actors, {spec.difficulty}"
    )
    return train, val, model, described


def detection_test(model: CenterDetector, spec: RunSpec, dev: torch.device) -> dict:
    """COCO AP, AP50, AP75 and AR@100 (pycocotools) of ``model`` on the SynthScenes test split
    (``spec.test_size`` clips, default the validation size), every frame an image; for a
    detector with appearance channels also ``tracking``: MOTA, IDF1 and identity switches with
    IoU only and with appearance, on all clips and on the crossing ones
    (:func:`~vidbook.eval.scene_tracking.tracking_comparison`)."""
    scenes = scene_set(spec, "test")
    predictions, targets, found, truth = [], [], [], []
    keys = ("boxes", "visible", "track_id")
    with eval_mode(model):
        for batch in ClipLoader(scenes, batch_size=64, shuffle=False, device=dev):
            found += decode(model(batch["clip"]))
            targets += scene_targets(batch)
            truth.append({k: batch[k].cpu() for k in keys})
    predictions = [frame for clip in found for frame in clip]
    result = {**coco_detection_metrics(predictions, targets), "clips": len(scenes),
              "frames": len(targets)}  # fmt: skip
    if model.config.embedding > 0:
        joined = {k: torch.cat([t[k] for t in truth]) for k in keys}
        result["tracking"] = tracking_comparison(found, joined)
    return result
