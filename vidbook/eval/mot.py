"""Scoring tracks: the MOT Challenge's measures, computed by ``motmetrics``.

Ground-truth objects and hypotheses (tracked boxes) are matched on each frame (IoU >= 0.5),
keeping last frame's pairs where they still overlap. *MOTA* = 1 - (misses + false positives +
identity switches) / ground-truth objects, summed over frames: it counts detection errors and,
weakly, identity errors (a switch costs one object on one frame). *IDF1* matches whole
trajectories instead: each ground-truth identity is paired with at most one hypothesis identity
for the entire sequence (the pairing that agrees on the most frames), and IDF1 = 2 IDTP /
(2 IDTP + IDFP + IDFN), the share of detections given the right identity; a track that swaps
identities halfway loses half its frames. *MOTP* is the localisation of the matched pairs, here
their mean IoU.
"""

from __future__ import annotations

import numpy as np
import torch

from vidbook.checks import check_int, is_int, is_real
from vidbook.errors import BadValueError
from vidbook.eval.detection import box_iou, check_boxes

__all__ = ["check_track_jumps", "mot_metrics", "mot_metrics_clips", "scene_ground_truth"]


def scene_ground_truth(batch: dict, clip: int) -> list[list[tuple[int, torch.Tensor]]]:
    """Clip ``clip`` of a SynthScenes batch as per-frame ground truth for :func:`mot_metrics`:
    a list over T frames of ``(track_id, box (4,))`` for the actors visible on that frame."""
    if not isinstance(batch, dict) or any(k not in batch for k in ("boxes", "visible", "track_id")):
        raise BadValueError("batch must be a SynthScenes batch with 'boxes', 'visible', 'track_id'")
    boxes, visible, ids = batch["boxes"].cpu(), batch["visible"].cpu(), batch["track_id"].cpu()
    clip = check_int("clip", clip, 0)
    if clip >= boxes.shape[0]:
        raise BadValueError(f"clip must be below the batch size {boxes.shape[0]}, got {clip}")
    slots = range(boxes.shape[1])
    return [
        [(int(ids[clip, a]), boxes[clip, a, t]) for a in slots if visible[clip, a, t]]
        for t in range(boxes.shape[2])
    ]


def _frame(name: str, t: int, pairs: object) -> tuple[list[int], torch.Tensor]:
    if not isinstance(pairs, (list, tuple)):
        raise BadValueError(f"{name}[{t}] must be a list of (id, box) pairs, got {pairs!r}")
    ids = []
    for pair in pairs:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and is_int(pair[0])):
            raise BadValueError(f"{name}[{t}] must hold (id, box) pairs with int ids, got {pair!r}")
        ids.append(int(pair[0]))
    if len(set(ids)) != len(ids):
        raise BadValueError(f"{name}[{t}] must not repeat an id, got ids {ids}")
    boxes = [torch.as_tensor(p[1], dtype=torch.float64).reshape(-1) for p in pairs]
    if any(b.shape != (4,) for b in boxes):
        raise BadValueError(f"{name}[{t}] boxes must have 4 coordinates each")
    stacked = torch.stack(boxes) if boxes else torch.zeros(0, 4, dtype=torch.float64)
    return ids, check_boxes(f"{name}[{t}] boxes", stacked)


def check_track_jumps(name: str, frames: list[tuple[list[int], torch.Tensor]],
                      max_jump: float) -> None:  # fmt: skip
    """BadValueError if a track id's box centre moves more than ``max_jump`` box diagonals (of
    the larger box) between consecutive frames: in ground truth, nearly always two ids swapped.
    ``frames``: per frame the ids and boxes (N, 4) of :func:`_frame`."""
    before: dict[int, torch.Tensor] = {}
    for t, (ids, boxes) in enumerate(frames):
        now = dict(zip(ids, boxes, strict=True))
        for track, box in now.items():
            last = before.get(track)
            if last is None:
                continue
            moved = float(((box[:2] + box[2:]) / 2 - (last[:2] + last[2:]) / 2).norm())
            size = max(float((b[2:] - b[:2]).norm()) for b in (box, last))
            if moved > max_jump * max(size, 1e-9):
                raise BadValueError(
                    f"{name}: track id {track} jumps {moved:.1f} pixels between frames {t - 1} "
                    f"and {t} ({moved / max(size, 1e-9):.1f} box diagonals; at most {max_jump} "
                    f"expected): were two tracks' ids swapped? Box {last.tolist()} -> "
                    f"{box.tolist()}. Pass max_gt_jump=None if the objects really move so fast."
                )
        before = now


def mot_metrics_clips(
    gt: list[list[list[tuple[int, torch.Tensor]]]],
    hyp: list[list[list[tuple[int, torch.Tensor]]]],
    iou_threshold: float = 0.5,
    max_gt_jump: float | None = 3.0,
) -> dict[str, float]:
    """:func:`mot_metrics` over several clips: ``gt`` and ``hyp`` are lists over clips of what
    :func:`mot_metrics` takes; the counts are summed over clips (identities never carry from
    one clip to the next, so hypothesis ids may repeat across clips)."""
    try:
        import motmetrics as mm
    except ImportError as err:
        raise ImportError("mot_metrics needs motmetrics: pip install motmetrics") from err
    if not is_real(iou_threshold) or not 0 < iou_threshold <= 1:
        raise BadValueError(f"iou_threshold must be a number in (0, 1], got {iou_threshold!r}")
    if max_gt_jump is not None and (not is_real(max_gt_jump) or max_gt_jump <= 0):
        raise BadValueError(f"max_gt_jump must be a number > 0 or None, got {max_gt_jump!r}")
    for name, value in (("gt", gt), ("hyp", hyp)):
        if not isinstance(value, (list, tuple)):
            raise BadValueError(f"{name} must be a list, got {type(value).__name__}")
    if len(gt) != len(hyp):
        raise BadValueError(
            f"gt and hyp must be lists over the same clips, got {len(gt)} and {len(hyp)} clips"
        )
    accumulators, distance_sum = [], 0.0
    for c, (gt_clip, hyp_clip) in enumerate(zip(gt, hyp, strict=True)):
        if not isinstance(gt_clip, (list, tuple)) or not isinstance(hyp_clip, (list, tuple)):
            raise BadValueError(f"gt[{c}] and hyp[{c}] must be lists over frames")
        if len(gt_clip) != len(hyp_clip):
            raise BadValueError(
                f"gt and hyp must have the same number of frames, got {len(gt_clip)} and "
                f"{len(hyp_clip)}" + (f" (clip {c})" if len(gt) > 1 else "")
            )
        acc = mm.MOTAccumulator(auto_id=True)
        gt_frames = [_frame("gt", t, objects) for t, objects in enumerate(gt_clip)]
        if max_gt_jump is not None:
            check_track_jumps(f"gt[{c}]" if len(gt) > 1 else "gt", gt_frames, max_gt_jump)
        for t, ((gt_ids, gt_boxes), hypotheses) in enumerate(zip(gt_frames, hyp_clip, strict=True)):
            hyp_ids, hyp_boxes = _frame("hyp", t, hypotheses)
            # motmetrics' own iou_matrix (boxes as x, y, w, h) calls np.asfarray, which NumPy 2
            # removed; this is the same distance: 1 - IoU, nan (no pair) where IoU < threshold.
            distance = 1.0 - box_iou(gt_boxes, hyp_boxes).numpy()
            acc.update(gt_ids, hyp_ids, np.where(distance > 1 - iou_threshold, np.nan, distance))
        events = acc.mot_events
        distance_sum += float(events.loc[events["Type"].isin(["MATCH", "SWITCH"]), "D"].sum())
        accumulators.append(acc)
    names = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses",
             "num_objects", "num_matches"]  # fmt: skip
    clips = [str(i) for i in range(len(accumulators))]
    metrics = mm.metrics.create()
    summary = metrics.compute_many(accumulators, metrics=names, names=clips, generate_overall=True)
    summary = summary.loc["OVERALL"]
    if summary["num_objects"] == 0:
        raise BadValueError("gt must hold at least one object: MOTA and IDF1 are undefined")
    paired = int(summary["num_matches"] + summary["num_switches"])
    out = {k: float(summary[k]) for k in ("mota", "idf1")}
    out["motp"] = 1.0 - distance_sum / paired if paired else float("nan")
    out.update({k: int(summary[k]) for k in names[2:6]})
    return out


def mot_metrics(
    gt: list[list[tuple[int, torch.Tensor]]],
    hyp: list[list[tuple[int, torch.Tensor]]],
    iou_threshold: float = 0.5,
    max_gt_jump: float | None = 3.0,
) -> dict[str, float]:
    """MOT Challenge scores of one clip, computed by ``motmetrics``.

    ``gt`` and ``hyp``: lists over the same T frames, each a list of ``(id, box)`` pairs (box
    (4,) ``(x1, y1, x2, y2)``; an empty list is an empty frame). A ground-truth object and a
    hypothesis may pair on a frame when their IoU >= ``iou_threshold``.

    Returns ``mota``, ``idf1`` and ``motp`` (the mean IoU of the paired boxes, higher is
    better, as the MOT Challenge reports it; motmetrics' own MOTP is the mean distance 1 - IoU;
    nan without any pair), and the counts ``num_switches``, ``num_false_positives``,
    ``num_misses``, ``num_objects`` (ground-truth boxes). BadValueError if the frame counts
    differ, a frame is not a list of (int id, box) pairs with distinct ids and boxes with
    x2 >= x1, y2 >= y1, ``gt`` holds no object at all, or a ground-truth id jumps: its box
    centre moves more than ``max_gt_jump`` box diagonals from one frame to the next
    (:func:`check_track_jumps`; None: no check). ImportError if motmetrics is missing.
    """
    return mot_metrics_clips([gt], [hyp], iou_threshold, max_gt_jump)
