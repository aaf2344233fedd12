"""One training run as a library call: ``run(RunSpec(model="c3d", epochs=3))``.

``RunSpec`` holds everything a run needs (data, model, recipe, device, checkpoints); ``run`` builds
the data and the model, trains them with the :class:`~vidbook.train.Trainer` and returns a
:class:`RunResult`: the history, the summary the command line prints, and, with ``report=True``,
the full record that ``vidbook train --out`` writes (test accuracy, time to the target accuracy,
clips/s, FLOPs, provenance). ``vidbook train`` is a thin wrapper around it, so a notebook or a
script starts the very same run without the command line.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vidbook import distributed, runtime
from vidbook.checks import check_int, check_positive, is_real
from vidbook.clip_shape import ClipShape
from vidbook.data import (
    VIDEO_DATA_SETS,
    ClipLoader,
    SynthActions,
    open_video_dataset,
    video_loader,
)
from vidbook.errors import BadValueError
from vidbook.models import build_for_clips
from vidbook.models.flops import clip_flops
from vidbook.train.checkpoint import export_weights
from vidbook.train.tasks import SCENE_TASKS, TASKS, scene_task
from vidbook.train.trainer import Trainer

# "synth" renders SynthActions; the others read real videos in their official layouts (root).
DATA_SETS = ("synth", *VIDEO_DATA_SETS)
# Clip shape and data set sizes per profile: small on a CPU, the published 112x112 on a GPU.
PROFILE_DEFAULTS = {
    "quick": {"clip_shape": ClipShape(16, 32, 32), "train_size": 4000, "val_size": 1000},
    "full": {"clip_shape": ClipShape(16, 112, 112), "train_size": 20000, "val_size": 2000},
}


@dataclass
class RunSpec:
    """A training run. ``None`` for ``clip_shape``, ``train_size`` and ``val_size`` means the
    profile's value (``PROFILE_DEFAULTS[vidbook.profile()]``); ``device`` None the best one.

    ``task`` is ``"classification"`` (``model`` from the zoo) or a SynthScenes task of
    ``vidbook.train.tasks.SCENE_TASKS`` (``"detection"``, ``"segmentation"``, ...; ``model`` one
    of that task's ``models``).
    ``data`` is ``"synth"`` (SynthActions clips of ``difficulty``) or a real data set in its
    official layout under ``root`` (``split`` 1-3 for UCF101/HMDB51, clips every ``stride``
    frames, ``workers`` decoding processes). ``report=True`` also measures what ``run`` returns
    in ``RunResult.report``; ``command`` is recorded in its provenance.
    """

    model: str
    task: str = "classification"
    data: str = "synth"
    root: str | Path | None = None
    split: int = 1
    stride: int = 2
    workers: int = 0
    clip_shape: ClipShape | None = None
    difficulty: str = "medium"
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    variant: str | None = None
    epochs: int = 3
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.05
    schedule: str = "cosine"
    accumulate: int = 1
    amp: str = "auto"
    seed: int = 0
    device: str | torch.device | None = None
    checkpoint_dir: str | Path | None = None
    resume: bool = False
    time_limit_s: float | None = None
    progress: str | bool = "auto"
    compile: bool | str = False
    check_every: int = 1
    target: float = 0.95
    report: bool = False
    command: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise BadValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.task in SCENE_TASKS:
            models = tuple(SCENE_TASKS[self.task].models)
            if self.model not in models:
                raise BadValueError(
                    f"the {self.task} task trains one of {models}, got model {self.model!r}"
                )
            if self.data != "synth":
                raise BadValueError(f"the {self.task} task trains on the synthetic world (data 'synth'), "
                                    f"got data {self.data!r}")  # fmt: skip
        if self.data not in DATA_SETS:
            raise BadValueError(f"data must be one of {DATA_SETS}, got {self.data!r}")
        if self.clip_shape is not None and not isinstance(self.clip_shape, ClipShape):
            raise BadValueError(
                f"clip_shape must be a ClipShape or None, got {type(self.clip_shape).__name__}"
            )
        for name, least in (("split", 1), ("stride", 1), ("workers", 0), ("batch_size", 1)):
            check_int(name, getattr(self, name), least)
        for name in ("train_size", "val_size", "test_size"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name))
        check_positive("target", self.target)
        if not (is_real(self.target) and self.target <= 1):
            raise BadValueError(f"target must be an accuracy in (0, 1], got {self.target!r}")

    def resolved(self) -> RunSpec:
        """A copy with the profile's clip shape and sizes filled in where they were None."""
        defaults = PROFILE_DEFAULTS[runtime.profile()]
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **filled)

    def default_checkpoint_dir(self) -> Path:
        """``checkpoint_dir``, or ``runs/<model>-<data>``."""
        return Path(self.checkpoint_dir or f"runs/{self.model}-{self.data}")


@dataclass
class RunResult:
    """What ``run`` returns: the spec it ran (sizes filled in), the device, the trained
    ``trainer`` (its model, config and history), a one-line ``data`` description, and the
    ``report`` dict when the spec asked for one."""

    spec: RunSpec
    device: torch.device
    trainer: Trainer
    data: str
    report: dict | None = field(default=None)

    def export_weights(self, path: str | Path) -> Path:
        """The run's last checkpoint as float16 weights at ``path``, with the run's command and
        provenance (:func:`vidbook.train.checkpoint.export_weights`)."""
        if self.trainer.last_checkpoint is None:
            raise BadValueError("the run wrote no checkpoint to export (no checkpoint_dir)")
        provenance = json.loads(json.dumps((self.report or {}).get("provenance")))  # plain values
        return export_weights(self.trainer.last_checkpoint, path, command=self.spec.command,
                              provenance=provenance)  # fmt: skip

    @property
    def history(self) -> list[dict]:
        """One row per epoch: losses, accuracies, seconds, clips/s, learning rate."""
        return self.trainer.history

    def summary(self) -> dict[str, object]:
        """The final metrics as printable rows (what ``vidbook train`` prints)."""
        last, spec = self.history[-1], self.spec
        rows: dict[str, object] = {
            "model": spec.model,
            "parameters": sum(p.numel() for p in self.trainer.model.parameters()),
            "data": self.data,
            "device": str(self.device),
            "epochs": last["epoch"],
            "train loss": f"{last['train_loss']:.4f}",
            "train accuracy": _fixed(last["train_acc"]),
            "val loss": f"{last['val_loss']:.4f}",
            "val accuracy": _fixed(last["val_acc"]),
            "train seconds": f"{sum(r['seconds'] for r in self.history):.1f}",
            "clips/s": f"{last['clips_per_s']:.0f}",
            "processes": self.trainer.world_size,
            "checkpoint": str(spec.default_checkpoint_dir() / "last.pt"),
        }
        if self.report is not None and spec.task in SCENE_TASKS:
            label, text = scene_task(spec.task).headline(self.report["test"])
            rows[label] = text
        elif self.report is not None:
            test, report = self.report["test"], self.report
            rows["test accuracy"] = f"{test['acc']:.3f}" if test is not None else "-"
            rows["time to target"] = (
                f"{report['time_to_target_s']:.1f} s (epoch {report['epoch_to_target']})"
                if report["time_to_target_s"] is not None
                else f"not reached ({spec.target:g})"
            )
        return rows


def run_identity(spec: RunSpec) -> dict:
    """What a run trains, as plain values: task, model, variant, data and clip shape (T, H, W).
    Checkpoints store it; resuming from one of another identity is refused."""
    shape = spec.clip_shape
    return {
        "task": spec.task,
        "model": spec.model,
        "variant": spec.variant,
        "data": spec.data,
        "clip_shape": None if shape is None else [shape.frames, shape.height, shape.width],
    }


def _fixed(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def run(spec: RunSpec) -> RunResult:
    """Train the run ``spec`` describes and return its result (see the module docstring).

    Seeds everything with ``spec.seed`` first, so two runs with the same spec train the same
    model. Under ``torchrun`` each process joins the group and takes its GPU (or the CPU); a
    device torch cannot use here is a BadValueError naming the available ones, before any work.
    """
    if not isinstance(spec, RunSpec):
        raise BadValueError(f"run needs a RunSpec, got {type(spec).__name__}")
    spec = spec.resolved()
    dev = distributed.init_distributed(spec.device) or runtime.resolve_device(spec.device)
    try:
        runtime.seed_everything(spec.seed)
        objective = None
        if spec.task in SCENE_TASKS:
            task = scene_task(spec.task)
            train_loader, val_loader, model, described = task.parts(spec, dev)
            objective = task.objective(spec)
        else:
            train_loader, val_loader, num_classes, described = _data(spec, dev)
            variant = {} if spec.variant is None else {"variant": spec.variant}
            model = build_for_clips(spec.model, num_classes, spec.clip_shape, **variant)
        trainer = Trainer(
            model,
            objective=objective,
            identity=run_identity(spec),
            device=dev,
            epochs=spec.epochs,
            lr=spec.lr,
            weight_decay=spec.weight_decay,
            schedule=spec.schedule,
            accumulate=spec.accumulate,
            amp=spec.amp,
            seed=spec.seed,
            checkpoint_dir=str(spec.default_checkpoint_dir()),
            resume=spec.resume,
            time_limit_s=spec.time_limit_s,
            progress=spec.progress,
            compile=spec.compile,
            check_every=spec.check_every,
        )
        trainer.fit(train_loader, val_loader)
        result = RunResult(spec, dev, trainer, described)
        if spec.report:
            result.report = _report(spec, trainer, dev)
        return result
    finally:
        distributed.cleanup()


def _data(spec: RunSpec, dev: torch.device) -> tuple[object, object, int, str]:
    """Train and validation loaders, the number of classes and a description of the data."""
    shape = spec.clip_shape
    if spec.data == "synth":
        sets = [
            SynthActions(
                split, size=size, difficulty=spec.difficulty, seed=spec.seed, **shape.as_dict()
            )
            for split, size in (("train", spec.train_size), ("val", spec.val_size))
        ]
        train_loader = ClipLoader(sets[0], batch_size=spec.batch_size, seed=spec.seed, device=dev)
        val_loader = ClipLoader(
            sets[1], batch_size=max(spec.batch_size, 64), shuffle=False, device=dev
        )
        described = f"synth {spec.train_size} train / {spec.val_size} val clips, {shape}"
        return train_loader, val_loader, sets[0].num_classes, described + f", {spec.difficulty}"
    train_set, val_set = open_video_dataset(
        spec.data, spec.root, shape, split=spec.split, stride=spec.stride, seed=spec.seed
    )
    train_loader, val_loader = (
        video_loader(
            data, spec.batch_size, shuffle=shuffle, num_workers=spec.workers, seed=spec.seed
        )
        for data, shuffle in ((train_set, True), (val_set, False))
    )
    described = (
        f"{spec.data} at {spec.root}: {len(train_set)} train / {len(val_set)} val videos, {shape}"
    )
    return train_loader, val_loader, train_set.num_classes, described


def _report(spec: RunSpec, trainer: Trainer, dev: torch.device) -> dict:
    """Settings, history, test accuracy on the SynthActions test split (None for real data),
    time to the target validation accuracy (the training seconds up to the end of the first
    epoch that reached it), clips/s, FLOPs and provenance."""
    history = trainer.history
    elapsed, epoch_to_target, time_to_target = 0.0, None, None
    for row in history:
        elapsed += row["seconds"]
        if row["val_acc"] is not None and row["val_acc"] >= spec.target:  # classification
            epoch_to_target, time_to_target = row["epoch"], elapsed
            break
    synth = spec.data == "synth"
    test = None
    if spec.task in SCENE_TASKS:
        test = scene_task(spec.task).test(trainer.model, spec, dev)
    elif synth:
        test_set = SynthActions(
            "test",
            size=spec.test_size or spec.val_size,
            difficulty=spec.difficulty,
            seed=spec.seed,
            **spec.clip_shape.as_dict(),
        )
        loader = ClipLoader(
            test_set, batch_size=max(spec.batch_size, 64), shuffle=False, device=dev
        )
        metrics = trainer.evaluate(loader)
        test = {"acc": metrics["acc"], "loss": metrics["loss"], "clips": len(test_set)}
    steady = [row["clips_per_s"] for row in history[1:]] or [history[0]["clips_per_s"]]
    model = trainer.model
    meta = copy.deepcopy(model).to("meta")  # FLOPs are counted from shapes alone
    return {
        "task": spec.task,
        "model": spec.model,
        "variant": spec.variant,
        "parameters": sum(p.numel() for p in model.parameters()),
        "flops_per_clip_train": (
            clip_flops(meta, spec.clip_shape, backward=True)
            if spec.task not in SCENE_TASKS or scene_task(spec.task).clip_only
            else None  # a model that reads words too: its FLOPs depend on their length
        ),
        "data": {
            "name": "scenes" if spec.task in SCENE_TASKS else spec.data,
            **spec.clip_shape.as_dict(),
            "train_size": spec.train_size if synth else None,
            "val_size": spec.val_size if synth else None,
            "difficulty": spec.difficulty if synth else None,
            "seed": spec.seed,
        },
        "recipe": {
            **trainer.config.to_dict(),
            "batch_size": spec.batch_size,
            "processes": trainer.world_size,
        },
        "history": history,
        "target": spec.target,
        "epoch_to_target": epoch_to_target,
        "time_to_target_s": time_to_target,
        "test": test,
        "clips_per_s": statistics.median(steady),
        "train_seconds": sum(row["seconds"] for row in history),
        "device": str(dev),
        "device_name": runtime.device_name(dev),
        "provenance": runtime.provenance(spec.command, device=dev),
    }
