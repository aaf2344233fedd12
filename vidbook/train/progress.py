"""What the Trainer shows while it trains: a tqdm bar per epoch and one line per finished epoch.

Shown on a terminal or in Jupyter (``progress="auto"``), never by the other processes of a
``torchrun`` job; ``progress=False`` keeps a run silent.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from vidbook.distributed import is_main_process


def _in_jupyter() -> bool:
    """True inside a Jupyter (ipykernel) kernel."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def progress_on(setting: str | bool) -> bool:
    """Whether to show progress for ``TrainConfig.progress`` = ``setting`` in this process."""
    if not is_main_process():  # under torchrun only rank 0 shows progress
        return False
    if setting == "auto":
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(isatty and isatty()) or _in_jupyter()
    return bool(setting)


def progress_bar(data: Iterable, total: int | None, epoch: int, epochs: int) -> Any:
    """A tqdm bar over ``data`` (``total`` batches) for epoch ``epoch`` (counted from 1)."""
    from tqdm.auto import tqdm

    return tqdm(data, total=total, desc=f"epoch {epoch}/{epochs}", leave=True, dynamic_ncols=True)


def epoch_line(row: dict, epochs: int, time_limit_s: float | None, elapsed: float) -> str:
    """The summary of one history row, e.g. ``epoch 2/3: train loss 0.41 acc 0.88 | ...``."""

    def acc(value: float | None) -> str:
        return f" acc {value:.3f}" if value is not None else ""

    val = (
        f" | val loss {row['val_loss']:.4f}{acc(row['val_acc'])}"
        if row["val_loss"] is not None
        else ""
    )
    line = (
        f"epoch {row['epoch']}/{epochs}: train loss {row['train_loss']:.4f}"
        f"{acc(row['train_acc'])}{val} | {row['seconds']:.1f} s, "
        f"{row['clips_per_s']:.0f} clips/s, lr {row['lr']:.2e}"
    )
    if row["stopped"] == "time_limit":
        line += (
            f"\nstopped: time_limit_s={time_limit_s:g} reached after "
            f"{elapsed:.0f} s (resume=True with a checkpoint_dir continues)"
        )
    return line


def write_line(line: str) -> None:
    """Print ``line`` without breaking an open tqdm bar."""
    from tqdm.auto import tqdm

    tqdm.write(line)
