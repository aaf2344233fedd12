"""Caption metrics: BLEU-4 and CIDEr through pycocoevalcap, and the accuracy of motion words.

Every caption is a list of tokens (``vidbook.data.scene_text.caption_tokens``), so English and
Chinese are scored alike: the tokens are joined with spaces before pycocoevalcap splits them
again, and its Java tokenizer is never used. ``references`` holds, per clip, a list of one or
more reference captions; ``candidates`` one caption per clip::

    references = [[["a", "red", "square", "grows"]], ...]   # clips x references x tokens
    candidates = [["a", "red", "square", "shrinks"], ...]   # clips x tokens

pycocoevalcap is imported only when a score is asked for (``pip install pycocoevalcap``).
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from collections.abc import Iterable, Sequence

from vidbook.data.scene_text import LANGUAGES, VERB_TOKENS
from vidbook.errors import BadValueError

__all__ = [
    "bleu4",
    "caption_metrics",
    "cider",
    "find_phrases",
    "motion_phrases",
    "motion_word_accuracy",
]

Tokens = Sequence[str]


def _check_tokens(name: str, tokens: object, allow_empty: bool) -> None:
    if not isinstance(tokens, (list, tuple)):
        raise BadValueError(
            f"{name} must be a list of tokens (str), got {type(tokens).__name__}"
            + (": split a sentence into tokens first" if isinstance(tokens, str) else "")
        )
    if not tokens and not allow_empty:
        raise BadValueError(f"{name} must hold at least one token, got an empty list")
    for token in tokens:
        if not isinstance(token, str) or not token or any(c.isspace() for c in token):
            raise BadValueError(
                f"{name} must hold non-empty tokens without white space, got {token!r}"
            )


def _check_captions(references: object, candidates: object) -> None:
    """Clips x references x tokens and clips x tokens; a candidate may be empty (a model that
    says nothing scores 0), a reference may not."""
    for name, value in (("references", references), ("candidates", candidates)):
        if not isinstance(value, (list, tuple)):
            raise BadValueError(
                f"{name} must be a list (one entry per clip), got {type(value).__name__}"
            )
    if not candidates:
        raise BadValueError("candidates must hold at least one caption, got an empty list")
    if len(references) != len(candidates):
        raise BadValueError(
            f"references and candidates must have one entry per clip each, got "
            f"{len(references)} and {len(candidates)}"
        )
    for i, (refs, cand) in enumerate(zip(references, candidates, strict=True)):
        _check_tokens(f"candidates[{i}]", cand, allow_empty=True)
        if not isinstance(refs, (list, tuple)) or not refs:
            raise BadValueError(
                f"references[{i}] must be a non-empty list of reference captions (token "
                f"lists), got {refs!r:.60}"
            )
        for j, ref in enumerate(refs):
            _check_tokens(f"references[{i}][{j}]", ref, allow_empty=False)


def _coco_inputs(references: Sequence[Sequence[Tokens]], candidates: Sequence[Tokens]):
    gts = {i: [" ".join(ref) for ref in refs] for i, refs in enumerate(references)}
    res = {i: [" ".join(cand)] for i, cand in enumerate(candidates)}
    return gts, res


def _scorer(name: str):
    try:
        if name == "bleu":
            from pycocoevalcap.bleu.bleu import Bleu

            return Bleu(4)
        from pycocoevalcap.cider.cider import Cider

        return Cider()
    except ImportError as err:
        raise ImportError("caption metrics need pycocoevalcap: pip install pycocoevalcap") from err


def bleu4(references: Sequence[Sequence[Tokens]], candidates: Sequence[Tokens]) -> float:
    """Corpus BLEU-4 of pycocoevalcap's ``Bleu(4)``, in [0, 1].

    Clipped n-gram matches (n = 1..4) and n-gram counts are summed over all clips before the
    geometric mean of the four precisions; the brevity penalty ``exp(1 - r / c)`` (when c < r)
    compares the total candidate length c with the sum r of each clip's *closest* reference
    length (the shorter one on a tie). pycocoevalcap adds 1e-15 and 1e-9 to each ratio, so
    identical captions score 1 - 1e-9 and a set without any 4-gram match about 1e-6, not 0.
    """
    _check_captions(references, candidates)
    gts, res = _coco_inputs(references, candidates)
    with contextlib.redirect_stdout(io.StringIO()):
        scores, _ = _scorer("bleu").compute_score(gts, res, verbose=0)
    return float(scores[3])


def cider(references: Sequence[Sequence[Tokens]], candidates: Sequence[Tokens]) -> float:
    """CIDEr of pycocoevalcap's ``Cider()`` (the CIDEr-D variant: clipped n-gram counts, a
    Gaussian length penalty of sigma 6, times 10), averaged over the clips; >= 0, often > 1.

    Its IDF comes from the references of the scored set itself: an n-gram found in every
    clip's references weighs 0, and with a single clip every weight is 0 (so one clip is
    refused). On a small set the IDF is noisy and the score inflated or deflated, so report
    the set size beside it (:func:`caption_metrics` does).
    """
    _check_captions(references, candidates)
    if len(candidates) < 2:
        raise BadValueError(
            "cider needs at least 2 clips (its IDF comes from the set itself: with one clip "
            f"every n-gram weighs 0), got {len(candidates)}"
        )
    gts, res = _coco_inputs(references, candidates)
    with contextlib.redirect_stdout(io.StringIO()):
        score, _ = _scorer("cider").compute_score(gts, res)
    return float(score)


def caption_metrics(references: Sequence[Sequence[Tokens]], candidates: Sequence[Tokens]) -> dict:
    """``{"bleu4": ..., "cider": ..., "n": number of clips}``; see :func:`bleu4`, :func:`cider`."""
    return {
        "bleu4": bleu4(references, candidates),
        "cider": cider(references, candidates),
        "n": len(candidates),
    }


def _check_phrases(motion_words: object) -> list[tuple[str, ...]]:
    if isinstance(motion_words, str):
        if motion_words not in LANGUAGES:
            raise BadValueError(
                f"motion_words must be a language in {LANGUAGES} or a list of token tuples, "
                f"got {motion_words!r}"
            )
        return list(VERB_TOKENS[motion_words].values())
    if not isinstance(motion_words, Iterable):
        raise BadValueError(
            f"motion_words must be a list of token tuples, got {type(motion_words).__name__}"
        )
    phrases = [tuple(p) if isinstance(p, (list, tuple)) else p for p in motion_words]
    if not phrases:
        raise BadValueError("motion_words must hold at least one phrase, got none")
    for phrase in phrases:
        if (
            not isinstance(phrase, tuple)
            or not phrase
            or not all(isinstance(t, str) and t for t in phrase)
        ):
            raise BadValueError(
                f"motion_words must hold non-empty tuples of str tokens, got {phrase!r}"
            )
    return phrases


def find_phrases(tokens: Tokens, phrases: Iterable[Sequence[str]]) -> list[tuple[str, ...]]:
    """The phrases found in ``tokens``, in order, scanning left to right and trying the longest
    phrase first at each position; a match is skipped over (matches never overlap), so
    ``moves away and comes back`` is one phrase, not ``moves`` followed by other words."""
    _check_tokens("tokens", tokens, allow_empty=True)
    by_length = sorted(set(_check_phrases(phrases)), key=len, reverse=True)
    found, i = [], 0
    while i < len(tokens):
        for phrase in by_length:
            if tuple(tokens[i : i + len(phrase)]) == phrase:
                found.append(phrase)
                i += len(phrase)
                break
        else:
            i += 1
    return found


def motion_phrases(tokens: Tokens, lang: str = "en") -> list[tuple[str, ...]]:
    """The motion phrases of ``tokens`` (the verbs of ``VERB_TOKENS[lang]``), in order, as
    :func:`find_phrases` finds them: ``[("moves", "left"), ("stays", "still")]``."""
    if lang not in LANGUAGES:
        raise BadValueError(f"lang must be one of {LANGUAGES}, got {lang!r}")
    return find_phrases(tokens, VERB_TOKENS[lang].values())


def motion_word_accuracy(
    references: Sequence[Sequence[Tokens]],
    candidates: Sequence[Tokens],
    motion_words: str | Iterable[Sequence[str]],
) -> float:
    """The share of clips, in [0, 1], whose candidate names exactly the motions of a reference.

    ``motion_words`` are the motion phrases (token tuples, such as
    ``VERB_TOKENS["en"].values()``), or a language code for those of ``VERB_TOKENS[lang]``.
    The phrases of a caption are found by :func:`find_phrases`; a clip counts as right when the
    *multiset* of its candidate's phrases (order ignored, repeats counted) equals that of at
    least one of its references. The rest of the words (colours, shapes, joins) do not count:
    "a red square moves left" is right for the reference "a blue cross moves left".
    """
    _check_captions(references, candidates)
    phrases = _check_phrases(motion_words)
    right = 0
    for refs, cand in zip(references, candidates, strict=True):
        said = Counter(find_phrases(cand, phrases))
        right += any(said == Counter(find_phrases(ref, phrases)) for ref in refs)
    return right / len(candidates)
