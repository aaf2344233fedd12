"""Multi-task learning (chapter 7): one backbone, three heads — detection, segmentation and
captioning — trained together, and the controls that train one head alone.

Every named model of :data:`MULTITASK_MODELS` has the same architecture
(:class:`~vidbook.models.multitask.MultiTaskModel`) and reads the same batches (the
captioning task's ``CaptionLoader``: a clip with its boxes, masks and captions); only the loss
weights differ. ``multitask`` minimises the weighted sum of the three losses; each
``multitask_<head>_only`` control switches the other two off, so its other heads are never
computed in training and stay as initialised. The test scores every head of every model
(an untrained head scores near 0), so one table compares the joint model with each control.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from vidbook.checks import is_real
from vidbook.data.scene_text import LANGUAGES
from vidbook.errors import BadValueError
from vidbook.models.detection import detection_loss
from vidbook.models.multitask import (
    HEADS,
    DetectionView,
    MultiTaskConfig,
    MultiTaskModel,
    SegmentationView,
)
from vidbook.models.segmentation import mask_targets, segmentation_loss
from vidbook.train.captioning import Captioning, CaptionLoader, captioning_test
from vidbook.train.detection import detection_test
from vidbook.train.objective import Objective
from vidbook.train.scene_sets import scene_set
from vidbook.train.segmentation import segmentation_test

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec

_CONFIG = {"width": 16, "blocks": 1, "temporal": True, "d_model": 64, "heads": 4, "layers": 2,
           "time_stride": 4, "space_stride": 8}  # fmt: skip


def _weights(detection: float, segmentation: float, caption: float) -> dict[str, float]:
    return {"detection": detection, "segmentation": segmentation, "caption": caption}


# Multi-task models by name: one architecture, the loss weight of each head (0: off).
MULTITASK_MODELS = {
    "multitask": {"config": _CONFIG, "weights": _weights(1.0, 2.0, 1.0)},
    "multitask_detection_only": {"config": _CONFIG, "weights": _weights(1.0, 0.0, 0.0)},
    "multitask_segmentation_only": {"config": _CONFIG, "weights": _weights(0.0, 1.0, 0.0)},
    "multitask_captioning_only": {"config": _CONFIG, "weights": _weights(0.0, 0.0, 1.0)},
}
SEGMENT_TARGET = "actors"  # what the segmentation head segments
# The batch keys each head's loss reads (besides "clip").
HEAD_KEYS = {
    "detection": ("boxes", "visible"),
    "segmentation": ("instances",),
    "caption": ("tokens_in", "targets"),
}


def _check_weights(weights: Any) -> dict[str, float]:
    if not isinstance(weights, dict) or set(weights) != set(HEADS):
        got = sorted(weights) if isinstance(weights, dict) else type(weights).__name__
        raise BadValueError(f"weights must be a dict with the keys {list(HEADS)}, got {got}")
    for head, w in weights.items():
        if not is_real(w) or w < 0:
            raise BadValueError(f"the weight of {head} must be a finite number >= 0, got {w!r}")
    if not any(weights.values()):
        raise BadValueError("at least one head needs a weight > 0, got all 0")
    return {h: float(weights[h]) for h in HEADS}


class MultiTask(Objective):
    """The weighted sum of the heads' losses: ``weights["detection"]`` x ``detection_loss``
    (CenterNet focal + box terms), ``weights["segmentation"]`` x ``segmentation_loss`` of the
    ``"actors"`` masks (BCE + Dice), ``weights["caption"]`` x the next-token cross-entropy of
    both languages (teacher forcing). A head of weight 0 is neither computed nor scored.

    Inputs are ``(clip, tokens_in or None, heads)`` for :class:`MultiTaskModel`."""

    def __init__(self, weights: dict[str, float], size_weight: float = 0.1,
                 dice_weight: float = 1.0) -> None:  # fmt: skip
        self.weights = _check_weights(weights)
        self.heads = tuple(h for h in HEADS if self.weights[h] > 0)
        self.size_weight, self.dice_weight = size_weight, dice_weight

    def unpack(self, batch: Any) -> tuple[tuple, dict]:
        keys = ("clip", *(k for h in self.heads for k in HEAD_KEYS[h]))
        if not isinstance(batch, dict) or any(k not in batch for k in keys):
            got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            missing = [k for k in keys if k not in batch] if isinstance(batch, dict) else keys
            raise BadValueError(
                f"a multi-task batch for the heads {list(self.heads)} is a dict with "
                f"{list(keys)}; it lacks {list(missing)} (got {got})"
            )
        tokens = batch["tokens_in"] if "caption" in self.heads else None
        targets = {k: batch[k] for k in keys[1:] if k != "tokens_in"}
        return (batch["clip"], tokens, self.heads), targets

    def head_losses(self, output: dict, targets: dict) -> dict[str, torch.Tensor]:
        """The unweighted loss of each head of non-zero weight."""
        if not isinstance(output, dict) or any(output.get(h) is None for h in self.heads):
            got = ({k: v is not None for k, v in output.items()} if isinstance(output, dict)
                   else type(output).__name__)  # fmt: skip
            raise BadValueError(
                f"the output must be a dict with the heads {list(self.heads)} computed, got {got}"
            )
        losses = {}
        if "detection" in self.heads:
            losses["detection"] = detection_loss(
                output["detection"], targets["boxes"], targets["visible"], self.size_weight
            )
        if "segmentation" in self.heads:
            masks = mask_targets(targets, SEGMENT_TARGET)
            losses["segmentation"] = segmentation_loss(
                output["segmentation"], masks, self.dice_weight
            )
        if "caption" in self.heads:
            losses["caption"] = Captioning().loss(output["caption"], targets["targets"])
        return losses

    def loss(self, output: dict, targets: dict) -> torch.Tensor:
        losses = self.head_losses(output, targets)
        return sum(self.weights[h] * value for h, value in losses.items())


def _entry(name: str) -> dict:
    if name not in MULTITASK_MODELS:
        raise BadValueError(
            f"multi-task model must be one of {tuple(MULTITASK_MODELS)}, got {name!r}"
        )
    return MULTITASK_MODELS[name]


def build_multitask(name: str) -> tuple[MultiTaskModel, MultiTask]:
    """The model ``name`` of :data:`MULTITASK_MODELS` and its objective."""
    entry = _entry(name)
    return MultiTaskModel(MultiTaskConfig(**entry["config"])), MultiTask(entry["weights"])


def multitask_objective(spec: RunSpec) -> MultiTask:
    """The objective of the run's model: its loss weights."""
    return MultiTask(_entry(spec.model)["weights"])


def multitask_parts(spec: RunSpec, dev: torch.device
                    ) -> tuple[CaptionLoader, CaptionLoader, MultiTaskModel, str]:  # fmt: skip
    """Train and validation CaptionLoaders (clips, boxes, masks, captions), the model ``spec.model`` and a description."""
    model, objective = build_multitask(spec.model)
    train = CaptionLoader(scene_set(spec, "train"), spec.batch_size,
                            seed=spec.seed, device=dev)  # fmt: skip
    val = CaptionLoader(scene_set(spec, "val"), max(spec.batch_size, 64),
                          shuffle=False, device=dev)  # fmt: skip
    weights = ", ".join(f"{h} {w:g}" for h, w in objective.weights.items())
    described = (
        f"SynthScenes {spec.train_size} train / {spec.val_size} val clips, {spec.clip_shape}, "
        f"1-4 actors, {spec.difficulty}; boxes, {SEGMENT_TARGET!r} masks and captions in "
        f"{' and '.join(LANGUAGES)}; loss weights {weights}"
    )
    return train, val, model, described


def multitask_test(model: MultiTaskModel, spec: RunSpec, dev: torch.device, beam: int = 3
                   ) -> dict:  # fmt: skip
    """Every head scored on the SynthScenes test split, whichever heads were trained:
    ``detection`` (COCO AP, AP50, ... of ``detection_test``), ``segmentation`` (J, F, J&F of the
    ``"actors"`` masks) and ``captioning`` (``captioning_test``: BLEU-4, CIDEr and motion-word
    accuracy per language, greedy and beam of width ``beam``); ``weights``: the run's."""
    if not isinstance(model, MultiTaskModel):
        raise BadValueError(f"multitask_test scores a MultiTaskModel, got {type(model).__name__}")
    return {
        "detection": detection_test(DetectionView(model), spec, dev),
        "segmentation": segmentation_test(SegmentationView(model), spec, dev, SEGMENT_TARGET),
        "captioning": captioning_test(model, spec, dev, beam=beam),
        "weights": dict(_entry(spec.model)["weights"]),
    }


def multitask_headline(test: dict) -> tuple[str, str]:
    """The summary line of a multi-task test: AP50, J and the English motion words (beam)."""
    det, seg, cap = test["detection"], test["segmentation"], test["captioning"]
    return (
        "test AP50 / J / motion words (en, beam)",
        f"{det['ap50']:.3f} / {seg['J']:.3f} / {cap['en']['beam']['motion_acc']:.3f} "
        f"({cap['clips']} clips)",
    )
