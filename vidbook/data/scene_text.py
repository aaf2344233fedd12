"""Words for SynthScenes: captions in English and Chinese, and questions that need time.

Text is generated as *tokens* from a small grammar, so the tokenizer is the grammar itself:
nothing is learned or downloaded. An English caption joins its tokens with spaces, a Chinese one
without (``caption_text``). Every token of either language is in :data:`VOCAB`.

A caption names every actor by colour and shape, says what it does, and orders the events by
when they start: "a red square moves left while a blue cross grows ; then a green ellipse
rotates clockwise ; a white pacman stays still". Questions come in five types
(:data:`QUESTION_TYPES`); four need the order of the frames (``TEMPORAL``), one can be answered
from a single frame (``shape_of``), as a control.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidbook.data.scene_render import MAX_ACTORS
from vidbook.data.synth import CLASSES, COLOURS, SHAPES
from vidbook.errors import BadValueError

LANGUAGES = ("en", "zh")
COLOUR_WORDS = {
    "en": {c: c for c in COLOURS},
    "zh": {
        "red": "红色",
        "green": "绿色",
        "blue": "蓝色",
        "yellow": "黄色",
        "magenta": "品红色",
        "cyan": "青色",
        "orange": "橙色",
        "white": "白色",
    },
}
SHAPE_WORDS = {
    "en": {s: s for s in SHAPES},
    "zh": {"square": "正方形", "triangle": "三角形", "cross": "十字", "pacman": "吃豆人",
           "ellipse": "椭圆"},
}  # fmt: skip
# What each motion class does, as tokens.
VERB_TOKENS = {
    "en": {
        "move_left": ("moves", "left"),
        "move_right": ("moves", "right"),
        "move_up": ("moves", "up"),
        "move_down": ("moves", "down"),
        "rotate_cw": ("rotates", "clockwise"),
        "rotate_ccw": ("rotates", "counter-clockwise"),
        "grow": ("grows",),
        "shrink": ("shrinks",),
        "static": ("stays", "still"),
        "out_and_back": ("moves", "away", "and", "comes", "back"),
    },
    "zh": {
        "move_left": ("向左", "移动"),
        "move_right": ("向右", "移动"),
        "move_up": ("向上", "移动"),
        "move_down": ("向下", "移动"),
        "rotate_cw": ("顺时针", "旋转"),
        "rotate_ccw": ("逆时针", "旋转"),
        "grow": ("变大",),
        "shrink": ("变小",),
        "static": ("保持", "不动"),
        "out_and_back": ("移开", "又", "回来"),
    },
}
# Joining words: "while" (the next event starts before the last one is half done), "then", and
# the separator before the actors that stay still.
JOINS = {
    "en": {"while": ("while",), "then": (";", "then"), "still": (";",), "end": ()},
    "zh": {"while": ("，", "同时"), "then": ("；", "然后"), "still": ("；",), "end": ("。",)},
}
# The answer to "which way does X move?" for each motion class.
MOTION_ANSWERS = {
    "move_left": "left",
    "move_right": "right",
    "move_up": "up",
    "move_down": "down",
    "rotate_cw": "clockwise",
    "rotate_ccw": "counter-clockwise",
    "grow": "bigger",
    "shrink": "smaller",
    "static": "nowhere",
    "out_and_back": "away and back",
}
QUESTION_TYPES = ("direction", "first_mover", "count_still", "colour_of_motion", "shape_of")
TEMPORAL = ("direction", "first_mover", "count_still", "colour_of_motion")
ANSWERS: tuple[str, ...] = (
    *MOTION_ANSWERS.values(),
    *COLOURS,
    *SHAPES,
    *(str(n) for n in range(MAX_ACTORS + 1)),
)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def actor_tokens(colour: int, shape: int, lang: str = "en") -> list[str]:
    """``["a", "red", "square"]`` or ``["红色", "正方形"]``."""
    c, s = COLOURS_LIST[colour], SHAPES[shape]
    if lang == "en":
        return [_article(c), c, s]
    return [COLOUR_WORDS["zh"][c], SHAPE_WORDS["zh"][s]]


COLOURS_LIST = tuple(COLOURS)


@dataclass(frozen=True)
class Actor:
    """What the words need to know of one actor: its colour, shape and motion class (indices
    into COLOURS, SHAPES and CLASSES) and when its motion starts and ends (fractions of the
    clip; equal for a static actor)."""

    colour: int
    shape: int
    motion: int
    start: float
    end: float

    @property
    def moves(self) -> bool:
        return CLASSES[self.motion] != "static"


def _check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise BadValueError(f"lang must be one of {LANGUAGES}, got {lang!r}")


def caption_tokens(actors: list[Actor], lang: str = "en") -> list[str]:
    """The caption of a scene as tokens: moving actors in the order they start, then the still
    ones. Two events are joined by "while" when the second starts before the first is half
    done, by "then" otherwise."""
    _check_lang(lang)
    if not actors:
        raise BadValueError("a caption needs at least one actor, got none")
    moving = sorted((a for a in actors if a.moves), key=lambda a: a.start)
    still = [a for a in actors if not a.moves]
    joins = JOINS[lang]
    tokens: list[str] = []
    for i, actor in enumerate(moving):
        if i:
            before = moving[i - 1]
            overlap = actor.start < (before.start + before.end) / 2
            tokens += joins["while" if overlap else "then"]
        tokens += actor_tokens(actor.colour, actor.shape, lang)
        tokens += VERB_TOKENS[lang][CLASSES[actor.motion]]
    for actor in still:
        if tokens:
            tokens += joins["still"]
        tokens += actor_tokens(actor.colour, actor.shape, lang)
        tokens += VERB_TOKENS[lang]["static"]
    return tokens + list(joins["end"])


def caption_text(tokens: list[str], lang: str = "en") -> str:
    """Tokens as a sentence: spaces between English words, none in Chinese."""
    _check_lang(lang)
    if lang == "zh":
        return "".join(tokens)
    return " ".join(tokens).replace(" ;", ";")


@dataclass(frozen=True)
class Question:
    """One question about a scene: its type, its tokens (English) and its answer (in ANSWERS)."""

    kind: str
    tokens: tuple[str, ...]
    answer: str

    @property
    def text(self) -> str:
        return " ".join(self.tokens) + " ?"

    @property
    def answer_index(self) -> int:
        return ANSWERS.index(self.answer)


def questions_for(actors: list[Actor]) -> list[Question]:
    """Every question the templates can ask about a scene, one per type where it applies:

    - ``direction``: which way does the <colour> <shape> move? (one actor, picked by the scene)
    - ``first_mover``: which actor starts moving first? (its colour; needs two moving actors)
    - ``count_still``: how many actors stay still? (0 to 4)
    - ``colour_of_motion``: what colour is the actor that <verb>? (a moving actor)
    - ``shape_of``: what shape is the <colour> actor? (one frame is enough)
    """
    if not actors:
        raise BadValueError("questions need at least one actor, got none")
    found = []
    # The actor asked about is fixed by the scene (its first actor for direction, the last
    # moving one for colour_of_motion), so the questions are part of the data, not random.
    first = actors[0]
    found.append(
        Question(
            "direction",
            ("which", "way", "does", "the", COLOURS_LIST[first.colour], SHAPES[first.shape],
             "move"),
            MOTION_ANSWERS[CLASSES[first.motion]],
        )
    )  # fmt: skip
    moving = [a for a in actors if a.moves]
    if len(moving) >= 2:
        earliest = min(moving, key=lambda a: a.start)
        found.append(
            Question(
                "first_mover",
                ("which", "actor", "starts", "moving", "first"),
                COLOURS_LIST[earliest.colour],
            )
        )
    still = sum(not a.moves for a in actors)
    found.append(Question("count_still", ("how", "many", "actors", "stay", "still"), str(still)))
    if moving:
        target = moving[-1]
        verb = VERB_TOKENS["en"][CLASSES[target.motion]]
        found.append(
            Question(
                "colour_of_motion",
                ("what", "colour", "is", "the", "actor", "that", *verb),
                COLOURS_LIST[target.colour],
            )
        )
    last = actors[-1]
    found.append(
        Question(
            "shape_of",
            ("what", "shape", "is", "the", COLOURS_LIST[last.colour], "actor"),
            SHAPES[last.shape],
        )
    )
    return found


def ask(actors: list[Actor], kind: str, colour: str | None = None, shape: str | None = None
        ) -> Question:  # fmt: skip
    """One question of type ``kind`` about the actor of ``colour`` (and ``shape``) where the
    type asks about one actor (``direction``, ``shape_of``), else about the scene.

    BadValueError for an unknown type, an actor that is not in the scene, or a question the
    scene cannot answer (who moves first, with fewer than two moving actors)."""
    if kind not in QUESTION_TYPES:
        raise BadValueError(f"unknown question type {kind!r}; the types are {QUESTION_TYPES}")
    if kind in ("direction", "shape_of"):
        if colour is None:
            raise BadValueError(f"a {kind!r} question names an actor: give its colour")
        here = [a for a in actors if COLOURS_LIST[a.colour] == colour
                and (shape is None or SHAPES[a.shape] == shape)]  # fmt: skip
        if not here:
            present = ", ".join(f"{COLOURS_LIST[a.colour]} {SHAPES[a.shape]}" for a in actors)
            wanted = f"{colour} {shape}" if shape else f"{colour} actor"
            raise BadValueError(f"there is no {wanted} in this scene; its actors: {present}")
        actors = here[:1] + [a for a in actors if a is not here[0]]
        if kind == "shape_of":
            actors = actors[1:] + actors[:1]  # shape_of asks about the last actor
    for question in questions_for(actors):
        if question.kind == kind:
            return question
    raise BadValueError(
        f"this scene cannot answer a {kind!r} question (it has "
        f"{sum(a.moves for a in actors)} moving actor(s))"
    )


def _all_tokens() -> tuple[str, ...]:
    words: list[str] = []
    for lang in LANGUAGES:
        words += ["a", "an"] if lang == "en" else []
        words += COLOUR_WORDS[lang].values()
        words += SHAPE_WORDS[lang].values()
        for verb in VERB_TOKENS[lang].values():
            words += verb
        for join in JOINS[lang].values():
            words += join
    words += ["which", "way", "does", "the", "move", "actor", "starts", "moving", "first", "how",
              "many", "actors", "stay", "still", "what", "colour", "is", "that", "shape", "?"]  # fmt: skip
    return tuple(dict.fromkeys(words))


VOCAB: tuple[str, ...] = _all_tokens()
