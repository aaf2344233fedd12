"""losses: mean squared error, log-softmax and cross-entropy, from their formulas.

A loss turns a batch of predictions into one number to minimise. ``reduction`` says how the
per-element losses are combined: ``"mean"`` (the default), ``"sum"``, or ``"none"`` (keep
them all, e.g. to weight them yourself).
"""

from __future__ import annotations

import torch

from vidbook.errors import BadValueError

REDUCTIONS = ("mean", "sum", "none")


def mse_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error: pred and target of the same shape (any) -> a scalar (or that shape
    for ``reduction="none"``).

    loss = (1 / N) sum_i (pred_i - target_i)^2 over all N elements.
    """
    if pred.shape != target.shape:
        raise BadValueError(
            f"mse_loss expects pred and target of the same shape, got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )
    return _reduce("mse_loss", (pred - target) ** 2, reduction)


def log_softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    """log(softmax(x)) along ``dim``, any shape -> same shape, computed without overflow.

    log_softmax(x)_i = x_i - log sum_j exp(x_j) = x_i - m - log sum_j exp(x_j - m), m = max_j x_j.
    The log-sum-exp with the maximum taken out: every exponent is <= 0, and the sum is >= 1,
    so its log is finite too.
    """
    m = x.amax(dim=dim, keepdim=True).detach()  # a constant shift: it has no gradient
    log_sum_exp = m + torch.log(torch.exp(x - m).sum(dim=dim, keepdim=True))
    return x - log_sum_exp


def cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy of class scores against class indices: (B, K) logits and (B,) targets, or
    (B, K, *) and (B, *) (a class per position, e.g. per frame or pixel) -> a scalar (or the
    target's shape for ``reduction="none"``).

    loss_n = -log softmax(logits_n)[target_n] = log sum_k exp(logits_n,k) - logits_n,target_n:
    the negative log-probability the model gives the right class, averaged over all n.
    """
    if logits.ndim < 2:
        raise BadValueError(
            f"cross_entropy expects logits (B, K) or (B, K, *), got shape {tuple(logits.shape)}"
        )
    expected = (logits.shape[0], *logits.shape[2:])
    if target.shape != expected:
        raise BadValueError(
            f"cross_entropy expects target of shape {expected} (logits {tuple(logits.shape)} "
            f"without the class axis), got {tuple(target.shape)}"
        )
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise BadValueError(
            f"cross_entropy expects integer class indices as target, got dtype {target.dtype}"
        )
    k = logits.shape[1]
    if target.numel() and (target.min() < 0 or target.max() >= k):
        raise BadValueError(
            f"cross_entropy: target classes must lie in [0, {k - 1}] for {k} classes, got "
            f"values from {target.min().item()} to {target.max().item()}"
        )
    log_p = log_softmax(logits, dim=1)  # (B, K, *)
    picked = log_p.gather(1, target.long().unsqueeze(1)).squeeze(1)  # (B, *): log p(right class)
    return _reduce("cross_entropy", -picked, reduction)


def _reduce(name: str, losses: torch.Tensor, reduction: str) -> torch.Tensor:
    """Combine per-element losses: their mean, their sum, or all of them."""
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise BadValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
