"""Instructions about SynthActions clips: questions in words, answers in words.

A video-language model is trained on *instructions*: a question (or a request) about a clip and
the answer it should give, both as text. Each clip of SynthActions has one actor with a colour,
a shape and a motion, so four kinds of request have one right answer each:

==========  ====================================  ===================================
kind        a training phrasing                   the answer
==========  ====================================  ===================================
colour      what colour is the actor ?            red
shape       what shape is the actor ?             square
motion      what does the actor do ?              moves left
caption     describe the clip ?                   a red square moves left
==========  ====================================  ===================================

Every kind has two training phrasings and one **held-out** phrasing that training never shows,
to ask whether the model reads the question or keys on a word. And one colour–motion pair in
five is **held out** (:func:`held_out_pair`): no training clip has it, so test clips that have it
ask whether the model composes "red" and "moves left" when it never saw them together.

A sequence is ``<bos> question ? answer <eos>``; the loss counts only the answer and ``<eos>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vidbook.data.scene_text import VERB_TOKENS, actor_tokens
from vidbook.data.synth import CLASSES, COLOURS, SHAPES
from vidbook.data.tokenizer import WordTokenizer
from vidbook.errors import BadValueError

KINDS = ("colour", "shape", "motion", "caption")
PHRASINGS = ("train", "held_out")
QUESTIONS: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    "colour": {
        "train": (("what", "colour", "is", "the", "actor"),
                  ("which", "colour", "does", "the", "actor", "have")),
        "held_out": (("name", "the", "colour", "of", "the", "actor"),),
    },
    "shape": {
        "train": (("what", "shape", "is", "the", "actor"),
                  ("which", "shape", "does", "the", "actor", "have")),
        "held_out": (("name", "the", "shape", "of", "the", "actor"),),
    },
    "motion": {
        "train": (("what", "does", "the", "actor", "do"),
                  ("how", "does", "the", "actor", "move")),
        "held_out": (("describe", "the", "motion", "of", "the", "actor"),),
    },
    "caption": {
        "train": (("describe", "the", "clip"),
                  ("what", "happens", "in", "the", "clip")),
        "held_out": (("tell", "me", "what", "happens"),),
    },
}  # fmt: skip
QUESTION_MARK = "?"
MAX_ANSWER = 10  # words: "an orange pacman moves away and comes back" has 8


def held_out_pair(colour: int | torch.Tensor, motion: int | torch.Tensor) -> bool | torch.Tensor:
    """Whether the colour–motion pair (indices into COLOURS and CLASSES) is held out of
    training: one pair in five, spread over every colour and every motion."""
    return (colour + motion) % 5 == 0


def answer_tokens(kind: str, colour: int, shape: int, motion: int) -> tuple[str, ...]:
    """The answer to a ``kind`` request about an actor, as words."""
    verb = VERB_TOKENS["en"][CLASSES[motion]]
    if kind == "colour":
        return (tuple(COLOURS)[colour],)
    if kind == "shape":
        return (SHAPES[shape],)
    if kind == "motion":
        return verb
    if kind == "caption":
        return (*actor_tokens(colour, shape), *verb)
    raise BadValueError(f"unknown request kind {kind!r}; the kinds are {KINDS}")


def instruction_tokenizer() -> WordTokenizer:
    """A word tokenizer over every question and every answer."""
    words: list[str] = [QUESTION_MARK]
    for by_phrasing in QUESTIONS.values():
        for questions in by_phrasing.values():
            for question in questions:
                words += question
    for colour in range(len(COLOURS)):
        for shape in range(len(SHAPES)):
            for motion in range(len(CLASSES)):
                words += answer_tokens("caption", colour, shape, motion)
    return WordTokenizer(words)


def _check(kinds: Sequence[str], phrasing: str) -> None:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise BadValueError(f"kinds must be some of {KINDS}, got {list(kinds)}")
    if phrasing not in PHRASINGS:
        raise BadValueError(f"phrasing must be one of {PHRASINGS}, got {phrasing!r}")


def instructions(
    labels: dict[str, torch.Tensor],
    kinds: Sequence[str] = KINDS,
    phrasing: str = "train",
    tokenizer: WordTokenizer | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """One request per clip and kind about clips with ``labels`` ("colour", "shape", "action":
    (N,) indices), its phrasing drawn from ``phrasing`` by ``seed``. Returns, for N x len(kinds)
    requests in the order clip 0 kind 0, clip 0 kind 1, ...:

    - ``clip`` (M,): which clip each request is about;
    - ``kind`` (M,): index into ``kinds``;
    - ``text`` (M, L): ``<bos> question ? answer``, right-padded with <pad>;
    - ``prompt_length`` (M,): how many ids of ``text`` are the prompt ``<bos> question ?``;
    - ``target`` (M, L): the next word at each position where it is part of the answer (or
      <eos>), -100 elsewhere (``cross_entropy``'s ignore index);
    - ``answer`` (M, MAX_ANSWER + 1): answer + <eos>, right-padded with <pad>.
    """
    _check(kinds, phrasing)
    missing = [k for k in ("colour", "shape", "action") if k not in labels]
    if missing:
        raise BadValueError(f"labels need 'colour', 'shape' and 'action', missing {missing}")
    tok = tokenizer or instruction_tokenizer()
    generator = torch.Generator().manual_seed(seed)
    colour, shape, motion = (labels[k].long().tolist() for k in ("colour", "shape", "action"))
    clips, kind_ids, prompts, answers = [], [], [], []
    for i in range(len(colour)):
        for k, kind in enumerate(kinds):
            choices = QUESTIONS[kind][phrasing]
            pick = int(torch.randint(len(choices), (1,), generator=generator))
            clips.append(i)
            kind_ids.append(k)
            prompts.append(
                [tok.bos_id, *tok.encode([*choices[pick], QUESTION_MARK], specials=False)]
            )
            answers.append([*tok.encode(answer_tokens(kind, colour[i], shape[i], motion[i]),
                                        specials=False), tok.eos_id])  # fmt: skip
    length = max(len(p) + len(a) - 1 for p, a in zip(prompts, answers, strict=True))
    text = torch.full((len(prompts), length), tok.pad_id, dtype=torch.long)
    target = torch.full((len(prompts), length), -100, dtype=torch.long)
    answer = torch.full((len(prompts), MAX_ANSWER + 1), tok.pad_id, dtype=torch.long)
    for m, (p, a) in enumerate(zip(prompts, answers, strict=True)):
        seq = torch.tensor(p + a[:-1])
        text[m, : len(seq)] = seq
        target[m, len(p) - 1 : len(p) - 1 + len(a)] = torch.tensor(a)
        answer[m, : len(a)] = torch.tensor(a)
    return {"clip": torch.tensor(clips), "kind": torch.tensor(kind_ids),
            "prompt_length": torch.tensor([len(p) for p in prompts]), "text": text, "target": target, "answer": answer}  # fmt: skip
