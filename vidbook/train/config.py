"""The Trainer's settings: ``TrainConfig``, a dataclass that checks every field when it is made.

Plain values only, so that ``dataclasses.asdict`` goes into a checkpoint and a resumed run can be
compared with the one that wrote it (``RESULT_FIELDS``: the fields that change the weights).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from vidbook.checks import is_int, is_real
from vidbook.errors import BadValueError
from vidbook.train.schedule import SCHEDULES

AMP_MODES = ("auto", "bf16", "fp16", "off")
# Config fields that change the trained weights: a resumed run must use the stored values.
RESULT_FIELDS = (
    "epochs",
    "lr",
    "weight_decay",
    "warmup_frac",
    "schedule",
    "grad_clip",
    "accumulate",
    "label_smoothing",
    "amp",
    "seed",
)


def _bad(field: str, value: Any, allowed: str) -> BadValueError:
    return BadValueError(f"TrainConfig.{field} = {value!r} is not allowed: {allowed}")


@dataclass
class TrainConfig:
    """Training settings; plain values only, so ``dataclasses.asdict`` goes into a checkpoint.

    ``progress`` is ``"auto"`` (bars on a terminal or in Jupyter), True or False. ``check_every``
    is how often (in steps) the non-finite-loss flag is read on the host; with 1 a bad loss is
    caught before the update. ``time_limit_s`` stops training after the epoch in which the
    wall-clock budget ran out. ``grad_clip`` None or 0 disables clipping (0 is stored as None).
    ``accumulate``: batches whose gradients are summed (each loss divided by their number)
    before one optimizer step — a batch ``accumulate`` times larger in the memory of one.
    ``amp``: ``"auto"`` (bf16 autocast on CUDA, off elsewhere), ``"bf16"``, ``"fp16"`` (autocast
    with a dynamic gradient scaler, for GPUs without bf16) or ``"off"``. ``compile``: train
    through ``torch.compile(model)`` (True: the default backend; a string: that backend, e.g.
    ``"eager"``); evaluation and checkpoints use the model itself.
    """

    epochs: int = 3
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_frac: float = 0.1
    schedule: str = "cosine"
    grad_clip: float | None = 1.0
    accumulate: int = 1
    label_smoothing: float = 0.0
    amp: str = "auto"
    seed: int = 0
    checkpoint_dir: str | None = None
    resume: bool = False
    progress: str | bool = "auto"
    check_every: int = 1
    time_limit_s: float | None = None
    compile: bool | str = False

    def __post_init__(self) -> None:
        self._check_counts()
        self._check_rates()
        self._check_choices()
        self._check_paths()

    def _check_counts(self) -> None:
        if not is_int(self.epochs) or self.epochs < 1:
            raise _bad("epochs", self.epochs, "an int >= 1")
        if not is_int(self.seed) or self.seed < 0:
            raise _bad("seed", self.seed, "an int >= 0")
        if not is_int(self.check_every) or self.check_every < 1:
            raise _bad("check_every", self.check_every, "an int >= 1 (steps between checks)")
        if not is_int(self.accumulate) or self.accumulate < 1:
            raise _bad("accumulate", self.accumulate, "an int >= 1 (batches per optimizer step)")

    def _check_rates(self) -> None:
        if not is_real(self.lr) or self.lr <= 0:
            raise _bad("lr", self.lr, "a finite number > 0")
        if not is_real(self.weight_decay) or self.weight_decay < 0:
            raise _bad("weight_decay", self.weight_decay, "a finite number >= 0")
        if not is_real(self.warmup_frac) or not 0 <= self.warmup_frac < 1:
            raise _bad("warmup_frac", self.warmup_frac, "a number in [0, 1)")
        if not is_real(self.label_smoothing) or not 0 <= self.label_smoothing < 1:
            raise _bad("label_smoothing", self.label_smoothing, "a number in [0, 1)")
        if self.grad_clip is not None and (not is_real(self.grad_clip) or self.grad_clip < 0):
            raise _bad("grad_clip", self.grad_clip, "None, 0 (both disable clipping) or > 0")
        if self.time_limit_s is not None and (
            not is_real(self.time_limit_s) or self.time_limit_s <= 0
        ):
            raise _bad("time_limit_s", self.time_limit_s, "None (no limit) or seconds > 0")
        for name in ("lr", "weight_decay", "warmup_frac", "label_smoothing"):
            setattr(self, name, float(getattr(self, name)))
        self.grad_clip = float(self.grad_clip) if self.grad_clip else None
        if self.time_limit_s is not None:
            self.time_limit_s = float(self.time_limit_s)

    def _check_choices(self) -> None:
        if self.schedule not in SCHEDULES:
            raise _bad("schedule", self.schedule, f"one of {sorted(SCHEDULES)}")
        if self.amp not in AMP_MODES:
            raise _bad("amp", self.amp, f"one of {AMP_MODES}")
        if self.progress != "auto" and not isinstance(self.progress, bool):
            raise _bad("progress", self.progress, "'auto', True or False")
        if not isinstance(self.resume, bool):
            raise _bad("resume", self.resume, "True or False")
        if not isinstance(self.compile, (bool, str)) or self.compile == "":
            raise _bad("compile", self.compile, "True, False or a torch.compile backend name")

    def _check_paths(self) -> None:
        if self.checkpoint_dir is not None:
            if not isinstance(self.checkpoint_dir, (str, os.PathLike)):
                raise _bad("checkpoint_dir", self.checkpoint_dir, "None or a directory path")
            self.checkpoint_dir = os.fspath(self.checkpoint_dir)
        if self.resume and self.checkpoint_dir is None:
            raise _bad("resume", self.resume, "True only together with a checkpoint_dir")

    def to_dict(self) -> dict:
        """The settings as a plain dict (what checkpoints store)."""
        return dataclasses.asdict(self)


def make_config(config: TrainConfig | None, overrides: dict) -> TrainConfig:
    """``config`` (default TrainConfig()) with ``overrides`` applied and validated."""
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig or None, got {type(config).__name__}")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise BadValueError(
            f"unknown TrainConfig field(s) {unknown}; valid fields are {sorted(names)}"
        )
    return dataclasses.replace(config or TrainConfig(), **overrides)
