"""The capstone's grader: new test clips for every grade, one call to score a model, PASS or FAIL.

Chapter 9 asks the question of the overview's project — is something happening in this clip? —
and then the harder one of all ten SynthActions classes. ``grade(model, task)`` scores a model
(clips ``(B, 3, T, H, W)`` float in [0, 1] -> logits ``(B, K)``) on test clips of its own: it
runs the model in eval mode without gradients, prints the accuracy, the confusion matrix (rows:
true class) with each class's recall, the seed of the clips, and PASS or FAIL against
``THRESHOLDS[task]``.

A grader should be hard to fool, and a model is code: it can count its calls, remember clips it
has seen, and read the memory of the process it runs in. So:

- **A label is not a function of a public number.** The clips of a grade are SynthActions clips
  with numbers of their own (a range that no split uses), and which class each one shows comes
  from a hash of the grade's seed and the clip's number, balanced over the classes (for
  "action": half of the clips still, the other half spread over the nine motions). In a
  SynthActions split the class is the clip number mod 10; here, without the seed, neither a
  clip's number nor its place in the stream says anything about its label.
- **A new seed for every grade,** drawn from the operating system's randomness when grading
  starts. No table of clips rendered beforehand — from ``test_set()``, with ``GRADER_SEED`` or
  with any other seed — holds a graded clip. The report prints the seed, and
  ``grade(model, task, seed=S)`` (with the same sizes) repeats that grade: the same clips, the
  same labels, the same accuracy for the same model. A grade with a given seed is a re-check,
  not a new exam: its seed is known.
- **The answers live in another process.** Whatever a grader holds in memory — labels, seed,
  clip parameters — a model could read (through ``sys._getframe`` or ``gc``) if it were in the
  model's process. ``grade`` starts a child process, ``python -m vidbook.eval.capstone_server``,
  which draws the seed and the labels, renders the clips and sends them batch by batch, as
  uint8 (so the model sees multiples of 1/255, which changes no honest answer). This process
  runs the model and sends back one predicted class per clip; only then does the child send
  the confusion matrix and the seed. Starting the child (a Python with torch) adds one to two
  seconds to a grade.
- **Eval mode, no gradients, a checked output.** Batch statistics and dropout cannot leak one
  clip into another's logits; a wrong shape, a non-tensor or a non-finite logit is an error,
  not a silent score.

A separate process does not stop a model that rewrites the grader itself (replaces its
functions, or speaks to its child in its place): code that runs in the grader's process can do
whatever the grader can. Against that the defence is that of any exam: the seed in the report
lets anyone grade the same model again, elsewhere.

``test_set(task)`` gives clips of the same world to look at, drawn with the public
``GRADER_SEED``; they are never graded. The training and validation splits in the book use
other seeds (the default is 0) and other clip numbers, so a model trained on
``SynthActions("train")`` has never seen a graded clip. Because every grade draws new clips, a
model's accuracy varies from grade to grade by about its standard error (below).

``THRESHOLDS``, measured (chapter 9 and its solution, quick profile, CPU; ``make claims``: three
training seeds x one and two threads, each graded on fresh clips):

- ``"action"`` 0.90. The two classes are balanced, so a constant answer scores exactly 50 %, and
  the chapter's starter (``frame_cnn`` shown one frame) scored 47.9-53.4 %: it cannot see
  motion. The solution's ``MotionNet`` (differences of four frames, 3 epochs on 1,000 clips)
  scored 99.6-100 %. 0.90 lies about 37 points above the one-frame model and 10 below the
  solution; at 800 test clips the standard error of an accuracy near 0.9 is about 1 point.
- ``"classes"`` 0.80. A constant answer scores 10 %. A model blind to the order of the frames
  (one frame, or ``frame_cnn``'s average over frames) gives a clip and its time reversal the same
  answer, and a reversed clip of class c looks exactly like a clip of the reversed class, so the
  two recalls of each reversed pair (left/right, up/down, clockwise/counter-clockwise,
  grow/shrink) add up to at most 1: it cannot score above (4 + 2) / 10 = 60 %. The solution's
  ``c3d`` on six frames (4 epochs on 3,000 clips) scored 92.6-94.5 %. 0.80 lies 20 points above
  the bound and 13 below the solution, with a standard error under 1 point at 2,000 test clips.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from vidbook.checks import check_int, is_int
from vidbook.clip_shape import ClipShape
from vidbook.data.action import ACTION_CLASSES, ActionOrNot
from vidbook.data.synth import CLASSES, SynthActions
from vidbook.errors import BadValueError
from vidbook.eval import capstone_server as server
from vidbook.runtime import eval_mode, resolve_device

GRADER_SEED = 9_009  # the seed of test_set(): clips to look at, never the graded ones
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
    the ``threshold`` and whether the model ``passed`` it, the ``seconds`` grading took (all of
    it: the grader's child process, the clips and the model), and the ``seed`` the clips were
    drawn with: ``grade(model, task, seed=report.seed)`` with the same arguments grades the
    same clips again."""

    task: str
    accuracy: float
    confusion: torch.Tensor
    per_class_recall: dict[str, float]
    threshold: float
    passed: bool
    num_clips: int
    seconds: float
    classes: tuple[str, ...]
    seed: int

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
            f"seed {self.seed} (grade(model, {self.task!r}, seed={self.seed}) repeats these clips)",
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


def _check_seed(seed: object) -> int | None:
    if seed is None:
        return None
    if not is_int(seed) or not 0 <= seed < server.SEED_LIMIT:
        raise BadValueError(
            f"seed must be None (draw a new one) or an int in [0, 2**31) from an earlier "
            f"report, got {seed!r}"
        )
    return int(seed)


def _check_size(task: str, size: object) -> int:
    if size is None:
        return DEFAULT_SIZES[task]
    k = len(TASKS[task])
    size = check_int("size", size, minimum=k)
    if task == "action" and size % 2:
        raise ValueError(
            f"size must be even for 'action' (half of the clips still, half moving), got {size}"
        )
    return size


def test_set(
    task: str = "action",
    *,
    clip_shape: ClipShape | None = None,
    frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    size: int | None = None,
    difficulty: str = "medium",
) -> ActionOrNot | SynthActions:
    """Clips like the grader's, to look at: SynthActions split ``"test"`` drawn with the public
    ``GRADER_SEED``, the seed of no training split.

    They are not the graded clips: ``grade`` draws new ones, with a new seed, every time.
    ``"action"``: an ``ActionOrNot`` view (label 0 = no action, 1 = action) of ``size`` clips
    (default 800, even: half of them still); ``"classes"``: all ten classes, ``size`` clips
    (default 2,000, balanced). ``ds.batch(indices)["clip"]`` is (B, 3, T, H, W) for a
    ``clip_shape`` of (T, H, W) (default 16 x 32 x 32; or give frames, height, width).
    """
    task = _check_task(task)
    shape = ClipShape.resolve(frames, height, width, clip_shape=clip_shape, default=ClipShape())
    size = _check_size(task, size)
    clip_size = dict(**shape.as_dict(), difficulty=difficulty)
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
            "the grader's order; check the model for a division by zero, a log of 0, "
            "or weights that diverged in training (a nan training loss)"
        )
    return logits.float()


def _run_grade(model: Model, request: dict, dev: torch.device) -> tuple[torch.Tensor, int]:
    """One grade, split between two processes: the child sends the clips, this process runs
    the model on them, and only then does the child send the confusion matrix (K, K) long and
    the seed. The labels never exist in this process while the model runs."""
    predicted = []
    with server.GradingChild(request) as child:
        with eval_mode(model) if isinstance(model, nn.Module) else torch.no_grad():
            for start, clips in child.batches():
                clips = clips.to(dev).float().div_(255)  # float in [0, 1], steps of 1/255
                logits = _check_logits(model(clips), len(clips), request["task"], start)
                predicted.append(logits.argmax(dim=1).cpu())
        confusion, seed = child.result(torch.cat(predicted).numpy())
    return torch.from_numpy(confusion), seed


def grade(
    model: Model,
    task: str = "action",
    *,
    clip_shape: ClipShape | None = None,
    frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
    batch_size: int = 128,
    size: int | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    verbose: bool = True,
) -> GradeReport:
    """Score ``model`` on new test clips for ``task`` ("action" or "classes").

    ``model`` maps clips (B, 3, T, H, W) of ``clip_shape`` (default 16 x 32 x 32; or give
    frames, height, width) float in [0, 1] (multiples of 1/255) to
    logits (B, K): K = 2 for "action" (no_action, action), 10 for "classes"
    (``vidbook.data.CLASSES``). It runs in eval mode under ``torch.no_grad()`` (its modes are
    restored afterwards), on ``device`` (an ``nn.Module`` is moved there; default: where its
    parameters are), on ``size`` clips (default 800 / 2,000) in batches of ``batch_size``.
    The clips come from a child process that draws them with a new seed (or ``seed``, to
    repeat an earlier grade) and reveals the labels only once every prediction is in.
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
    shape = ClipShape.resolve(frames, height, width, clip_shape=clip_shape, default=ClipShape())
    size = _check_size(task, size)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    seed = _check_seed(seed)
    dev = resolve_device(device, model=model if isinstance(model, nn.Module) else None)
    if isinstance(model, nn.Module) and device is not None:
        model.to(dev)
    classes = TASKS[task]

    started = time.perf_counter()
    request = dict(task=task, size=size, **shape.as_dict())
    request.update(batch_size=batch_size, seed=seed)
    confusion, seed = _run_grade(model, request, dev)
    seconds = time.perf_counter() - started

    accuracy = confusion.trace().item() / size
    recall = confusion.diag().double() / confusion.sum(dim=1).clamp_min(1).double()
    threshold = THRESHOLDS[task]
    report = GradeReport(
        task=task,
        accuracy=accuracy,
        confusion=confusion,
        per_class_recall={c: float(r) for c, r in zip(classes, recall.tolist(), strict=True)},
        threshold=threshold,
        passed=accuracy >= threshold,
        num_clips=size,
        seconds=seconds,
        classes=classes,
        seed=seed,
    )
    if verbose:
        print(report.summary())
        if size < DEFAULT_SIZES[task]:
            print(f"(graded on {size} clips instead of {DEFAULT_SIZES[task]}: a noisier score)")
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
