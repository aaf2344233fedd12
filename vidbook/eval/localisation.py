"""Temporal action localisation scores: where in a long video each action starts and ends.

A *segment* is (start, end) in seconds or frames, with end > start. A prediction is a segment
with a class and a score; a ground-truth segment has a class. :func:`average_precision` follows
ActivityNet's detection evaluation (its ``compute_average_precision_detection``): predictions of
one class are taken from the highest score down; each is a true positive if some ground-truth
segment of that class in the same video overlaps it with temporal IoU >= the threshold and was not
matched before (the best-overlapping unmatched one is taken), otherwise a false positive; AP is the
area under the precision–recall curve with precision made monotone (the all-point interpolation
of PASCAL VOC and ActivityNet). :func:`mean_average_precision` averages AP over the classes
present in the ground truth, at one threshold or averaged over several (ActivityNet reports the
mean over tIoU 0.5:0.05:0.95; THUMOS14 reports 0.3 to 0.7).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vidbook.errors import BadValueError


@dataclass(frozen=True)
class Segment:
    """An action in a video: ``video`` id, ``start`` < ``end``, class ``label``; ``score`` for a
    prediction (None for ground truth)."""

    video: str
    start: float
    end: float
    label: int
    score: float | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.start) and np.isfinite(self.end)) or self.end <= self.start:
            raise BadValueError(
                f"a segment needs finite start < end, got ({self.start}, {self.end}) in video "
                f"{self.video!r}"
            )


def temporal_iou(segment: tuple[float, float], others: np.ndarray) -> np.ndarray:
    """Temporal IoU of one (start, end) with each row of ``others`` (N, 2): (N,)."""
    others = np.asarray(others, dtype=np.float64).reshape(-1, 2)
    start, end = segment
    overlap = np.clip(np.minimum(end, others[:, 1]) - np.maximum(start, others[:, 0]), 0, None)
    union = (end - start) + (others[:, 1] - others[:, 0]) - overlap
    return overlap / union


def _check_threshold(tiou: float) -> float:
    if not 0.0 < float(tiou) <= 1.0:
        raise BadValueError(f"the tIoU threshold must be in (0, 1], got {tiou!r}")
    return float(tiou)


def average_precision(
    ground_truth: Sequence[Segment], predictions: Sequence[Segment], tiou: float
) -> float:
    """AP of ``predictions`` against ``ground_truth`` (segments of one class) at ``tiou``.
    0 when there is no ground truth."""
    tiou = _check_threshold(tiou)
    if any(p.score is None for p in predictions):
        raise BadValueError("every prediction needs a score (Segment(..., score=...))")
    if not ground_truth:
        return 0.0
    by_video: dict[str, list[int]] = {}
    for index, segment in enumerate(ground_truth):
        by_video.setdefault(segment.video, []).append(index)
    bounds = np.array([(g.start, g.end) for g in ground_truth])
    matched = np.zeros(len(ground_truth), dtype=bool)
    order = sorted(range(len(predictions)), key=lambda i: -predictions[i].score)  # stable
    hits = np.zeros(len(order))
    for rank, index in enumerate(order):
        prediction = predictions[index]
        candidates = np.array(by_video.get(prediction.video, []), dtype=int)
        if len(candidates) == 0:
            continue
        overlaps = temporal_iou((prediction.start, prediction.end), bounds[candidates])
        for k in np.argsort(-overlaps, kind="stable"):
            if overlaps[k] < tiou:
                break
            if not matched[candidates[k]]:
                matched[candidates[k]] = True
                hits[rank] = 1
                break
    true_positives = np.cumsum(hits)
    precision = true_positives / np.arange(1, len(hits) + 1)
    recall = true_positives / len(ground_truth)
    return _interpolated_area(precision, recall)


def _interpolated_area(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision-recall curve with precision made monotone (all points)."""
    precision = np.concatenate([[0.0], precision, [0.0]])
    recall = np.concatenate([[0.0], recall, [1.0]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def mean_average_precision(
    ground_truth: Sequence[Segment],
    predictions: Sequence[Segment],
    tious: float | Iterable[float] = 0.5,
) -> dict:
    """mAP over the classes of ``ground_truth``, at each threshold of ``tious``:
    ``{"map": mean over thresholds, "by_tiou": {t: mAP}, "per_class": {t: {label: AP}}}``."""
    thresholds = [tious] if isinstance(tious, (int, float)) else list(tious)
    if not thresholds:
        raise BadValueError("tious: give at least one threshold")
    labels = sorted({g.label for g in ground_truth})
    if not labels:
        raise BadValueError("the ground truth holds no segment: nothing to score")
    per_class = {}
    for t in map(_check_threshold, thresholds):
        per_class[t] = {
            label: average_precision(
                [g for g in ground_truth if g.label == label],
                [p for p in predictions if p.label == label],
                t,
            )
            for label in labels
        }
    by_tiou = {t: float(np.mean(list(aps.values()))) for t, aps in per_class.items()}
    return {"map": float(np.mean(list(by_tiou.values()))), "by_tiou": by_tiou,
            "per_class": per_class}  # fmt: skip


def frame_scores(
    window_scores: np.ndarray, starts: Sequence[int], length: int, frames: int
) -> np.ndarray:
    """Class scores per frame (frames, K): the mean of ``window_scores`` (W, K) over the windows
    ``[start, start + length)`` that cover the frame. BadValueError if a frame is not covered."""
    window_scores = np.asarray(window_scores, dtype=np.float64)
    if window_scores.ndim != 2 or len(window_scores) != len(starts):
        raise BadValueError(f"window_scores: expected ({len(starts)}, K) for {len(starts)} "
                            f"windows, got {window_scores.shape}")  # fmt: skip
    total = np.zeros((frames, window_scores.shape[1]))
    count = np.zeros(frames)
    for start, scores in zip(starts, window_scores, strict=True):
        total[start : start + length] += scores
        count[start : start + length] += 1
    if (count == 0).any():
        first = int(np.flatnonzero(count == 0)[0])
        raise BadValueError(f"frame {first} of {frames} is in no window; use a smaller stride")
    return total / count[:, None]


def segments_from_frames(video: str, scores: np.ndarray, background: int) -> list[Segment]:
    """Predicted segments of one video from per-frame class scores (T, K): each frame takes its
    best class, and each maximal run of one class other than ``background`` becomes a segment
    [first frame, last frame + 1), scored by that class's mean score over the run."""
    scores = np.asarray(scores, dtype=np.float64)
    best = scores.argmax(axis=1)
    segments, start = [], 0
    for t in range(1, len(best) + 1):
        if t == len(best) or best[t] != best[start]:
            label = int(best[start])
            if label != background:
                score = float(scores[start:t, label].mean())
                segments.append(Segment(video, start, t, label, score))
            start = t
    return segments


def window_starts(frames: int, length: int, stride: int) -> list[int]:
    """Starts of windows of ``length`` frames every ``stride`` frames that cover all ``frames``
    (the last window ends at the last frame)."""
    if length > frames or length < 1 or stride < 1:
        raise BadValueError(f"windows of {length} frames every {stride} do not fit a video of "
                            f"{frames} frames (need 1 <= length <= frames, stride >= 1)")  # fmt: skip
    starts = list(range(0, frames - length + 1, stride))
    if starts[-1] != frames - length:
        starts.append(frames - length)
    return starts


def sliding_window_scores(
    classify: Callable[[torch.Tensor], torch.Tensor],
    frames: torch.Tensor,
    length: int,
    stride: int,
    batch_size: int = 64,
) -> np.ndarray:
    """Per-frame class probabilities (T, K) of a video ``frames`` (C, T, H, W): ``classify``
    (clips (B, C, length, H, W) -> logits (B, K)) on windows every ``stride`` frames, softmax,
    then each frame the mean over the windows that cover it (:func:`frame_scores`)."""
    starts = window_starts(frames.shape[1], length, stride)
    windows = torch.stack([frames[:, s : s + length] for s in starts])  # (W, C, length, H, W)
    with torch.no_grad():
        probs = torch.cat([classify(windows[i : i + batch_size]).float().softmax(-1)
                           for i in range(0, len(windows), batch_size)])  # fmt: skip
    return frame_scores(probs.cpu().numpy(), starts, length, frames.shape[1])
