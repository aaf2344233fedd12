"""Training curves and confusion matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from vidbook.errors import BadValueError


def plot_history(
    histories: Mapping[str, Sequence[Mapping]],
    metrics: Sequence[str] = ("train_loss", "val_acc"),
    x: str = "epoch",
    axes=None,
):
    """One panel per metric, one line per run: ``histories = {"c3d": trainer.history, ...}``."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
        axes = axes[0]
    for ax, metric in zip(axes, metrics, strict=True):
        for name, rows in histories.items():
            points = [(r[x], r[metric]) for r in rows if r.get(metric) is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", ms=3, label=name)
        ax.set_xlabel(x.replace("_", " "))
        ax.set_title(metric.replace("_", " "))
        ax.grid(alpha=0.3)
        if metric.endswith("acc"):
            ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
    return axes


def plot_confusion(
    confusion: torch.Tensor, classes: Sequence[str], ax=None, title: str | None = None
):
    """A (K, K) confusion matrix (rows = true class) as a heat map with row-normalised counts."""
    import matplotlib.pyplot as plt

    conf = torch.as_tensor(confusion).float()
    if conf.ndim != 2 or conf.shape[0] != conf.shape[1] or conf.shape[0] != len(classes):
        raise BadValueError(
            f"expected a ({len(classes)}, {len(classes)}) confusion matrix, got {tuple(conf.shape)}"
        )
    rates = conf / conf.sum(1, keepdim=True).clamp_min(1)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            if rates[i, j] >= 0.05:
                ax.text(
                    j,
                    i,
                    f"{rates[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=5,
                    color="white" if rates[i, j] > 0.5 else "black",
                )
    if title:
        ax.set_title(title, fontsize=9)
    return ax
