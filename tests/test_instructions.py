"""Instructions about SynthActions clips, the answer classifier, and the video-language training
helpers: sequences, loss masks, held-out splits, exact match."""

from __future__ import annotations

import pytest
import torch

from vidbook.data.instructions import (
    KINDS,
    QUESTIONS,
    answer_tokens,
    held_out_pair,
    instruction_tokenizer,
    instructions,
)
from vidbook.data.synth import CLASSES, COLOURS
from vidbook.errors import BadValueError
from vidbook.models.video_language import VideoQuestionClassifier, VLMConfig
from vidbook.train.video_language import (
    IGNORE,
    NextWordOnAnswers,
    RequestLoader,
    answer_classes,
    exact_match,
    generate_answers,
)

TOK = instruction_tokenizer()
LABELS = {"colour": torch.tensor([0, 3]), "shape": torch.tensor([1, 4]),
          "action": torch.tensor([CLASSES.index("move_left"), CLASSES.index("out_and_back")])}  # fmt: skip


def test_a_sequence_is_the_question_then_the_answer_and_only_the_answer_is_scored():
    req = instructions(LABELS, tokenizer=TOK)
    assert req["clip"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert req["kind"].tolist() == [0, 1, 2, 3] * 2
    caption = 3  # clip 0, kind "caption"
    length = int(req["prompt_length"][caption])
    prompt = TOK.decode(req["text"][caption, :length])
    assert tuple(prompt[:-1]) in QUESTIONS["caption"]["train"] and prompt[-1] == "?"
    scored = req["target"][caption] != IGNORE
    # the logits at the "?" predict the first answer word; the last scored target is <eos>
    assert scored.nonzero().flatten().tolist() == list(range(length - 1, length + 5))
    words = TOK.decode(req["target"][caption][scored])
    assert words == ["a", "red", "triangle", "moves", "left"]
    assert int(req["target"][caption][scored][-1]) == TOK.eos_id
    # the text holds the answer after the prompt (what the loss's targets are shifted from)
    assert TOK.decode(req["text"][caption, length:]) == ["a", "red", "triangle", "moves", "left"]
    assert TOK.decode(req["answer"][7]) == list(answer_tokens("caption", 3, 4, 9))


def test_answers_name_the_attribute_asked_for():
    assert answer_tokens("colour", 3, 1, 0) == (tuple(COLOURS)[3],)
    assert answer_tokens("shape", 3, 1, 0) == ("triangle",)
    assert answer_tokens("motion", 3, 1, CLASSES.index("rotate_ccw")) == (
        "rotates",
        "counter-clockwise",
    )
    assert answer_tokens("caption", 7, 0, CLASSES.index("grow")) == (
        "a",
        "white",
        "square",
        "grows",
    )


def test_held_out_phrasings_are_never_training_phrasings():
    for kind in KINDS:
        assert not set(QUESTIONS[kind]["train"]) & set(QUESTIONS[kind]["held_out"])
    held = instructions(LABELS, phrasing="held_out", tokenizer=TOK)
    for row in range(len(held["clip"])):
        words = tuple(TOK.decode(held["text"][row, : int(held["prompt_length"][row]) - 1]))
        assert words in QUESTIONS[KINDS[int(held["kind"][row])]]["held_out"]


def test_one_colour_motion_pair_in_five_is_held_out_and_every_colour_and_motion_keeps_some():
    colour, motion = torch.meshgrid(torch.arange(len(COLOURS)), torch.arange(len(CLASSES)),
                                    indexing="ij")  # fmt: skip
    held = held_out_pair(colour, motion)
    assert held.sum() == len(COLOURS) * len(CLASSES) // 5
    assert held.any(1).all() and held.any(0).all()  # every colour and motion has a held-out pair
    assert (~held).any(1).all() and (~held).any(0).all()  # ... and a pair that trains


def test_bad_requests_are_refused_by_name():
    with pytest.raises(BadValueError, match="kinds must be"):
        instructions(LABELS, kinds=("size",))
    with pytest.raises(BadValueError, match="phrasing must be"):
        instructions(LABELS, phrasing="test")
    with pytest.raises(BadValueError, match="missing \\['shape'\\]"):
        instructions({"colour": LABELS["colour"], "action": LABELS["action"]})
    with pytest.raises(BadValueError, match="unknown request kind"):
        answer_tokens("size", 0, 0, 0)
    with pytest.raises(BadValueError, match="features for 1 clips"):
        RequestLoader(torch.zeros(1, 2, 2, 2, 4), instructions(LABELS))


def test_the_loss_ignores_the_question_and_the_padding():
    req = instructions(LABELS, tokenizer=TOK)
    logits = torch.randn(*req["text"].shape, len(TOK))
    changed = logits.clone()
    changed[req["target"] == IGNORE] = torch.randn_like(changed[req["target"] == IGNORE])
    objective = NextWordOnAnswers()
    assert torch.equal(
        objective.loss(logits, req["target"]), objective.loss(changed, req["target"])
    )


class _Answers(torch.nn.Module):
    """A stand-in model that 'generates' a fixed answer for each request."""

    def __init__(self, replies: list[list[int]]) -> None:
        super().__init__()
        self.replies = replies
        self.rows = iter(range(10**6))

    def generate(self, features, prompt, max_new, stop):
        return torch.tensor([self.replies[next(self.rows)] for _ in range(len(prompt))])


def test_exact_match_counts_whole_answers_per_kind():
    req = instructions(LABELS, tokenizer=TOK)
    truth = [TOK.decode(a) for a in req["answer"]]
    predicted = [tuple(t) for t in truth]
    predicted[3] = tuple(truth[3][:-1])  # a caption one word short is wrong
    predicted[0] = ("blue",) if truth[0] != ["blue"] else ("red",)
    score = exact_match(predicted, req, TOK, KINDS)
    assert score["all"] == pytest.approx(6 / 8)
    assert score["colour"] == 0.5 and score["caption"] == 0.5 and score["shape"] == 1.0
    with pytest.raises(BadValueError, match="7 answers for 8 requests"):
        exact_match(predicted[:7], req, TOK, KINDS)


def test_generated_answers_come_back_in_request_order():
    req = instructions(LABELS, kinds=("colour", "shape"), tokenizer=TOK)
    # one prompt length per group: the stand-in replies with each request's own truth, in the
    # order generate_answers asks, so a mix-up of rows would show as wrong answers
    order = []
    for length in req["prompt_length"].unique().tolist():
        order += (req["prompt_length"] == length).nonzero().flatten().tolist()
    replies = [req["answer"][row].tolist() for row in order]
    answers = generate_answers(_Answers(replies), torch.zeros(2, 1, 1, 1, 1), req, TOK)
    assert answers == [tuple(TOK.decode(a)) for a in req["answer"]]


def test_answer_classes_and_the_classifier_reads_the_state_at_the_question_mark():
    req = instructions(LABELS, tokenizer=TOK)
    classes, answers = answer_classes(req)
    assert len(answers) == len(set(answers)) == 8 and classes.tolist() == list(range(8))
    unseen, _ = answer_classes(req, answers[:2])
    assert unseen.tolist() == [0, 1] + [-1] * 6
    torch.manual_seed(0)
    cfg = VLMConfig(len(TOK), 8, (2, 2, 2), dim=32, depth=1, heads=4, max_text=24)
    model = VideoQuestionClassifier(cfg, len(answers)).eval()
    features = torch.randn(len(req["clip"]), 2, 2, 2, 8)
    text = req["text"].clone()
    with torch.no_grad():
        before = model(features, text, req["prompt_length"])
        text[torch.arange(len(text)), req["prompt_length"]] = 3  # change the first answer word
        after = model(features, text, req["prompt_length"])
    assert before.shape == (8, 8) and torch.equal(before, after)  # the answer is not read
