"""Video question answering on SynthScenes: batches of (clip, questions), the objective, a run's
parts and its test (accuracy per question type, against the answer prior).

Every scene asks up to five templated questions, one per type of
``vidbook.data.scene_text.QUESTION_TYPES`` (``questions_for``: "first_mover" needs two moving
actors, "colour_of_motion" one). A training item is one (clip, question) pair; a batch holds
``B`` scenes and, by default, *all* their questions (``questions="all"``): the question ids are
(B, Q, Lq) with slot ``q`` the question of type ``QUESTION_TYPES[q]`` (all padding and answer
-1 where the scene has none), and the model encodes each clip once for its Q questions.
``questions="one"`` draws one of a scene's questions at random per step instead, (B, 1, Lq).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from vidbook.data import ClipLoader, SynthScenes
from vidbook.data.scene_text import ANSWERS, QUESTION_TYPES, TEMPORAL, Question, questions_for
from vidbook.errors import BadValueError
from vidbook.models.video_qa import VideoQAModel, question_tokenizer, video_qa
from vidbook.runtime import eval_mode
from vidbook.train.objective import Objective
from vidbook.train.scene_cells import CELL_KEYS, cell_loss, cell_targets, check_cell_weight
from vidbook.train.scene_sets import scene_set

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec

# QA models by name, with the settings measured in chapter 7.2; the single-frame one is the
# baseline that cannot see motion (same widths, the middle frame only). "video_qa_patch" has the
# one-convolution patch stem: cheaper, and in the quick profile it learnt no more than the
# single-frame model.
_SETTINGS = {"d_model": 64, "heads": 4, "patch": 4, "stem": "conv", "stem_width": 32,
             "time_stride": 2, "video_blocks": 1, "pool": 2}  # fmt: skip
QA_MODELS = {
    "video_qa": _SETTINGS,
    "video_qa_single_frame": {**_SETTINGS, "single_frame": True},
    "video_qa_patch": {**_SETTINGS, "stem": "patch"},
}
QUESTION_MODES = ("all", "one")
NO_ANSWER = -1  # the answer (and kind) of a question slot the scene does not ask
PAD = 0  # question_tokenizer()'s <pad> id


def encode_questions(
    scenes: list[list[Question]], mode: str = "all", rng: np.random.Generator | None = None
) -> dict[str, torch.Tensor]:
    """Token ids, answers and kinds of the questions of ``scenes`` (one list per scene, as in
    ``SynthScenes.batch(...)["questions"]``): ``question_ids`` (B, Q, Lq) long, ``answer`` and
    ``kind`` (B, Q) long (indices into ANSWERS and QUESTION_TYPES; -1 where no question).
    ``mode="all"``: Q = len(QUESTION_TYPES), slot q holds the question of type q;
    ``mode="one"``: Q = 1, one question per scene drawn with ``rng``."""
    if mode not in QUESTION_MODES:
        raise BadValueError(f"questions must be one of {QUESTION_MODES}, got {mode!r}")
    if not scenes or any(not s for s in scenes):
        raise BadValueError("every scene needs at least one question, got an empty list")
    if mode == "one":
        rng = rng or np.random.default_rng(0)
        scenes = [[s[int(rng.integers(len(s)))]] for s in scenes]
    slots = len(QUESTION_TYPES) if mode == "all" else 1
    tokenizer = question_tokenizer()
    length = 2 + max(len(q.tokens) for s in scenes for q in s)
    ids = [[[PAD] * length for _ in range(slots)] for _ in scenes]
    answer = [[NO_ANSWER] * slots for _ in scenes]
    kind = [[NO_ANSWER] * slots for _ in scenes]
    for i, questions in enumerate(scenes):
        for j, question in enumerate(questions):
            if question.kind not in QUESTION_TYPES:
                raise BadValueError(f"unknown question type {question.kind!r}")
            slot = QUESTION_TYPES.index(question.kind) if mode == "all" else j
            ids[i][slot] = tokenizer.encode(question.tokens, length).tolist()
            answer[i][slot] = question.answer_index
            kind[i][slot] = QUESTION_TYPES.index(question.kind)
    as_long = (torch.tensor(x, dtype=torch.long) for x in (ids, answer, kind))
    return dict(zip(("question_ids", "answer", "kind"), as_long, strict=True))


class QALoader(ClipLoader):
    """Batches of SynthScenes with their questions: ``clip`` (B, 3, T, H, W) and the rest of
    ``ds.batch``, plus ``question_ids``, ``answer`` and ``kind`` of :func:`encode_questions`.
    Order, epochs and process shards as :class:`~vidbook.data.ClipLoader`; with
    ``questions="one"`` the question drawn for a scene depends on ``seed``, the epoch and the
    scene only."""

    def __init__(self, dataset: SynthScenes, questions: str = "all", **loader: Any) -> None:
        if not isinstance(dataset, SynthScenes):
            raise BadValueError(f"QALoader needs a SynthScenes, got {type(dataset).__name__}")
        if questions not in QUESTION_MODES:
            raise BadValueError(f"questions must be one of {QUESTION_MODES}, got {questions!r}")
        super().__init__(dataset, **loader)
        self.questions = questions

    def __iter__(self):
        order = self.order()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = order[start : start + self.batch_size]
            batch = self.dataset.batch(indices, device=self.device, captions=False)
            params = self.dataset.params(indices)
            scenes = [questions_for(params.actors(i)) for i in range(len(indices))]
            rng = np.random.default_rng([self.seed, self.epoch, int(indices[0])])
            encoded = encode_questions(scenes, self.questions, rng)
            batch.update({k: v.to(batch["clip"].device) for k, v in encoded.items()})
            yield batch


class VideoQA(Objective):
    """Question answering as classification over ANSWERS: cross-entropy over the questions a
    batch asks (slots with answer -1 are skipped). ``correct`` counts the *scenes* whose every
    asked question is answered right (the Trainer divides by clips), so ``train_acc`` is that
    share; per-question accuracy, per type, comes from :func:`qa_test`.

    ``cell_weight`` > 0 (default 1, the measured recipe; 0: answers only) adds an auxiliary
    loss, weighted so: the model's cell head says, for each cell of its space-time grid, the
    colour, shape and motion class of the actor there and whether it is moving at that moment
    (:func:`cell_targets`, from the world's masks). It teaches the video encoder what the
    questions ask about from the first step, not only through answers to questions it has not
    yet learnt to read."""

    accuracy = True

    def __init__(self, cell_weight: float = 1.0) -> None:
        self.cell_weight = check_cell_weight(cell_weight)

    def unpack(self, batch: Any) -> tuple[tuple, dict]:
        keys = ("clip", "question_ids", "answer")
        keys += CELL_KEYS if self.cell_weight else ()
        if not isinstance(batch, dict) or any(k not in batch for k in keys):
            got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise BadValueError(f"a QA batch with {list(keys)} was expected (QALoader), got {got}")
        if not self.cell_weight:
            return (batch["clip"], batch["question_ids"]), {"answer": batch["answer"]}
        targets = {"answer": batch["answer"], "cells": cell_targets(batch)}
        return (batch["clip"], batch["question_ids"], True), targets

    def loss(self, output: Any, targets: dict) -> torch.Tensor:
        logits, cells = output if isinstance(output, tuple) else (output, None)
        answer = targets["answer"]
        logits = _check_output(logits, answer)
        loss = F.cross_entropy(logits.flatten(0, -2), answer.flatten(), ignore_index=NO_ANSWER)
        if self.cell_weight and cells is not None:
            loss = loss + self.cell_weight * cell_loss(cells, targets["cells"])
        return loss

    def correct(self, output: Any, targets: dict) -> torch.Tensor:
        logits = output[0] if isinstance(output, tuple) else output
        answer = targets["answer"]
        right = (logits.detach().argmax(-1) == answer) | (answer == NO_ANSWER)
        return right.reshape(len(answer), -1).all(dim=1).sum()


def _check_output(output: Any, targets: torch.Tensor) -> torch.Tensor:
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (
        *targets.shape,
        len(ANSWERS),
    ):
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise BadValueError(
            f"the model must return logits {(*targets.shape, len(ANSWERS))} for answers "
            f"{tuple(targets.shape)}, got {got}"
        )
    if not (targets == NO_ANSWER).logical_not().any():
        raise BadValueError("a QA batch needs at least one question with an answer")
    return output.float()


def qa_accuracy(predicted: torch.Tensor, answer: torch.Tensor, kind: torch.Tensor) -> dict:
    """Accuracy of ``predicted`` answer indices against ``answer``, overall and per question
    type: all (N,) or (B, Q) long tensors, ``kind`` indices into QUESTION_TYPES, -1 (no
    question) skipped. Returns ``acc``, ``questions``, ``acc_<type>`` (None where the type has
    no question), ``questions_<type>`` and ``acc_temporal`` (the TEMPORAL types together)."""
    if not (predicted.shape == answer.shape == kind.shape):
        raise BadValueError(
            f"predicted, answer and kind must have one shape, got {tuple(predicted.shape)}, "
            f"{tuple(answer.shape)} and {tuple(kind.shape)}"
        )
    asked = kind != NO_ANSWER
    if ((answer == NO_ANSWER) != ~asked).any() or kind.max() >= len(QUESTION_TYPES):
        raise BadValueError("answer is -1 exactly where kind is -1, and kind < 5, was expected")
    right = (predicted == answer) & asked
    out: dict[str, Any] = {"acc": right.sum().item() / max(asked.sum().item(), 1),
                           "questions": int(asked.sum())}  # fmt: skip
    for k, name in enumerate(QUESTION_TYPES):
        here = kind == k
        n = int(here.sum())
        out[f"acc_{name}"] = right[here].sum().item() / n if n else None
        out[f"questions_{name}"] = n
    temporal = torch.isin(kind, torch.tensor([QUESTION_TYPES.index(t) for t in TEMPORAL]))
    out["acc_temporal"] = right[temporal].sum().item() / max(int(temporal.sum()), 1)
    return out


def answer_prior(scenes: SynthScenes, count: int = 5000) -> dict[str, int]:
    """The most frequent answer (index into ANSWERS) of each question type over the first
    ``count`` scenes of ``scenes`` (read from the scenes' parameters, nothing rendered): what a
    model that ignores the video and reads only the question's type answers."""
    counts = {name: Counter() for name in QUESTION_TYPES}
    for start in range(0, min(count, len(scenes)), 1000):
        params = scenes.params(range(start, min(start + 1000, count, len(scenes))))
        for i in range(len(params.index)):
            for q in questions_for(params.actors(i)):
                counts[q.kind][q.answer_index] += 1
    return {name: c.most_common(1)[0][0] for name, c in counts.items() if c}


def qa_parts(spec: RunSpec, dev: torch.device) -> tuple[QALoader, QALoader, VideoQAModel, str]:
    """Train and validation QA loaders (all questions of each scene), the model ``spec.model``
    (one of QA_MODELS) for ``spec.clip_shape``, and a description."""
    if spec.model not in QA_MODELS:
        raise BadValueError(f"the QA task trains one of {tuple(QA_MODELS)}, got {spec.model!r}")
    scenes = [scene_set(spec, "train"), scene_set(spec, "val")]
    train = QALoader(scenes[0], batch_size=spec.batch_size, seed=spec.seed, device=dev)
    val = QALoader(scenes[1], batch_size=max(spec.batch_size, 64), shuffle=False, device=dev)
    shape = spec.clip_shape
    model = video_qa(**QA_MODELS[spec.model], frames=shape.frames, height=shape.height,
                     width=shape.width)  # fmt: skip
    described = (
        f"SynthScenes QA {spec.train_size} train / {spec.val_size} val scenes (all their "
        f"questions), {shape}, 1-4 actors, {spec.difficulty}"
    )
    return train, val, model, described


@torch.no_grad()
def qa_test(model: VideoQAModel, spec: RunSpec, dev: torch.device) -> dict:
    """Accuracy of ``model`` on the SynthScenes test split (``spec.test_size`` scenes, default
    the validation size, every question of each), overall and per type (``qa_accuracy``), with
    ``prior_<type>``: the accuracy of always giving the type's most frequent training answer."""
    scenes = scene_set(spec, "test")
    predicted, answers, kinds = [], [], []
    with eval_mode(model):
        for batch in QALoader(scenes, batch_size=64, shuffle=False, device=dev):
            predicted.append(model(batch["clip"], batch["question_ids"]).argmax(-1).cpu())
            answers.append(batch["answer"].cpu())
            kinds.append(batch["kind"].cpu())
    predicted, answer, kind = (torch.cat(x) for x in (predicted, answers, kinds))
    out = qa_accuracy(predicted, answer, kind)
    train = scene_set(spec, "train")
    prior = answer_prior(train)
    guess = torch.tensor([prior.get(name, 0) for name in QUESTION_TYPES])[kind.clamp(min=0)]
    prior_acc = qa_accuracy(torch.where(kind == NO_ANSWER, NO_ANSWER, guess), answer, kind)
    out.update({f"prior_{name}": prior_acc[f"acc_{name}"] for name in QUESTION_TYPES})
    out["prior_acc"] = prior_acc["acc"]
    out["scenes"] = len(scenes)
    return out
