"""Scores for a classifier that flags content: precision and recall at each threshold, and
whether its probabilities can be read as probabilities (calibration).

- :func:`precision_recall` sweeps the decision threshold over a score: precision (of what is
  flagged, the share that should be) and recall (of what should be flagged, the share that is);
- :func:`reliability` bins predictions by confidence; :func:`expected_calibration_error` (ECE,
  Guo et al. 2017) is the mean gap between confidence and accuracy over the bins, weighted by
  how many predictions each holds;
- :func:`fit_temperature` finds the one number T that divides the logits so that the
  validation negative log-likelihood is least (temperature scaling, Guo et al. 2017): it changes
  no prediction, only how sure each one is.

Shapes: scores (N,), is_positive (N,) bool; logits (N, K), labels (N,).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidbook.errors import BadValueError


def precision_recall(scores: torch.Tensor, is_positive: torch.Tensor) -> dict[str, torch.Tensor]:
    """For every threshold among the scores (highest first), flagging ``scores >= threshold``:
    ``threshold``, ``precision``, ``recall`` (each (M,)), plus ``average_precision`` (the
    mean of the precision at each positive, as scikit-learn's ``average_precision_score``)."""
    if scores.shape != is_positive.shape or scores.ndim != 1 or len(scores) == 0:
        raise BadValueError(f"scores and is_positive must be matching (N,) with N >= 1, got "
                            f"{tuple(scores.shape)} and {tuple(is_positive.shape)}")  # fmt: skip
    positives = int(is_positive.sum())
    if positives == 0:
        raise BadValueError("precision and recall need at least one positive")
    order = scores.argsort(descending=True, stable=True)
    ranked, hits = scores[order], is_positive[order].float()
    tp = hits.cumsum(0)
    last = torch.ones_like(ranked, dtype=torch.bool)  # the last of each run of equal scores
    last[:-1] = ranked[1:] != ranked[:-1]
    tp, flagged = tp[last], torch.arange(1, len(ranked) + 1, dtype=torch.float)[last]
    precision, recall = tp / flagged, tp / positives
    gained = torch.diff(recall, prepend=torch.zeros(1))
    return {"threshold": ranked[last], "precision": precision, "recall": recall,
            "average_precision": (gained * precision).sum()}  # fmt: skip


def reliability(logits: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> dict:
    """Predictions binned by confidence (equal-width bins on (0, 1]): per bin ``count``,
    ``confidence`` (mean top probability) and ``accuracy`` (share right); empty bins give NaN."""
    if logits.ndim != 2 or labels.shape != (len(logits),):
        raise BadValueError(f"logits (N, K) and labels (N,) expected, got {tuple(logits.shape)} "
                            f"and {tuple(labels.shape)}")  # fmt: skip
    confidence, predicted = logits.float().softmax(1).max(1)
    right = (predicted == labels).float()
    which = (confidence * bins).ceil().clamp(1, bins).long() - 1
    count = torch.bincount(which, minlength=bins).float()
    mean_conf = torch.bincount(which, confidence, minlength=bins) / count
    accuracy = torch.bincount(which, right, minlength=bins) / count
    return {"count": count, "confidence": mean_conf, "accuracy": accuracy,
            "edges": torch.linspace(0, 1, bins + 1)}  # fmt: skip


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> float:
    """ECE: sum over bins of (share of predictions in the bin) x |accuracy - confidence|."""
    table = reliability(logits, labels, bins)
    used = table["count"] > 0
    gaps = (table["accuracy"][used] - table["confidence"][used]).abs()
    return float((table["count"][used] / len(labels) * gaps).sum())


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, steps: int = 200) -> float:
    """The temperature T > 0 that minimises the NLL of ``logits / T`` on these (validation)
    logits, found by gradient descent on log T."""
    log_t = torch.zeros((), requires_grad=True)
    optimiser = torch.optim.Adam([log_t], lr=0.05)
    logits, labels = logits.detach().float(), labels.long()
    with torch.enable_grad():  # also when called under torch.no_grad()
        for _ in range(steps):
            optimiser.zero_grad()
            F.cross_entropy(logits / log_t.exp(), labels).backward()
            optimiser.step()
    return float(log_t.detach().exp())
