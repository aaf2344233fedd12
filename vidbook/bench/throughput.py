"""Clips per second of rendering and of training, TFLOP/s and MFU, and the speed-up ladder.

``render_throughput`` times ``SynthActions.batch`` (the procedural data), ``train_throughput``
times full training steps of one model on random clips, and ``ladder`` times one model at each
step of fp32 -> bf16 autocast -> fused kernels -> ``torch.compile``. Clips are ``(B, 3, T, H, W)``
float32 tensors of one :class:`~vidbook.clip_shape.ClipShape` ``(T, H, W)`` throughout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from vidbook import runtime
from vidbook.bench.timing import clock, count_host_syncs, timed_loop
from vidbook.checks import check_int, check_positive
from vidbook.clip_shape import ClipShape
from vidbook.data.scenes import SynthScenes
from vidbook.data.synth import CLASSES, SynthActions
from vidbook.errors import BadValueError
from vidbook.models import build_for_clips
from vidbook.models.flops import clip_flops

# Render batches take consecutive index ranges of one split this large: never the same clip twice.
_RENDER_SPLIT_SIZE = 1 << 39
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
# The book's CPU-scale clip: 16 frames of 32 x 32 pixels.
DEFAULT_CLIP_SHAPE = ClipShape(16, 32, 32)


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU named ``device_name`` (None: not in the table, or a CPU)."""
    name = device_name.upper()
    return next((peak for key, peak in PEAK_BF16_TFLOPS if key in name), None)


def as_clip_shape(value: ClipShape | Sequence[int]) -> ClipShape:
    """``value`` as a ClipShape: one as is, or ``(frames, height, width)``; BadValueError else."""
    if isinstance(value, (tuple, list)) and len(value) == 3:
        return ClipShape(*value)
    if not isinstance(value, ClipShape):
        raise BadValueError(
            f"clip_shape must be a ClipShape or (frames, height, width), got {value!r}"
        )
    return value


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------
def render_throughput(
    clip_shape: ClipShape = DEFAULT_CLIP_SHAPE,
    batch_size: int = 256,
    difficulty: str = "medium",
    device: torch.device | str | None = None,
    seconds: float = 3.0,
    warmup: int = 1,
    actors: int | None = None,
) -> dict:
    """Clips per second of ``SynthActions.batch(indices, device, captions=False)``, or, with
    ``actors`` = k, of ``SynthScenes(actors=(k, k)).batch(indices, device, captions=False)``.

    Renders ``warmup`` untimed batches (caches, kernels), then timed batches of ``batch_size``
    clips of ``clip_shape`` for ``seconds`` (at least one batch). Every batch takes the next
    range of indices, so no clip is drawn twice. Returns ``clips_per_s``, ``ms_per_batch``,
    ``batch_size``, ``frames``, ``height``, ``width``, ``difficulty``, ``world`` ("actions" or
    "scenes"), ``actors``, ``device``, ``seconds`` (measured), ``batches`` and ``clips`` (timed).
    """
    shape = as_clip_shape(clip_shape)
    batch_size = check_int("batch_size", batch_size, 1)
    warmup = check_int("warmup", warmup, 0)
    seconds = check_positive("seconds", seconds, unit="seconds")
    dev = runtime.resolve_device(device)
    if actors is None:
        ds = SynthActions("train", size=_RENDER_SPLIT_SIZE, difficulty=difficulty, clip_shape=shape)
        draw = {"captions": False}
    else:
        actors = check_int("actors", actors, 1)
        ds = SynthScenes("train", size=_RENDER_SPLIT_SIZE, clip_shape=shape, actors=(actors, actors),
                         difficulty=difficulty)  # fmt: skip
        draw = {"captions": False}
    next_start = 0

    def render_next() -> None:
        nonlocal next_start
        indices = np.arange(next_start, next_start + batch_size, dtype=np.int64)
        next_start += batch_size
        ds.batch(indices, device=dev, **draw)

    for _ in range(warmup):
        render_next()
    batches, elapsed = timed_loop(render_next, dev, min_count=1, seconds=seconds)
    return {
        "clips_per_s": batches * batch_size / elapsed,
        "ms_per_batch": 1000 * elapsed / batches,
        "batch_size": batch_size,
        **shape.as_dict(),
        "difficulty": difficulty,
        "world": "actions" if actors is None else "scenes",
        "actors": 1 if actors is None else actors,
        "device": str(dev),
        "seconds": elapsed,
        "batches": batches,
        "clips": batches * batch_size,
    }


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def _random_batch(
    batch_size: int, shape: ClipShape, dev: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random clips ``(B, 3, T, H, W)`` in [0, 1) and labels ``(B,)``, on ``dev``."""
    gen = torch.Generator().manual_seed(0)
    clips = torch.rand(shape.batch(batch_size), generator=gen)
    labels = torch.randint(len(CLASSES), (batch_size,), generator=gen)
    return clips.to(dev), labels.to(dev)


def _constructor(
    name: str, source: str, shape: ClipShape, model_cfg: dict
) -> Callable[[], torch.nn.Module]:
    """A function that builds model ``name`` for the clip shape, from vidbook or torchvision."""
    if source not in SOURCES:
        raise BadValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source == "vidbook":
        size = (shape.frames, shape.height, shape.width)
        return lambda: build_for_clips(name, len(CLASSES), *size, **model_cfg)
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


def train_throughput(
    model_name: str,
    clip_shape: ClipShape = DEFAULT_CLIP_SHAPE,
    batch_size: int = 32,
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

    A step is forward, cross-entropy, backward and an AdamW update on one fixed batch of
    ``batch_size`` random clips of ``clip_shape``. ``amp``: ``"auto"`` (bf16 autocast on CUDA,
    off elsewhere), ``"bf16"`` or ``"off"``. ``fused`` (default): channels-last-3d memory for
    the 3D CNNs that have it, any ``scaled_dot_product_attention`` kernel (FlashAttention on a
    GPU) and the fused AdamW on CUDA; False: standard memory, the plain attention, the
    multi-tensor AdamW. ``compile``: ``torch.compile`` the model (True: the default backend,
    inductor; a string: that backend, e.g. ``"eager"`` to test the plumbing); compilation falls in
    the warm-up. ``source``: ``"vidbook"`` (``variant`` picks a size) or ``"torchvision"`` (its
    ``torchvision.models.video`` model of that name, if installed).

    ``warmup`` untimed steps, then at least ``steps`` timed ones, and with ``seconds`` as many
    more as fit in that time. FLOPs are counted once, by ``torch.utils.flop_counter`` (forward and
    backward, per clip); ``tflops`` is FLOPs per step / seconds per step, ``mfu`` that over the
    device's bf16 peak (None on a CPU or a GPU not in ``PEAK_BF16_TFLOPS``). Returns those and
    ``clips_per_s``, ``ms_per_step``, ``parameters``, ``peak_memory_bytes`` (CUDA, else None),
    ``host_syncs_per_step`` (CUDA, else None), ``warmup_seconds`` and the settings (the clip
    shape as ``frames``, ``height``, ``width``).
    """
    shape = as_clip_shape(clip_shape)
    batch_size = check_int("batch_size", batch_size, 1)
    steps = check_int("steps", steps, 1)
    warmup = check_int("warmup", warmup, 0)
    if seconds is not None:
        seconds = check_positive("seconds", seconds, unit="seconds")
    if amp not in ("auto", "bf16", "off"):
        raise BadValueError(f"amp must be 'auto', 'bf16' or 'off', got {amp!r}")
    if source == "torchvision" and variant is not None:
        raise BadValueError("variant is for vidbook's models; torchvision's come in one size")
    dev = runtime.resolve_device(device)
    cuda = dev.type == "cuda"
    amp = ("bf16" if cuda else "off") if amp == "auto" else amp
    model_cfg = {} if variant is None else {"variant": variant}
    make = _constructor(model_name, source, shape, model_cfg)
    with torch.device("meta"):
        meta = make()
        has_channels_last = hasattr(getattr(meta, "cfg", None), "channels_last")
        if source == "vidbook" and has_channels_last and not fused:
            model_cfg["channels_last"] = False
            meta = make()
        flops_per_clip = clip_flops(meta, shape.frames, shape.height, shape.width, backward=True)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    model = make().to(dev).train()
    clips, labels = _random_batch(batch_size, shape, dev)
    if compile:
        backend = compile if isinstance(compile, str) else "inductor"
        step_model = torch.compile(model, backend=backend)
    else:
        step_model = model
    step = _train_step_fn(step_model, clips, labels, dev, amp, fused)
    start = clock(dev)
    for _ in range(warmup):
        step()
    warmup_seconds = clock(dev) - start
    host_syncs = count_host_syncs(step, dev)
    timed, elapsed = timed_loop(step, dev, min_count=steps, seconds=seconds)
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
        **shape.as_dict(),
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
    default inductor). ``kwargs`` go to ``train_throughput`` (``clip_shape``, ``batch_size``,
    ``device``...). Each row adds ``rung`` (its name) and ``speedup`` (clips/s over the first
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
