"""How fast the book's pieces run here: clip rendering and model training, in clips per second.

``render_throughput`` times ``SynthActions.batch`` (the procedural data), ``train_throughput``
times full training steps of one model on random clips, and ``run`` does both and adds where
the numbers came from (``vidbook.runtime.provenance``), optionally writing them as JSON. The
``vidbook bench`` command prints them as a table.

Clips are ``(B, 3, T, H, W)`` float32 tensors throughout. On CUDA the clock is read only after
``torch.cuda.synchronize()``, so the numbers count finished work, not queued kernels.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidbook import runtime
from vidbook.data.synth import CLASSES, SynthActions
from vidbook.models import build_for_clips

DEFAULT_MODELS: tuple[str, ...] = ("c3d", "frame_cnn")
# Render batches take consecutive index ranges of one split this large: never the same clip twice.
_RENDER_SPLIT_SIZE = 1 << 39


# --------------------------------------------------------------------------------------------
# Small helpers: arguments, devices, clocks
# --------------------------------------------------------------------------------------------
def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_seconds(name: str, value: object) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def resolve_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` as a ``torch.device`` (default: ``runtime.device()``); ValueError if unusable."""
    if device is None:
        return runtime.device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device {device!r} is not a torch device: {err}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} is not available: torch sees no CUDA GPU here")
    mps = getattr(torch.backends, "mps", None)
    if dev.type == "mps" and not (mps is not None and mps.is_available()):
        raise ValueError(f"device {device!r} is not available: torch sees no Apple MPS device")
    return dev


def synchronize(dev: torch.device) -> None:
    """Wait for the device's queued work (CUDA, MPS); nothing to wait for on the CPU."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


def _clock(dev: torch.device) -> float:
    """``time.perf_counter()`` after the device has finished its queued work."""
    synchronize(dev)
    return time.perf_counter()


def _timed_loop(
    work: Callable[[], None], dev: torch.device, min_count: int, seconds: float | None
) -> tuple[int, float]:
    """Call ``work`` at least ``min_count`` times and, with ``seconds``, until that much time
    has passed; return (calls, elapsed seconds)."""
    count, start = 0, _clock(dev)
    elapsed = 0.0
    while count < min_count or (seconds is not None and elapsed < seconds):
        work()
        count += 1
        elapsed = _clock(dev) - start
    return count, max(elapsed, 1e-9)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------
def render_throughput(
    batch_size: int = 256,
    frames: int = 16,
    height: int = 32,
    width: int = 32,
    difficulty: str = "medium",
    device: torch.device | str | None = None,
    seconds: float = 3.0,
    warmup: int = 1,
) -> dict:
    """Clips per second of ``SynthActions.batch(indices, device, captions=False)``.

    Renders ``warmup`` untimed batches (caches, kernels), then timed batches of ``batch_size``
    clips ``(batch_size, 3, frames, height, width)`` for ``seconds`` (at least one batch). Every
    batch takes the next range of indices, so no clip is drawn twice. Returns ``clips_per_s``,
    ``ms_per_batch``, ``batch_size``, ``frames``, ``height``, ``width``, ``difficulty``,
    ``device``, ``seconds`` (measured), ``batches`` and ``clips`` (timed ones).
    """
    batch_size = _check_int("batch_size", batch_size, 1)
    warmup = _check_int("warmup", warmup, 0)
    seconds = _check_seconds("seconds", seconds)
    dev = resolve_device(device)
    ds = SynthActions(
        "train",
        size=_RENDER_SPLIT_SIZE,
        frames=frames,
        height=height,
        width=width,
        difficulty=difficulty,
    )
    next_start = 0

    def render_next() -> None:
        nonlocal next_start
        indices = np.arange(next_start, next_start + batch_size, dtype=np.int64)
        next_start += batch_size
        ds.batch(indices, device=dev, captions=False)

    for _ in range(warmup):
        render_next()
    batches, elapsed = _timed_loop(render_next, dev, min_count=1, seconds=seconds)
    return {
        "clips_per_s": batches * batch_size / elapsed,
        "ms_per_batch": 1000 * elapsed / batches,
        "batch_size": batch_size,
        "frames": ds.frames,
        "height": ds.height,
        "width": ds.width,
        "difficulty": difficulty,
        "device": str(dev),
        "seconds": elapsed,
        "batches": batches,
        "clips": batches * batch_size,
    }


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def _random_batch(
    batch_size: int, frames: int, height: int, width: int, dev: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random clips ``(B, 3, T, H, W)`` in [0, 1) and labels ``(B,)``, on ``dev``."""
    gen = torch.Generator().manual_seed(0)
    clips = torch.rand(batch_size, 3, frames, height, width, generator=gen)
    labels = torch.randint(len(CLASSES), (batch_size,), generator=gen)
    return clips.to(dev), labels.to(dev)


def _train_step_fn(
    model: torch.nn.Module, clips: torch.Tensor, labels: torch.Tensor, dev: torch.device
) -> Callable[[], None]:
    """One AdamW training step on ``(clips, labels)``, as the Trainer does it (bf16 on CUDA)."""
    cuda = dev.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=cuda)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cuda):
            logits = model(clips)  # (B, K)
        loss = F.cross_entropy(logits.float(), labels)
        loss.backward()
        optimizer.step()

    return step


def train_throughput(
    model_name: str,
    batch_size: int = 32,
    frames: int = 16,
    height: int = 32,
    width: int = 32,
    device: torch.device | str | None = None,
    steps: int = 10,
    warmup: int = 3,
    seconds: float | None = None,
) -> dict:
    """Training clips per second of model ``model_name`` (``vidbook.models.build``).

    A step is forward, cross-entropy, backward and an AdamW update on one fixed batch of random
    clips ``(batch_size, 3, frames, height, width)`` (bf16 autocast on CUDA only; cuDNN's
    autotuner on, as in the Trainer). ``warmup`` untimed steps, then at least ``steps`` timed
    ones, and with ``seconds`` as many more as fit in that time. Returns ``clips_per_s``,
    ``ms_per_step``, ``parameters``, ``peak_memory_bytes`` (CUDA, else None), ``amp``,
    ``model``, ``batch_size``, ``frames``, ``height``, ``width``, ``device``, ``steps`` (timed)
    and ``seconds`` (measured).
    """
    batch_size = _check_int("batch_size", batch_size, 1)
    frames = _check_int("frames", frames, 1)
    height = _check_int("height", height, 1)
    width = _check_int("width", width, 1)
    steps = _check_int("steps", steps, 1)
    warmup = _check_int("warmup", warmup, 0)
    if seconds is not None:
        seconds = _check_seconds("seconds", seconds)
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    model = build_for_clips(model_name, len(CLASSES), frames, height, width).to(dev).train()
    clips, labels = _random_batch(batch_size, frames, height, width, dev)
    step = _train_step_fn(model, clips, labels, dev)
    for _ in range(warmup):
        step()
    timed, elapsed = _timed_loop(step, dev, min_count=steps, seconds=seconds)
    return {
        "model": model_name,
        "clips_per_s": timed * batch_size / elapsed,
        "ms_per_step": 1000 * elapsed / timed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "peak_memory_bytes": torch.cuda.max_memory_allocated(dev) if cuda else None,
        "amp": "bf16" if cuda else "off",
        "batch_size": batch_size,
        "frames": frames,
        "height": height,
        "width": width,
        "device": str(dev),
        "steps": timed,
        "seconds": elapsed,
    }


# --------------------------------------------------------------------------------------------
# Both, with provenance, to JSON
# --------------------------------------------------------------------------------------------
def write_json(data: dict, path: str | os.PathLike) -> Path:
    """Write ``data`` as JSON to ``path`` atomically: a temporary file, then ``os.replace``.

    Parent folders are created. A reader sees the old file or the new one, never half of one.
    """

    def dump(f) -> None:
        json.dump(data, f, indent=1, allow_nan=False)
        f.write("\n")

    return runtime.atomic_write(path, dump)


def run(
    models: Sequence[str] = DEFAULT_MODELS,
    render: bool = True,
    batch_size: int | None = None,
    frames: int = 16,
    height: int = 32,
    width: int = 32,
    difficulty: str = "medium",
    device: torch.device | str | None = None,
    seconds: float = 3.0,
    steps: int = 10,
    warmup: int | None = None,
    out: str | os.PathLike | None = None,
    command: str | None = None,
) -> dict:
    """Render and training throughput of ``models``, with provenance; JSON to ``out`` if given.

    ``batch_size`` and ``warmup`` (None: 256 clips and 1 batch for rendering, 32 clips and 3
    steps for training) apply to both measurements; ``seconds`` is the rendering time and the
    least training time per model. Returns ``{"device": str, "device_name": str, "render": dict
    | None, "train": {name: dict}, "provenance": dict}``, see ``render_throughput``, ``train_throughput`` and
    ``vidbook.runtime.provenance(command)``.
    """
    models = [models] if isinstance(models, str) else list(models)
    dev = resolve_device(device)
    size = {"frames": frames, "height": height, "width": width}
    shared = {k: v for k, v in (("batch_size", batch_size), ("warmup", warmup)) if v is not None}
    result: dict = {
        "device": str(dev),
        "device_name": runtime.device_name(dev),
        "render": None,
        "train": {},
    }
    if render:
        result["render"] = render_throughput(
            **size, **shared, difficulty=difficulty, device=dev, seconds=seconds
        )
    for name in models:
        result["train"][name] = train_throughput(
            name, **size, **shared, device=dev, steps=steps, seconds=seconds
        )
    result["provenance"] = runtime.provenance(command)
    if out is not None:
        write_json(result, out)
    return result
