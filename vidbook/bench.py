"""How fast the book's pieces run here: clip rendering and model training, in clips per second.

``render_throughput`` times ``SynthActions.batch`` (the procedural data), ``train_throughput``
times full training steps of one model on random clips, and ``run`` does both and adds where
the numbers came from (``vidbook.runtime.provenance``), optionally writing them as JSON. The
``vidbook bench`` command prints them as a table.

Clips are ``(B, 3, T, H, W)`` float32 tensors throughout. On CUDA the clock is read only after
``torch.cuda.synchronize()``, so the numbers count finished work, not queued kernels.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from vidbook import runtime
from vidbook.data.synth import CLASSES, SynthActions
from vidbook.errors import BadValueError
from vidbook.models import build_for_clips
from vidbook.models.flops import clip_flops

DEFAULT_MODELS: tuple[str, ...] = ("c3d", "frame_cnn")
# Render batches take consecutive index ranges of one split this large: never the same clip twice.
_RENDER_SPLIT_SIZE = 1 << 39


# --------------------------------------------------------------------------------------------
# Small helpers: arguments, devices, clocks
# --------------------------------------------------------------------------------------------
def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise BadValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_seconds(name: str, value: object) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise BadValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def resolve_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` as a ``torch.device`` (default: ``runtime.device()``); a ValueError naming the
    available devices if unusable (``vidbook.runtime.resolve_device``)."""
    return runtime.resolve_device(device)


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
# Dense bf16 peak TFLOP/s (vendor figures) of the GPUs MFU is reported for; first match wins, so
# the PCIe H100 (a lower clock and power) is listed before the SXM one.
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIE", 756.0),
    ("H100", 989.0),
    ("H200", 989.0),
    ("A100", 312.0),
)
# The steps of the speed-up ladder: each adds one fast path to the one before.
LADDER: tuple[dict, ...] = (
    {"name": "fp32", "amp": "off", "fused": False, "compile": False},
    {"name": "+ bf16 autocast", "amp": "bf16", "fused": False, "compile": False},
    {"name": "+ fused kernels", "amp": "bf16", "fused": True, "compile": False},
    {"name": "+ torch.compile", "amp": "bf16", "fused": True, "compile": True},
)
SOURCES = ("vidbook", "torchvision")


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU named ``device_name`` (None: not in the table, or a CPU)."""
    name = device_name.upper()
    return next((peak for key, peak in PEAK_BF16_TFLOPS if key in name), None)


def _random_batch(
    batch_size: int, frames: int, height: int, width: int, dev: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random clips ``(B, 3, T, H, W)`` in [0, 1) and labels ``(B,)``, on ``dev``."""
    gen = torch.Generator().manual_seed(0)
    clips = torch.rand(batch_size, 3, frames, height, width, generator=gen)
    labels = torch.randint(len(CLASSES), (batch_size,), generator=gen)
    return clips.to(dev), labels.to(dev)


def _constructor(
    name: str, source: str, frames: int, height: int, width: int, model_cfg: dict
) -> Callable[[], torch.nn.Module]:
    """A function that builds model ``name`` for the clip size, from vidbook or torchvision."""
    if source not in SOURCES:
        raise BadValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source == "vidbook":
        return lambda: build_for_clips(name, len(CLASSES), frames, height, width, **model_cfg)
    try:
        import torchvision.models.video as tv_video
    except ImportError as err:
        raise BadValueError(
            "source='torchvision' needs torchvision, which is not installed here (it is never a "
            f"dependency of vidbook): {err}"
        ) from err
    if not hasattr(tv_video, name):
        raise BadValueError(f"torchvision.models.video has no model {name!r}")
    return lambda: getattr(tv_video, name)(num_classes=len(CLASSES), **model_cfg)


def _train_step_fn(
    model: torch.nn.Module,
    clips: torch.Tensor,
    labels: torch.Tensor,
    dev: torch.device,
    amp: str,
    fused: bool,
) -> Callable[[], None]:
    """One AdamW training step on ``(clips, labels)``, as the Trainer takes it: autocast per
    ``amp``; with ``fused`` the fused AdamW on CUDA and any attention kernel, else the plain
    ("math") attention and the multi-tensor AdamW. Nothing in it waits for the device."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=fused and dev.type == "cuda")
    use_amp = amp == "bf16"
    backends = None if fused else [SDPBackend.MATH]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        attention = sdpa_kernel(backends) if backends else contextlib.nullcontext()
        with attention, torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = model(clips)  # (B, K)
        loss = F.cross_entropy(logits.float(), labels)
        loss.backward()
        optimizer.step()

    return step


def _count_host_syncs(step: Callable[[], None], dev: torch.device) -> int | None:
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
    variant: str | None = None,
    amp: str = "auto",
    fused: bool = True,
    compile: bool | str = False,
    source: str = "vidbook",
) -> dict:
    """Training clips per second, achieved TFLOP/s and MFU of model ``model_name``.

    A step is forward, cross-entropy, backward and an AdamW update on one fixed batch of random
    clips ``(batch_size, 3, frames, height, width)``. ``amp``: ``"auto"`` (bf16 autocast on
    CUDA, off elsewhere), ``"bf16"`` or ``"off"``. ``fused`` (default): channels-last-3d memory
    for the 3D CNNs that have it, any ``scaled_dot_product_attention`` kernel (FlashAttention on
    a GPU) and the fused AdamW on CUDA; False: standard memory, the plain attention, the
    multi-tensor AdamW. ``compile``: ``torch.compile`` the model (True: the default backend,
    inductor; a string: that backend, e.g. ``"eager"`` to test the plumbing); compilation falls in
    the warm-up. ``source``: ``"vidbook"`` (``variant`` picks a size) or ``"torchvision"`` (its
    ``torchvision.models.video`` model of that name, if installed).

    ``warmup`` untimed steps, then at least ``steps`` timed ones, and with ``seconds`` as many
    more as fit in that time. FLOPs are counted once, by ``torch.utils.flop_counter`` (forward and
    backward, per clip); ``tflops`` is FLOPs per step / seconds per step, ``mfu`` that over the
    device's bf16 peak (None on a CPU or a GPU not in ``PEAK_BF16_TFLOPS``). Returns those and
    ``clips_per_s``, ``ms_per_step``, ``parameters``, ``peak_memory_bytes`` (CUDA, else None),
    ``host_syncs_per_step`` (CUDA, else None), ``warmup_seconds`` and the settings.
    """
    batch_size = _check_int("batch_size", batch_size, 1)
    frames = _check_int("frames", frames, 1)
    height = _check_int("height", height, 1)
    width = _check_int("width", width, 1)
    steps = _check_int("steps", steps, 1)
    warmup = _check_int("warmup", warmup, 0)
    if seconds is not None:
        seconds = _check_seconds("seconds", seconds)
    if amp not in ("auto", "bf16", "off"):
        raise BadValueError(f"amp must be 'auto', 'bf16' or 'off', got {amp!r}")
    if source == "torchvision" and variant is not None:
        raise BadValueError("variant is for vidbook's models; torchvision's come in one size")
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    amp = ("bf16" if cuda else "off") if amp == "auto" else amp
    model_cfg = {} if variant is None else {"variant": variant}
    make = _constructor(model_name, source, frames, height, width, model_cfg)
    with torch.device("meta"):
        meta = make()
        has_channels_last = hasattr(getattr(meta, "cfg", None), "channels_last")
        if source == "vidbook" and has_channels_last and not fused:
            model_cfg["channels_last"] = False
            meta = make()
        flops_per_clip = clip_flops(meta, frames, height, width, backward=True)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    model = make().to(dev).train()
    clips, labels = _random_batch(batch_size, frames, height, width, dev)
    if compile:
        backend = compile if isinstance(compile, str) else "inductor"
        step_model = torch.compile(model, backend=backend)
    else:
        step_model = model
    step = _train_step_fn(step_model, clips, labels, dev, amp, fused)
    start = _clock(dev)
    for _ in range(warmup):
        step()
    warmup_seconds = _clock(dev) - start
    host_syncs = _count_host_syncs(step, dev)
    timed, elapsed = _timed_loop(step, dev, min_count=steps, seconds=seconds)
    tflops = flops_per_clip * batch_size * timed / elapsed / 1e12
    peak = peak_tflops(runtime.device_name(dev)) if cuda else None
    return {
        "model": model_name,
        "source": source,
        "variant": variant,
        "clips_per_s": timed * batch_size / elapsed,
        "ms_per_step": 1000 * elapsed / timed,
        "flops_per_clip": flops_per_clip,
        "tflops": tflops,
        "peak_tflops": peak,
        "mfu": tflops / peak if peak and amp == "bf16" else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "peak_memory_bytes": torch.cuda.max_memory_allocated(dev) if cuda else None,
        "host_syncs_per_step": host_syncs,
        "amp": amp,
        "fused": fused,
        "channels_last": bool(getattr(getattr(model, "cfg", None), "channels_last", False)),
        "compile": compile,
        "batch_size": batch_size,
        "frames": frames,
        "height": height,
        "width": width,
        "device": str(dev),
        "steps": timed,
        "seconds": elapsed,
        "warmup_seconds": warmup_seconds,
    }


def ladder(
    model_name: str,
    rungs: Sequence[str] | None = None,
    compile_backend: str = "inductor",
    **kwargs,
) -> list[dict]:
    """``train_throughput`` of one model at each step of ``LADDER`` (or the named ``rungs``):
    fp32, then bf16 autocast, then fused kernels, then ``torch.compile`` (``compile_backend``,
    default inductor). Each row adds ``rung`` (its name) and ``speedup`` (clips/s over the first
    row's)."""
    known = [r["name"] for r in LADDER]
    rungs = known if rungs is None else list(rungs)
    for rung in rungs:
        if rung not in known:
            raise BadValueError(f"unknown rung {rung!r}; the ladder's rungs are {known}")
    rows = []
    for rung in (r for r in LADDER if r["name"] in rungs):
        settings = {k: v for k, v in rung.items() if k != "name"}
        settings["compile"] = compile_backend if settings["compile"] else False
        row = {"rung": rung["name"], **train_throughput(model_name, **kwargs, **settings)}
        row["speedup"] = row["clips_per_s"] / rows[0]["clips_per_s"] if rows else 1.0
        rows.append(row)
    return rows


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
    variant: str | None = None,
    compile: bool | str = False,
    torchvision: bool = False,
    ladder_models: Sequence[str] = (),
    out: str | os.PathLike | None = None,
    command: str | None = None,
) -> dict:
    """Render and training throughput of ``models``, with provenance; JSON to ``out`` if given.

    ``batch_size`` and ``warmup`` (None: 256 clips and 1 batch for rendering, 32 clips and 3
    steps for training) apply to both measurements; ``seconds`` is the rendering time and the
    least training time per model. ``variant`` and ``compile`` go to every vidbook model.
    ``torchvision``: also time torchvision's model of the same name, where it has one, under
    ``"torchvision/<name>"``, and give ours ``vs_torchvision`` (the ratio of clips/s).
    ``ladder_models``: models to run ``ladder`` on. Returns ``{"device", "device_name",
    "peak_tflops", "render": dict | None, "train": {name: dict}, "ladder": {name: [dict]},
    "provenance"}``, see ``render_throughput``, ``train_throughput``, ``ladder`` and
    ``vidbook.runtime.provenance(command)``.
    """
    models = [models] if isinstance(models, str) else list(models)
    if torchvision and importlib.util.find_spec("torchvision") is None:
        raise BadValueError(
            "torchvision=True compares with torchvision's models, but torchvision is not installed "
            "here (it is never a dependency of vidbook)"
        )
    dev = resolve_device(device)
    size = {"frames": frames, "height": height, "width": width}
    shared = {k: v for k, v in (("batch_size", batch_size), ("warmup", warmup)) if v is not None}
    timing = {**size, **shared, "device": dev, "steps": steps, "seconds": seconds}
    name = runtime.device_name(dev)
    result: dict = {
        "device": str(dev),
        "device_name": name,
        "peak_tflops": peak_tflops(name) if dev.type == "cuda" else None,
        "render": None,
        "train": {},
        "ladder": {},
    }
    if render:
        result["render"] = render_throughput(
            **size, **shared, difficulty=difficulty, device=dev, seconds=seconds
        )
    for model in models:
        ours = train_throughput(model, **timing, variant=variant, compile=compile)
        result["train"][model] = ours
        if torchvision and (theirs := _torchvision_peer(ours, **timing, compile=compile)):
            result["train"][f"torchvision/{model}"] = theirs
    for model in ladder_models:
        result["ladder"][model] = ladder(model, **timing, variant=variant)
    result["provenance"] = runtime.provenance(command)
    if out is not None:
        write_json(result, out)
    return result


def _torchvision_peer(ours: dict, **kwargs) -> dict | None:
    """``train_throughput`` of torchvision's model of the name of ``ours`` (a result row), with
    ``kwargs``; adds ``vs_torchvision`` (our clips/s over theirs) to ``ours``. None if
    torchvision is missing or has no such model."""
    if not _torchvision_has(ours["model"]):
        return None
    theirs = train_throughput(ours["model"], source="torchvision", **kwargs)
    ours["vs_torchvision"] = ours["clips_per_s"] / theirs["clips_per_s"]
    return theirs


def _torchvision_has(name: str) -> bool:
    """Whether torchvision is installed and has a video model ``name``."""
    try:
        import torchvision.models.video as tv_video
    except ImportError:
        return False
    return hasattr(tv_video, name)


# --------------------------------------------------------------------------------------------
# The suites behind data/results/bench-<device>.json
# --------------------------------------------------------------------------------------------
_ZOO = ("frame_cnn", "c3d", "r3d_18", "r2plus1d_18", "timesformer", "vivit")
# What ``suite`` measures on each kind of device: the book's CPU scale (tiny models, 32 x 32
# clips), and published scale on a GPU (base models, 112 x 112 clips; the transformers also at
# 224 x 224, ViT-B's pre-training resolution). "smoke" is no measurement: the same steps at toy
# sizes (4 x 16 x 16 clips, batches of 2, torch.compile's "eager" backend), chosen by name only
# (``plan`` or $VIDBOOK_SUITE), to check on a CPU that the GPU suite's code path runs end to end.
# A plan may also give ``render_frames`` (default 16) and ``compile_backend`` (default inductor).
SUITE_ENV = "VIDBOOK_SUITE"
_SMOKE_CLIP = {"variant": "tiny", "frames": 4, "size": 16}
SUITES: dict[str, dict] = {
    "cpu": {
        "runs": [{"model": m, "variant": "tiny", "frames": 16, "size": 32} for m in _ZOO],
        "batch_size": 32,
        "render_sizes": [32, 112],
        "ladder": [
            {"model": m, "variant": "tiny", "frames": 16, "size": 32}
            for m in ("r2plus1d_18", "vivit")
        ],
    },
    "cuda": {
        "runs": [{"model": m, "variant": "base", "frames": 16, "size": 112} for m in _ZOO]
        + [
            {"model": m, "variant": "base", "frames": 16, "size": 224}
            for m in ("timesformer", "vivit")
        ],
        "batch_size": 32,
        "render_sizes": [112, 224],
        "ladder": [
            {"model": m, "variant": "base", "frames": 16, "size": 112}
            for m in ("r2plus1d_18", "vivit")
        ],
    },
    "smoke": {
        "runs": [{"model": m, **_SMOKE_CLIP} for m in _ZOO],
        "batch_size": 2,
        "render_sizes": [16],
        "render_frames": 4,
        "ladder": [{"model": m, **_SMOKE_CLIP} for m in ("r2plus1d_18", "vivit")],
        "compile_backend": "eager",
    },
}


def device_slug(dev: torch.device) -> str:
    """A short file-name part for a device: ``cpu``, ``mps`` or the GPU's model (``h100``)."""
    if dev.type != "cuda":
        return dev.type
    name = runtime.device_name(dev).upper()
    for key in ("H200", "H100", "A100", "L40S", "L4", "A10G", "V100", "T4"):
        if key in name:
            return key.lower()
    return "cuda"


def suite(
    device: torch.device | str | None = None,
    out_dir: str | os.PathLike | None = None,
    seconds: float = 5.0,
    steps: int = 10,
    warmup: int = 3,
    compile_ladder: bool = True,
    runs: Sequence[dict] | None = None,
    ladders: Sequence[dict] | None = None,
    command: str | None = None,
    plan: str | None = None,
) -> dict:
    """Measure the device's suite (``SUITES["cpu"]`` or ``SUITES["cuda"]``) and write it to
    ``out_dir/bench-<device_slug>.json``.

    ``plan`` names another entry of ``SUITES`` (None: the environment variable
    ``VIDBOOK_SUITE`` if set and not empty, else the device's): ``"smoke"`` runs every step at
    toy sizes, on any device; ``"cuda"`` needs a CUDA device. ValueError for an unknown name.

    Rendering at each of ``render_sizes``; one ``train_throughput`` row per run (with
    torchvision's model of the same name beside ours where torchvision is installed, and
    ``vs_torchvision``); the speed-up ladder of each ``ladder`` entry (the compile rung only with
    ``compile_ladder``). ``runs`` and ``ladders`` replace the suite's (``{"model", "variant",
    "frames", "size"}`` each). Returns the JSON's dict:
    ``suite``, ``device``, ``device_name``, ``peak_tflops``, ``render`` (list), ``train``
    (list), ``ladder`` (list of ``{"model", "variant", "frames", "size", "rows"}``) and
    ``provenance``.
    """
    dev = resolve_device(device)
    suite_name = _suite_name(plan, dev)
    spec = SUITES[suite_name]
    runs = spec["runs"] if runs is None else list(runs)
    ladders = spec["ladder"] if ladders is None else list(ladders)
    batch = spec["batch_size"]
    timing = {"device": dev, "seconds": seconds, "steps": steps, "warmup": warmup}
    name = runtime.device_name(dev)
    result: dict = {
        "suite": suite_name,
        "device": str(dev),
        "device_name": name,
        "peak_tflops": peak_tflops(name) if dev.type == "cuda" else None,
        "render": [],
        "train": [],
        "ladder": [],
    }
    render_frames = spec.get("render_frames", 16)
    for size in spec["render_sizes"]:
        result["render"].append(
            render_throughput(
                batch_size=batch,
                frames=render_frames,
                height=size,
                width=size,
                device=dev,
                seconds=seconds,
            )
        )
    for run_ in runs:
        shape = {"frames": run_["frames"], "height": run_["size"], "width": run_["size"]}
        ours = train_throughput(
            run_["model"], batch_size=batch, variant=run_["variant"], **shape, **timing
        )
        result["train"].append(ours)
        if theirs := _torchvision_peer(ours, batch_size=batch, **shape, **timing):
            result["train"].append(theirs)
    rungs = [r["name"] for r in LADDER if compile_ladder or not r["compile"]]
    for entry in ladders:
        shape = {"frames": entry["frames"], "height": entry["size"], "width": entry["size"]}
        rows = ladder(
            entry["model"],
            rungs=rungs,
            compile_backend=spec.get("compile_backend", "inductor"),
            batch_size=batch,
            variant=entry["variant"],
            **shape,
            **timing,
        )
        result["ladder"].append({**entry, "rows": rows})
    result["provenance"] = runtime.provenance(command)
    if out_dir is not None:
        write_json(result, Path(out_dir) / f"bench-{device_slug(dev)}.json")
    return result


def _suite_name(plan: str | None, dev: torch.device) -> str:
    """The ``SUITES`` entry ``suite`` runs: ``plan``, else $VIDBOOK_SUITE, else the device's."""
    if plan is None:
        plan = os.environ.get(SUITE_ENV) or None
    if plan is None:
        return "cuda" if dev.type == "cuda" else "cpu"
    if plan not in SUITES:
        raise BadValueError(
            f"unknown suite {plan!r} (from plan= or ${SUITE_ENV}); the suites are {list(SUITES)}"
        )
    if plan == "cuda" and dev.type != "cuda":
        raise BadValueError(f"the cuda suite needs a CUDA device, not {dev}")
    return plan
