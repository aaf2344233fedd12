"""Tracking a detector's output on SynthScenes and scoring it: IoU-only (SORT) against IoU plus
appearance, on every clip and on the clips where actors cross.

A *crossing* clip is one where, on some frame, the boxes of two visible actors overlap: there a
tracker that only compares boxes can swap the identities of the two actors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vidbook.errors import BadValueError
from vidbook.eval.detection import box_iou
from vidbook.eval.mot import mot_metrics_clips, scene_ground_truth
from vidbook.eval.tracking import track_clip

_REPORTED = ("mota", "idf1", "num_switches", "num_false_positives", "num_misses", "num_objects")


def crossing_clips(batch: dict) -> list[int]:
    """Indices of the clips of a SynthScenes batch in which two visible actors' boxes overlap
    on at least one frame."""
    if not isinstance(batch, dict) or any(k not in batch for k in ("boxes", "visible")):
        raise BadValueError("batch must be a SynthScenes batch with 'boxes' and 'visible'")
    boxes, visible = batch["boxes"].cpu(), batch["visible"].cpu()
    found = []
    for clip in range(boxes.shape[0]):
        for t in range(boxes.shape[2]):
            here = boxes[clip, :, t][visible[clip, :, t]]
            if len(here) >= 2:
                overlap = box_iou(here, here).fill_diagonal_(0)
                if bool((overlap > 0).any()):
                    found.append(clip)
                    break
    return found


def track_detections(
    frames: Sequence[dict],
    appearance_weight: float = 0.0,
    score_threshold: float = 0.3,
    iou_threshold: float = 0.1,
) -> list[list[tuple[int, torch.Tensor]]]:
    """Track one clip's detections (``decode``'s list over frames of dicts with ``boxes``,
    ``scores`` and, for appearance, ``embeddings``): keep scores above ``score_threshold`` and
    run :func:`~vidbook.eval.tracking.track_clip`; per frame a list of ``(track_id, box)``."""
    kept = [f["scores"] > score_threshold for f in frames]
    boxes = [f["boxes"][k] for f, k in zip(frames, kept, strict=True)]
    embeddings = None
    if appearance_weight > 0:
        if any("embeddings" not in f for f in frames):
            raise BadValueError("appearance tracking needs a detector with embedding channels")
        embeddings = [f["embeddings"][k] for f, k in zip(frames, kept, strict=True)]
    return track_clip(boxes, embeddings, iou_threshold=iou_threshold,
                      appearance_weight=appearance_weight)  # fmt: skip


def tracking_comparison(
    found: Sequence[Sequence[dict]], batch: dict, appearance_weight: float = 0.5, **options: float
) -> dict:
    """MOTA, IDF1, identity switches, false positives, misses and objects (motmetrics) of the
    clips of ``batch`` tracked from the detections ``found`` (per clip, per frame), with IoU
    only and with appearance (``appearance_weight``), on all clips and on the crossing ones:
    ``{"all": {"iou": {...}, "appearance": {...}, "clips": n}, "crossing": {...}}``."""
    n = batch["boxes"].shape[0]
    if len(found) != n:
        raise BadValueError(f"found must hold one entry per clip ({n}), got {len(found)}")
    truth = [scene_ground_truth(batch, c) for c in range(n)]
    tracked = {
        "iou": [track_detections(f, 0.0, **options) for f in found],
        "appearance": [track_detections(f, appearance_weight, **options) for f in found],
    }
    result = {}
    for subset, clips in (("all", list(range(n))), ("crossing", crossing_clips(batch))):
        result[subset] = {"clips": len(clips)}
        for how, hyps in tracked.items():
            scores = mot_metrics_clips([truth[c] for c in clips], [hyps[c] for c in clips])
            result[subset][how] = {k: scores[k] for k in _REPORTED}
    return result
