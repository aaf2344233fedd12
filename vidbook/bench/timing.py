"""Clocks that count finished work, and the JSON files the measurements are written to.

On CUDA and MPS, work is queued and runs later; ``clock`` reads ``time.perf_counter()`` only
after the device has finished what was queued, so a timed loop measures work done, not work
handed over. ``write_json`` writes results atomically (a reader sees the old file or the new).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from vidbook import runtime


def synchronize(dev: torch.device) -> None:
    """Wait for the device's queued work (CUDA, MPS); nothing to wait for on the CPU."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


def clock(dev: torch.device) -> float:
    """``time.perf_counter()`` after the device has finished its queued work."""
    synchronize(dev)
    return time.perf_counter()


def timed_loop(
    work: Callable[[], None], dev: torch.device, min_count: int, seconds: float | None
) -> tuple[int, float]:
    """Call ``work`` at least ``min_count`` times and, with ``seconds``, until that much time
    has passed; return (calls, elapsed seconds)."""
    count, start = 0, clock(dev)
    elapsed = 0.0
    while count < min_count or (seconds is not None and elapsed < seconds):
        work()
        count += 1
        elapsed = clock(dev) - start
    return count, max(elapsed, 1e-9)


def count_host_syncs(step: Callable[[], None], dev: torch.device) -> int | None:
    """Calls in one ``step`` that made the host wait for the GPU (CUDA only, else None)."""
    if dev.type != "cuda":
        return None
    synchronize(dev)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def write_json(data: dict, path: str | os.PathLike) -> Path:
    """Write ``data`` as JSON to ``path`` atomically: a temporary file, then ``os.replace``.

    Parent folders are created. A reader sees the old file or the new one, never half of one.
    NaN and infinity are refused (ValueError): they are not JSON.
    """

    def dump(f) -> None:
        json.dump(data, f, indent=1, allow_nan=False)
        f.write("\n")

    return runtime.atomic_write(path, dump)
