"""Judging generated clips with a classifier trained on real ones.

A generator cannot grade itself. Two judgements use a recogniser of the world's motions that was
trained on real clips only (chapter 1's C3D):

- **class accuracy**: does the clip generated for "moves left" get classified as "moves left"?
  (chance: one over the number of classes);
- **Fréchet distance** between the recogniser's features of generated and of real clips: fit a
  Gaussian to each set of features (the input of the recogniser's last linear layer) and compute

      d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

  FVD (Unterthiner et al., 2018) is this distance on the features of an I3D network trained on
  Kinetics; here the network is our own small one, so the numbers are an *FVD-style* score,
  comparable only with each other, never with published FVDs. Two references place them: real
  clips whose frames are shuffled in time (right frames, wrong motion) and uniform noise.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from vidbook.errors import BadValueError
from vidbook.runtime import eval_mode


def last_linear(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear`` (its classification layer)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise BadValueError(f"{type(model).__name__} has no nn.Linear layer to take features from")
    return linears[-1]


@torch.no_grad()
def classifier_outputs(
    model: nn.Module, clips: torch.Tensor, batch_size: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features (N, F), logits (N, K))`` of ``clips`` (N, C, T, H, W): the features are the
    input of the model's last linear layer. Float32 on the CPU."""
    if not isinstance(clips, torch.Tensor) or clips.ndim != 5:
        raise BadValueError(f"clips: expected a (N, C, T, H, W) tensor, got {_shape(clips)}")
    features: list[torch.Tensor] = []
    hook = last_linear(model).register_forward_hook(
        lambda module, inputs, output: features.append(inputs[0].detach().float().cpu())
    )
    device = next(model.parameters()).device
    logits = []
    try:
        with eval_mode(model):
            for start in range(0, len(clips), batch_size):
                logits.append(model(clips[start : start + batch_size].to(device)).float().cpu())
    finally:
        hook.remove()
    return torch.cat(features), torch.cat(logits)


def _shape(value: object) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


def frechet_distance(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance (squared, as FID/FVD report it) between Gaussians fitted to the rows
    of ``a`` (N, F) and ``b`` (M, F)."""
    a, b = (np.asarray(x, dtype=np.float64) for x in (a, b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise BadValueError(f"features: expected (N, F) and (M, F), got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise BadValueError(f"need at least 2 rows in each set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(
        ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b) - 2 * trace_sqrt(cov_a, cov_b)
    )


def trace_sqrt(cov_a: np.ndarray, cov_b: np.ndarray) -> float:
    """Tr((S_a S_b)^(1/2)) for symmetric positive semi-definite S_a, S_b (F, F).

    S_a S_b has the eigenvalues of the symmetric S_a^(1/2) S_b S_a^(1/2), so the trace is the
    sum of their square roots: symmetric eigen-decompositions only, stable even where a
    covariance is singular (where a general matrix square root warns and can turn complex)."""
    values, vectors = np.linalg.eigh(cov_a)
    half_a = (vectors * np.sqrt(values.clip(min=0))) @ vectors.T
    inner = np.linalg.eigvalsh(half_a @ cov_b @ half_a)
    return float(np.sqrt(inner.clip(min=0)).sum())


def shuffled_in_time(clips: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The clips (N, C, T, H, W) with each clip's frames in a random order of its own."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(clips.shape[2], generator=generator) for _ in clips])
    index = order.to(clips.device)[:, None, :, None, None].expand_as(clips)
    return clips.gather(2, index)


def judge(
    classifier: nn.Module,
    generated: torch.Tensor,
    labels: torch.Tensor,
    real: torch.Tensor,
    references: Iterable[str] = ("real", "shuffled", "noise"),
    seed: int = 0,
) -> dict:
    """Class accuracy of ``generated`` clips (N, C, T, H, W) against the ``labels`` (N,) they
    were asked for, and Fréchet distances to ``real`` clips (M, ...) of the classifier's
    features, for the generated clips and for the references: ``real`` (a second half of the
    real clips against the first: the floor that sampling alone gives), ``shuffled`` (real clips
    with their frames shuffled) and ``noise`` (uniform noise). Real clips are split in halves:
    the first half is the reference set every distance is measured to."""
    if generated.shape[1:] != real.shape[1:]:
        raise BadValueError(
            f"generated clips {tuple(generated.shape)} and real clips {tuple(real.shape)} "
            "must have the same (C, T, H, W)"
        )
    if labels.shape != (len(generated),):
        raise BadValueError(f"labels: expected shape ({len(generated)},), got {_shape(labels)}")
    half = len(real) // 2
    base, _ = classifier_outputs(classifier, real[:half])
    features, logits = classifier_outputs(classifier, generated)
    out = {
        "accuracy": float((logits.argmax(1) == labels.cpu()).float().mean()),
        "per_class": _per_class(logits.argmax(1), labels.cpu(), logits.shape[1]),
        "frechet": {"generated": frechet_distance(features, base)},
        "clips": len(generated),
        "real_clips": len(real),
    }
    generator = torch.Generator().manual_seed(seed)
    others = {
        "real": lambda: real[half:],
        "shuffled": lambda: shuffled_in_time(real[half:], seed),
        "noise": lambda: torch.rand(real[half:].shape, generator=generator).to(real.device),
    }
    for name in references:
        if name not in others:
            raise BadValueError(f"unknown reference {name!r}; choose from {tuple(others)}")
        features, _ = classifier_outputs(classifier, others[name]())
        out["frechet"][name] = frechet_distance(features, base)
    return out


def _per_class(predicted: torch.Tensor, labels: torch.Tensor, k: int) -> list[float | None]:
    """Accuracy per asked class (None for a class not asked for)."""
    return [
        float((predicted[labels == c] == c).float().mean()) if bool((labels == c).any()) else None
        for c in range(k)
    ]
