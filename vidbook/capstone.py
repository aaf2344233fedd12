"""The capstone's grader: held-out test clips, one call to score a model, PASS or FAIL.

Chapter 9 asks the question of the overview's project — is something happening in this clip? —
and then the harder one of all ten SynthActions classes. ``grade(model, task)`` scores a model
(clips ``(B, 3, T, H, W)`` float in [0, 1] -> logits ``(B, K)``) on the grader's own test clips:
it runs the model in eval mode without gradients, prints the accuracy, the confusion matrix
(rows: true class) with each class's recall, and PASS or FAIL against ``THRESHOLDS[task]``.

The grader's test clips are split ``"test"`` of SynthActions drawn with the grader's own seed,
``GRADER_SEED``. Every training and validation split in the book uses another seed (the default
is 0), and splits live in disjoint index ranges, so a model trained on ``SynthActions("train")``
— or even on ``SynthActions("test")`` with the default seed — has never seen a test clip.
``test_set`` hands out the grader's clips for looking at them; training on them would make the
grade meaningless.

A grader should be hard to fool. The model gets only the clips, never the labels, in an order
shuffled once with ``GRADER_SEED`` (the labels of a SynthActions split follow the index, so a
model that counted its calls would otherwise guess them), in eval mode (batch statistics and
dropout cannot leak one clip's label into another's logits), and its output is checked: a wrong
shape, a non-tensor or a non-finite logit is an error, not a silent score.

``THRESHOLDS``, measured (chapter 9 and its solution, quick profile, CPU, three training seeds):

- ``"action"`` 0.90. The two classes are balanced, so a constant answer scores exactly 50 %, and
  the chapter's starter (``frame_cnn`` shown one frame) scored 49.4-51.0 %: it cannot see
  motion. The solution's ``MotionNet`` (differences of four frames, 3 epochs on 1,000 clips)
  scored 99.2-99.8 %. 0.90 lies about 40 points above the one-frame model and 9 below the
  solution; at 800 test clips the standard error of an accuracy near 0.9 is about 1 point.
- ``"classes"`` 0.80. A constant answer scores 10 %. A model blind to the order of the frames
  (one frame, or ``frame_cnn``'s average over frames) gives a clip and its time reversal the same
  answer, and a reversed clip of class c looks exactly like a clip of the reversed class, so the
  two recalls of each reversed pair (left/right, up/down, clockwise/counter-clockwise,
  grow/shrink) add up to at most 1: it cannot score above (4 + 2) / 10 = 60 %. The solution's
  ``c3d`` on six frames (4 epochs on 3,000 clips) scored 91.8-94.7 %. 0.80 lies 20 points above
  the bound and 12 below the solution, with a standard error under 1 point at 2,000 test clips.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vidbook.data.action import ACTION_CLASSES, ActionOrNot
from vidbook.data.synth import CLASSES, SynthActions
from vidbook.runtime import device as default_device
from vidbook.runtime import eval_mode

GRADER_SEED = 9_009  # the seed of the grader's test clips; no training split in the book uses it
TASKS: dict[str, tuple[str, ...]] = {"action": ACTION_CLASSES, "classes": CLASSES}
THRESHOLDS: dict[str, float] = {"action": 0.90, "classes": 0.80}
DEFAULT_SIZES: dict[str, int] = {"action": 800, "classes": 2000}  # clips graded
DESCRIPTIONS: dict[str, str] = {
    "action": "is something happening? (0 = no action, 1 = action)",
    "classes": "which of the ten motions is it?",
}

Model = nn.Module | Callable[[torch.Tensor], torch.Tensor]


@dataclass
class GradeReport:
    """What ``grade`` measured: ``accuracy`` over ``num_clips`` test clips, the ``confusion``
    matrix (K, K) long tensor (rows: true class, columns: predicted class, in the order of
    ``classes``), ``per_class_recall`` (class name -> fraction of its clips predicted right),
    the ``threshold`` and whether the model ``passed`` it, and the ``seconds`` grading took."""

    task: str
    accuracy: float
    confusion: torch.Tensor
    per_class_recall: dict[str, float]
    threshold: float
    passed: bool
    num_clips: int
    seconds: float
    classes: tuple[str, ...]

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def summary(self) -> str:
        """The report as text: accuracy, confusion matrix with recalls, PASS or FAIL."""
        k = len(self.classes)
        name_width = max(len(c) for c in self.classes) + len(str(k - 1)) + 1
        cell = max(5, len(str(int(self.confusion.max()))) + 1)
        header = " " * name_width + "".join(f"{j:>{cell}}" for j in range(k)) + "   recall"
        lines = [
            f"grade({self.task!r}): {DESCRIPTIONS[self.task]}",
            f"{self.num_clips} test clips, graded in {self.seconds:.1f} s",
            f"accuracy {self.accuracy:.1%}",
            "confusion matrix (rows: true class, columns: predicted class)",
            header,
        ]
        for i, name in enumerate(self.classes):
            counts = "".join(f"{int(n):>{cell}}" for n in self.confusion[i])
            recall = self.per_class_recall[name]
            lines.append(f"{f'{i} {name}':<{name_width}}{counts}   {recall:6.1%}")
        relation = ">=" if self.passed else "<"
        lines.append(
            f"{self.verdict}: accuracy {self.accuracy:.1%} {relation} threshold "
            f"{self.threshold:.0%} for {self.task!r}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------
def _check_task(task: object) -> str:
    if not isinstance(task, str) or task not in TASKS:
        raise ValueError(f"unknown task {task!r}; the tasks are: {', '.join(map(repr, TASKS))}")
    return task


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def _check_size(task: str, size: object) -> int:
    if size is None:
        return DEFAULT_SIZES[task]
    k = len(TASKS[task])
    size = _check_int("size", size, minimum=k)
    if task == "action" and size % 2:
        raise ValueError(
            f"size must be even for 'action' (half of the clips still, half moving), got {size}"
        )
    return size


def test_set(
    task: str = "action",
    *,
    frames: int = 16,
    height: int = 32,
    width: int = 32,
    size: int | None = None,
    difficulty: str = "medium",
) -> ActionOrNot | SynthActions:
    """The grader's held-out clips for ``task``: SynthActions split ``"test"`` drawn with
    ``GRADER_SEED``, the seed of no training split.

    ``"action"``: an ``ActionOrNot`` view (label 0 = no action, 1 = action) of ``size`` clips
    (default 800, even: half of them still); ``"classes"``: all ten classes, ``size`` clips
    (default 2,000, balanced). ``ds.batch(indices)["clip"]`` is (B, 3, frames, height, width).
    For looking at, not for training: a model trained on these clips makes its grade meaningless.
    """
    task = _check_task(task)
    frames = _check_int("frames", frames, minimum=2)  # a clip needs two frames to show motion
    height = _check_int("height", height, minimum=8)
    width = _check_int("width", width, minimum=8)
    size = _check_size(task, size)
    clip_size = dict(frames=frames, height=height, width=width, difficulty=difficulty)
    if task == "action":
        # One clip in ten is still: 5 * size clips hold size / 2 still ones, matched by as many
        # moving ones (ActionOrNot takes the first moving clips of all nine moving classes).
        world = SynthActions("test", size=5 * size, seed=GRADER_SEED, **clip_size)
        return ActionOrNot(world)
    return SynthActions("test", size=size, seed=GRADER_SEED, **clip_size)


test_set.__test__ = False  # a function of the package, not a test for pytest to collect


# --------------------------------------------------------------------------------------------
# Grading
# --------------------------------------------------------------------------------------------
def _resolve_device(model: Model, device: torch.device | str | None) -> torch.device:
    """``device``, else where the model's parameters (or buffers) are, else the best device."""
    if device is not None:
        try:
            return torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device {device!r} is not a torch device: {err}") from err
    if isinstance(model, nn.Module):
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            return tensor.device
    return default_device()


def _expected(task: str) -> str:
    classes = TASKS[task]
    return f"grade({task!r}) expects (B, {len(classes)}) logits: {', '.join(classes)}"


def _check_logits(logits: object, batch: int, task: str, first: int) -> torch.Tensor:
    """The model's output as float logits (B, K), or a ValueError that says what is wrong."""
    k = len(TASKS[task])
    if not isinstance(logits, torch.Tensor):
        raise ValueError(
            f"the model returned a {type(logits).__name__}, not a tensor; {_expected(task)}"
        )
    if tuple(logits.shape) != (batch, k):
        hint = ""
        if logits.ndim == 2 and logits.shape[0] == batch and logits.shape[1] == 1 and k == 2:
            hint = (
                " (one logit with a sigmoid, as in Keras, is the same model: return "
                "torch.cat([-z / 2, z / 2], dim=1) for the logit z, or give the last layer "
                "two outputs)"
            )
        elif logits.ndim == 2 and logits.shape[0] == batch:
            hint = f" (was the model built with num_classes={k}?)"
        raise ValueError(
            f"the model returned {tuple(logits.shape)} for a batch of {batch} clips; "
            f"{_expected(task)}{hint}"
        )
    if not logits.is_floating_point():
        raise ValueError(
            f"the model returned {logits.dtype} values; {_expected(task)}, as floating-point "
            "numbers (e.g. the output of the last nn.Linear)"
        )
    bad = ~torch.isfinite(logits).all(dim=1)
    if bool(bad.any()):
        kinds = [
            name for name, hit in (("nan", logits.isnan()), ("inf", logits.isinf())) if hit.any()
        ]
        raise ValueError(
            f"the model returned non-finite logits ({' and '.join(kinds)}) for "
            f"{int(bad.sum())} of the {batch} clips of the batch that starts at clip {first} of "
            "the grader's (shuffled) order; check the model for a division by zero, a log of 0, "
            "or weights that diverged in training (a nan training loss)"
        )
    return logits.float()


def grade(
    model: Model,
    task: str = "action",
    *,
    frames: int = 16,
    height: int = 32,
    width: int = 32,
    batch_size: int = 128,
    size: int | None = None,
    device: torch.device | str | None = None,
    verbose: bool = True,
) -> GradeReport:
    """Score ``model`` on the grader's test clips for ``task`` ("action" or "classes").

    ``model`` maps clips (B, 3, frames, height, width) float in [0, 1] to logits (B, K):
    K = 2 for "action" (no_action, action), 10 for "classes" (``vidbook.data.CLASSES``).
    It runs in eval mode under ``torch.no_grad()`` (its modes are restored afterwards), on
    ``device`` (an ``nn.Module`` is moved there; default: where its parameters are), on
    ``size`` clips of ``test_set(task)`` (default 800 / 2,000) in batches of ``batch_size``.
    Prints the report unless ``verbose=False``; returns it as a ``GradeReport``. A FAIL is a
    result, not an error: errors are for a model that cannot be graded (wrong output shape,
    non-finite logits, not callable) and for bad arguments.
    """
    task = _check_task(task)
    if not callable(model):
        raise TypeError(
            "grade needs a model: an nn.Module or a function from clips (B, 3, T, H, W) to "
            f"logits (B, K), got {type(model).__name__}"
        )
    batch_size = _check_int("batch_size", batch_size, minimum=1)
    data = test_set(task, frames=frames, height=height, width=width, size=size)
    dev = _resolve_device(model, device)
    if isinstance(model, nn.Module) and device is not None:
        model.to(dev)
    classes = TASKS[task]
    k, n = len(classes), len(data)

    started = time.perf_counter()
    # One fixed shuffle: every batch mixes the classes, and the position of a clip in the
    # stream says nothing about its label.
    order = torch.randperm(n, generator=torch.Generator().manual_seed(GRADER_SEED))
    confusion = torch.zeros(k * k, dtype=torch.long)
    modes = eval_mode(model) if isinstance(model, nn.Module) else torch.no_grad()
    with modes:
        for start in range(0, n, batch_size):
            indices = order[start : start + batch_size].numpy()
            batch = data.batch(indices, device=dev, captions=False)
            clips, labels = batch["clip"], batch["label"]
            logits = _check_logits(model(clips), len(labels), task, start)
            pred = logits.argmax(dim=1).cpu()
            confusion += torch.bincount(labels.cpu() * k + pred, minlength=k * k)
    seconds = time.perf_counter() - started

    confusion = confusion.view(k, k)
    accuracy = confusion.trace().item() / n
    recall = confusion.diag().double() / confusion.sum(dim=1).clamp_min(1).double()
    threshold = THRESHOLDS[task]
    report = GradeReport(
        task=task,
        accuracy=accuracy,
        confusion=confusion,
        per_class_recall={c: float(r) for c, r in zip(classes, recall.tolist(), strict=True)},
        threshold=threshold,
        passed=accuracy >= threshold,
        num_clips=n,
        seconds=seconds,
        classes=classes,
    )
    if verbose:
        print(report.summary())
        if n < DEFAULT_SIZES[task]:
            print(f"(graded on {n} clips instead of {DEFAULT_SIZES[task]}: a noisier score)")
    return report


__all__ = [
    "DEFAULT_SIZES",
    "GRADER_SEED",
    "THRESHOLDS",
    "TASKS",
    "GradeReport",
    "grade",
    "test_set",
]
