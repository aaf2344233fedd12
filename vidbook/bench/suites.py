"""Measurements with their provenance: ``run`` (what ``vidbook bench`` asks for) and ``suite``
(the device's whole suite, behind ``data/results/bench-<device>.json``)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from vidbook import runtime
from vidbook.bench.throughput import (
    DEFAULT_CLIP_SHAPE,
    LADDER,
    as_clip_shape,
    ladder,
    peak_tflops,
    render_throughput,
    train_throughput,
)
from vidbook.bench.timing import write_json
from vidbook.clip_shape import ClipShape
from vidbook.errors import BadValueError

DEFAULT_MODELS: tuple[str, ...] = ("c3d", "frame_cnn")


# --------------------------------------------------------------------------------------------
# Rendering and training, with provenance, to JSON
# --------------------------------------------------------------------------------------------
SCENE_ACTORS = 3  # the suite times SynthScenes with this many actors per clip


def run(
    models: Sequence[str] = DEFAULT_MODELS,
    render: bool = True,
    batch_size: int | None = None,
    clip_shape: ClipShape = DEFAULT_CLIP_SHAPE,
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
    actors: int | None = None,
) -> dict:
    """Render and training throughput of ``models`` on clips of ``clip_shape``, with
    provenance; JSON to ``out`` if given. ``actors``: time SynthScenes with that many actors
    instead of SynthActions.

    ``device``: a name or ``torch.device`` (None: the best available); one torch cannot use here
    is a BadValueError naming the available ones (``vidbook.runtime.resolve_device``).
    ``batch_size`` and ``warmup`` (None: 256 clips and 1 batch for rendering, 32 clips and 3
    steps for training) apply to both measurements; ``seconds`` is the rendering time and the
    least training time per model. ``variant`` and ``compile`` go to every vidbook model.
    ``torchvision``: also time torchvision's model of the same name, where it has one, under
    ``"torchvision/<name>"``, and give ours ``vs_torchvision`` (the ratio of clips/s).
    ``ladder_models``: models to run ``ladder`` on. Returns ``{"device", "device_name",
    "peak_tflops", "clip_shape": {"frames", "height", "width"}, "render": dict | None,
    "train": {name: dict}, "ladder": {name: [dict]}, "provenance"}``, see
    ``render_throughput``, ``train_throughput``, ``ladder`` and ``vidbook.runtime.provenance``
    (of the device used).
    """
    models = [models] if isinstance(models, str) else list(models)
    shape = as_clip_shape(clip_shape)
    if torchvision and importlib.util.find_spec("torchvision") is None:
        raise BadValueError(
            "torchvision=True compares with torchvision's models, but torchvision is not installed "
            "here (it is never a dependency of vidbook)"
        )
    dev = runtime.resolve_device(device)
    shared = {k: v for k, v in (("batch_size", batch_size), ("warmup", warmup)) if v is not None}
    timing = {"clip_shape": shape, **shared, "device": dev, "steps": steps, "seconds": seconds}
    name = runtime.device_name(dev)
    result: dict = {
        "device": str(dev),
        "device_name": name,
        "peak_tflops": peak_tflops(name) if dev.type == "cuda" else None,
        "clip_shape": shape.as_dict(),
        "render": None,
        "train": {},
        "ladder": {},
    }
    if render:
        result["render"] = render_throughput(
            shape, **shared, difficulty=difficulty, device=dev, seconds=seconds, actors=actors
        )
    for model in models:
        ours = train_throughput(model, **timing, variant=variant, compile=compile)
        result["train"][model] = ours
        if torchvision and (theirs := _torchvision_peer(ours, **timing, compile=compile)):
            result["train"][f"torchvision/{model}"] = theirs
    for model in ladder_models:
        result["ladder"][model] = ladder(model, **timing, variant=variant)
    result["provenance"] = runtime.provenance(command, device=dev)
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
# Entries give a square clip as ``frames`` and ``size`` (height = width).
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


def suite_file(out_dir: str | os.PathLike, device: torch.device | str | None = None) -> Path:
    """The file ``suite`` writes for ``device`` (None: the best available) into ``out_dir``:
    ``out_dir/bench-<device_slug>.json``."""
    return Path(out_dir) / f"bench-{device_slug(runtime.resolve_device(device))}.json"


def _square(entry: dict) -> ClipShape:
    """The clip of a suite entry (``frames``, ``size``)."""
    return ClipShape(entry["frames"], entry["size"], entry["size"])


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
    ``suite_file(out_dir, device)``, ``out_dir/bench-<device_slug>.json``.

    ``device`` as in ``run`` (BadValueError naming the available devices if unusable).
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
    dev = runtime.resolve_device(device)
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
        for actors in (None, SCENE_ACTORS):  # SynthActions, then SynthScenes
            result["render"].append(
                render_throughput(
                    ClipShape(render_frames, size, size),
                    batch_size=batch,
                    device=dev,
                    seconds=seconds,
                    actors=actors,
                )
            )
    for run_ in runs:
        shape = _square(run_)
        ours = train_throughput(
            run_["model"], shape, batch_size=batch, variant=run_["variant"], **timing
        )
        result["train"].append(ours)
        if theirs := _torchvision_peer(ours, clip_shape=shape, batch_size=batch, **timing):
            result["train"].append(theirs)
    rungs = [r["name"] for r in LADDER if compile_ladder or not r["compile"]]
    for entry in ladders:
        rows = ladder(
            entry["model"],
            rungs=rungs,
            compile_backend=spec.get("compile_backend", "inductor"),
            clip_shape=_square(entry),
            batch_size=batch,
            variant=entry["variant"],
            **timing,
        )
        result["ladder"].append({**entry, "rows": rows})
    result["provenance"] = runtime.provenance(command, device=dev)
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
