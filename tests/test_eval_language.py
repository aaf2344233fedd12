"""Caption metrics: BLEU-4 and CIDEr (pycocoevalcap) on token lists, English and Chinese, a BLEU
computed by hand, and the motion phrases of SynthScenes captions."""

from __future__ import annotations

import math
import sys
from collections import Counter

import pytest

from vidbook import ClipShape
from vidbook.data.scene_text import VERB_TOKENS, caption_tokens
from vidbook.data.scenes import SynthScenes
from vidbook.data.synth import CLASSES
from vidbook.errors import BadValueError
from vidbook.eval.language import (
    bleu4,
    caption_metrics,
    cider,
    find_phrases,
    motion_phrases,
    motion_word_accuracy,
)

pytest.importorskip("pycocoevalcap")


@pytest.fixture(scope="module")
def scenes():
    """Actors of 60 SynthScenes clips."""
    ds = SynthScenes("val", size=60, clip_shape=ClipShape(4, 16, 16))
    params = ds.params(range(60))
    return [params.actors(i) for i in range(60)]


def test_identical_captions_score_one(scenes, capsys):
    caps = [caption_tokens(actors, "en") for actors in scenes[:5]]
    score = bleu4([[c] for c in caps], caps)
    assert score == pytest.approx(1.0, abs=1e-6) and score <= 1.0
    assert capsys.readouterr().out == ""  # pycocoevalcap's prints are silenced


def test_bleu_by_hand():
    # Clip 1: reference of 6 tokens, candidate of 5.
    #   1-grams 5/5, 2-grams 3/4 (not "on mat"), 3-grams 2/3, 4-grams 1/2.
    # Clip 2: references of 5 and 7 tokens, candidate of 4 -> closest reference length 5.
    #   1-grams: "a b c d" vs max counts over refs -> a, b, c, d all in ref 2: 4/4;
    #   2-grams: "a b", "b c" in ref 2, "c d" in ref 2 -> 3/3; 3-grams "a b c", "b c d": 2/2;
    #   4-gram "a b c d": 1/1.
    refs = [
        [["the", "cat", "sat", "on", "the", "mat"]],
        [["a", "b", "x", "y", "z"], ["q", "a", "b", "c", "d", "e", "f"]],
    ]
    cands = [["the", "cat", "sat", "on", "mat"], ["a", "b", "c", "d"]]
    p = [(5 + 4) / (5 + 4), (3 + 3) / (4 + 3), (2 + 2) / (3 + 2), (1 + 1) / (2 + 1)]
    c, r = 5 + 4, 6 + 5  # brevity penalty exp(1 - 11 / 9)
    expected = math.prod(p) ** 0.25 * math.exp(1 - r / c)
    assert bleu4(refs, cands) == pytest.approx(expected, abs=1e-6)
    # No brevity penalty when the candidate is longer than its closest reference.
    long = ["the", "cat", "sat", "on", "the", "mat", "today"]
    assert bleu4(refs[:1], [long]) == pytest.approx(
        (6 / 7 * 5 / 6 * 4 / 5 * 3 / 4) ** 0.25, abs=1e-6
    )


def test_cider_ranks_right_above_wrong(scenes):
    refs = [[caption_tokens(a, "en")] for a in scenes[:20]]
    right = [r[0] for r in refs]
    wrong = right[1:] + right[:1]  # every clip gets its neighbour's caption
    out = caption_metrics(refs, right)
    assert out["n"] == 20 and out["cider"] > 0 and out["bleu4"] > 0.99
    assert cider(refs, wrong) < out["cider"]
    assert bleu4(refs, wrong) < out["bleu4"]


def test_chinese_tokens_work(scenes):
    refs = [[caption_tokens(a, "zh")] for a in scenes[:20]]
    right = [r[0] for r in refs]
    assert any("红色" in c or "正方形" in c for c in right)
    assert bleu4(refs, right) == pytest.approx(1.0, abs=1e-6)
    wrong = right[1:] + right[:1]
    assert 0 < cider(refs, wrong) < cider(refs, right)


def test_an_empty_candidate_scores_but_a_single_clip_cider_is_refused():
    refs = [[["a", "red", "square", "grows"]], [["a", "blue", "cross", "shrinks"]]]
    assert bleu4(refs, [[], ["a", "blue", "cross", "shrinks"]]) < 1
    with pytest.raises(BadValueError, match="at least 2 clips"):
        cider(refs[:1], [["a"]])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_motion_phrases_recover_every_verb(scenes, lang):
    for actors in scenes:
        tokens = caption_tokens(actors, lang)
        found = motion_phrases(tokens, lang)
        wanted = [VERB_TOKENS[lang][CLASSES[a.motion]] for a in actors]
        assert Counter(found) == Counter(wanted), tokens


def test_longest_phrase_first():
    tokens = "a red square moves away and comes back while a blue cross moves left".split()
    assert motion_phrases(tokens) == [("moves", "away", "and", "comes", "back"), ("moves", "left")]
    assert find_phrases(["x", "y", "x"], [("x",), ("x", "y")]) == [("x", "y"), ("x",)]


def test_motion_word_accuracy():
    refs = [
        [["a", "red", "square", "moves", "left", "while", "a", "blue", "cross", "grows"]],
        [["a", "red", "square", "stays", "still"], ["a", "red", "square", "shrinks"]],
        [["a", "red", "square", "grows"]],
        [["a", "red", "square", "grows"]],
    ]
    cands = [
        ["a", "blue", "cross", "grows", "then", "a", "red", "square", "moves", "left"],  # order
        ["a", "red", "square", "shrinks"],  # matches the second reference
        ["a", "red", "square", "grows", "and", "grows"],  # one growth too many
        ["a", "red", "square", "shrinks"],  # the wrong verb
    ]
    assert motion_word_accuracy(refs, cands, VERB_TOKENS["en"].values()) == 0.5
    assert motion_word_accuracy(refs, cands, "en") == 0.5


def test_chinese_motion_word_accuracy(scenes):
    refs = [[caption_tokens(a, "zh")] for a in scenes[:10]]
    right = [r[0] for r in refs]
    assert motion_word_accuracy(refs, right, "zh") == 1.0
    nothing = [["红色", "正方形"] for _ in right]
    assert motion_word_accuracy(refs, nothing, "zh") == 0.0


@pytest.mark.parametrize(
    "refs, cands, match",
    [
        ([[["a"]]], [["a"], ["b"]], "one entry per clip"),
        ([], [], "at least one caption"),
        ([["a red square"]], [["a"]], r"references\[0\]\[0\] must be a list of tokens"),
        ([[["a"]]], ["a red square"], r"candidates\[0\] must be a list of tokens"),
        ([[["a"]]], [["a", 3]], "non-empty tokens"),
        ([[["a"]]], [["a b"]], "without white space"),
        ([[]], [["a"]], "non-empty list of reference captions"),
        ([[[]]], [["a"]], "at least one token"),
        ("abc", [["a"]], "references must be a list"),
    ],
)
def test_bad_inputs_raise(refs, cands, match):
    with pytest.raises(BadValueError, match=match):
        bleu4(refs, cands)
    with pytest.raises(BadValueError, match=match):
        motion_word_accuracy(refs, cands, "en")


def test_bad_motion_words_raise():
    refs, cands = [[["a"]]], [["a"]]
    for bad, match in (
        (["moves"], "tuples"),
        ([], "at least one"),
        ("fr", "language"),
        (3, "list"),
    ):
        with pytest.raises(BadValueError, match=match):
            motion_word_accuracy(refs, cands, bad)
    with pytest.raises(BadValueError, match="lang"):
        motion_phrases(["a"], "de")


def test_missing_pycocoevalcap_names_the_install(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("pycocoevalcap")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pycocoevalcap", None)  # import fails
    with pytest.raises(ImportError, match="pip install pycocoevalcap"):
        bleu4([[["a"]]], [["a"]])
