"""Video question answering: the model's shapes and input checks, the QA batches, the objective,
per-type accuracy bookkeeping on a hand-made case, and a tiny overfit that must succeed."""

from __future__ import annotations

import pytest
import torch

from vidbook.clip_shape import ClipShape
from vidbook.data import SynthScenes
from vidbook.data.scene_text import ANSWERS, QUESTION_TYPES, Question
from vidbook.errors import BadValueError
from vidbook.models.video_qa import (
    CELL_CLASSES,
    MAX_QUESTION_LENGTH,
    VideoQAConfig,
    VideoQAModel,
    question_tokenizer,
    video_qa,
)
from vidbook.train.qa import (
    NO_ANSWER,
    QA_MODELS,
    QALoader,
    VideoQA,
    answer_prior,
    encode_questions,
    qa_accuracy,
    qa_parts,
    qa_test,
)
from vidbook.train.runner import RunSpec
from vidbook.train.scene_cells import cell_loss, cell_targets

SMALL = ClipShape(8, 16, 16)
TINY = {"d_model": 32, "heads": 2, "patch": 4, "frames": 8, "height": 16, "width": 16}


@pytest.fixture(scope="module")
def batch() -> dict:
    scenes = SynthScenes("train", size=64, clip_shape=SMALL, seed=3)
    return next(iter(QALoader(scenes, batch_size=6, shuffle=False)))


def test_batches_hold_every_question_of_each_scene_in_its_type_slot(batch):
    scenes = SynthScenes("train", size=64, clip_shape=SMALL, seed=3)
    truth = scenes.batch(range(6))["questions"]
    tok = question_tokenizer()
    assert batch["question_ids"].shape[:2] == (6, len(QUESTION_TYPES))
    assert torch.equal(batch["clip"], scenes.batch(range(6), captions=False)["clip"])
    for i, questions in enumerate(truth):
        asked = {QUESTION_TYPES.index(q.kind): q for q in questions}
        for slot in range(len(QUESTION_TYPES)):
            if slot in asked:
                q = asked[slot]
                assert tok.decode(batch["question_ids"][i, slot]) == list(q.tokens)
                assert ANSWERS[batch["answer"][i, slot]] == q.answer
                assert batch["kind"][i, slot] == slot
            else:
                assert batch["answer"][i, slot] == NO_ANSWER == batch["kind"][i, slot]
                assert not batch["question_ids"][i, slot].any()


def test_one_question_mode_draws_one_of_the_scenes_questions():
    scenes = SynthScenes("train", size=64, clip_shape=SMALL, seed=3)
    first, again = (next(iter(QALoader(scenes, "one", batch_size=8, seed=5))) for _ in range(2))
    assert first["question_ids"].shape[:2] == (8, 1)
    assert torch.equal(first["question_ids"], again["question_ids"])  # seeded
    assert (first["answer"] >= 0).all() and (first["kind"] >= 0).all()


def test_model_shapes_and_several_questions_agree_with_one_at_a_time(batch):
    torch.manual_seed(0)
    model = video_qa(**TINY).eval()
    clip, ids = batch["clip"], batch["question_ids"]
    with torch.no_grad():
        together = model(clip, ids)  # (B, Q, A): the clip encoded once
        assert together.shape == (6, len(QUESTION_TYPES), len(ANSWERS))
        for slot in range(ids.shape[1]):
            alone = model(clip, ids[:, slot])  # (B, Lq) -> (B, A)
            assert alone.shape == (6, len(ANSWERS))
            torch.testing.assert_close(together[:, slot], alone, atol=1e-5, rtol=1e-5)


def test_single_frame_model_sees_the_middle_frame_only(batch):
    torch.manual_seed(0)
    clip, ids = batch["clip"], batch["question_ids"][:, 0]
    changed = clip.clone()
    changed[:, :, : SMALL.frames // 2] = torch.rand_like(changed[:, :, : SMALL.frames // 2])
    for single in (True, False):
        model = video_qa(**TINY, single_frame=single).eval()
        with torch.no_grad():
            same = torch.allclose(model(clip, ids), model(changed, ids))
        assert same == single


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (torch.ones(6, dtype=torch.long), "must be \\(B, Lq\\) or \\(B, Q, Lq\\)"),
        (torch.ones(6, 2, 3, 4, dtype=torch.long), "must be \\(B, Lq\\) or \\(B, Q, Lq\\)"),
        (torch.ones(5, 9, dtype=torch.long), "B = 6 clips"),
        (torch.ones(6, 9), "integer tensor"),
        (torch.full((6, 9), 10_000), "must lie in"),
        (torch.full((6, 9), -1), "must lie in"),
        (torch.ones(6, MAX_QUESTION_LENGTH + 1, dtype=torch.long), "at most"),
    ],
)
def test_bad_question_ids_are_named(batch, ids, message):
    model = video_qa(**TINY)
    with pytest.raises(BadValueError, match=message):
        model(batch["clip"], ids)


def test_bad_clips_and_configs_are_named(batch):
    model = video_qa(**TINY)
    ids = batch["question_ids"][:, 0]
    with pytest.raises(BadValueError, match="8 x 16 x 16"):
        model(torch.rand(6, 3, 4, 16, 16), ids)
    with pytest.raises(BadValueError, match="\\(B, 3, T, H, W\\)"):
        model(batch["clip"][:, :2], ids)
    with pytest.raises(BadValueError, match="multiple of heads"):
        VideoQAConfig(d_model=30, heads=4)
    with pytest.raises(BadValueError, match="patch \\* pool"):
        VideoQAConfig(height=18)
    with pytest.raises(BadValueError, match="unknown VideoQAConfig field"):
        video_qa(depth=3)


def test_a_question_with_an_unknown_word_is_an_error():
    bad = Question("direction", ("which", "way", "does", "the", "purple", "blob", "move"), "left")
    with pytest.raises(BadValueError, match="unknown word.*purple"):
        encode_questions([[bad]])
    with pytest.raises(BadValueError, match="at least one question"):
        encode_questions([[]])
    with pytest.raises(BadValueError, match="questions must be one of"):
        encode_questions([[bad]], mode="some")


def test_objective_skips_absent_questions_and_counts_scenes_all_right():
    answers = torch.tensor([[3, NO_ANSWER], [5, 7]])
    logits = torch.zeros(2, 2, len(ANSWERS))
    logits[0, 0, 3] = logits[1, 0, 5] = logits[1, 1, 0] = 10.0  # scene 1 gets one wrong
    logits[0, 1] = float("nan")  # an absent question: its logits are never read
    objective = VideoQA()
    loss = objective.loss(logits, {"answer": answers})
    expected = torch.nn.functional.cross_entropy(logits[answers >= 0], answers[answers >= 0])
    torch.testing.assert_close(loss, expected)
    assert objective.correct(logits, {"answer": answers}).item() == 1
    with pytest.raises(BadValueError, match="logits"):
        objective.loss(logits[:, :, :5], {"answer": answers})
    with pytest.raises(BadValueError, match="QA batch"):
        objective.unpack({"clip": torch.zeros(1)})
    with pytest.raises(BadValueError, match="instances"):  # the cell loss needs the masks
        objective.unpack({k: torch.zeros(1) for k in ("clip", "question_ids", "answer")})


def test_per_type_accuracy_on_a_hand_made_case():
    # kinds: direction, direction, first_mover, count_still, shape_of, and one absent slot
    kind = torch.tensor([0, 0, 1, 2, 4, NO_ANSWER])
    answer = torch.tensor([0, 1, 10, 27, 18, NO_ANSWER])
    predicted = torch.tensor([0, 2, 10, 28, 18, 5])
    out = qa_accuracy(predicted, answer, kind)
    assert out["questions"] == 5 and out["acc"] == pytest.approx(3 / 5)
    assert out["acc_direction"] == 0.5 and out["questions_direction"] == 2
    assert out["acc_first_mover"] == 1.0 and out["acc_count_still"] == 0.0
    assert out["acc_colour_of_motion"] is None and out["questions_colour_of_motion"] == 0
    assert out["acc_shape_of"] == 1.0
    assert out["acc_temporal"] == pytest.approx(2 / 4)
    with pytest.raises(BadValueError, match="one shape"):
        qa_accuracy(predicted[:3], answer, kind)


def test_answer_prior_is_the_most_frequent_answer_per_type():
    scenes = SynthScenes("train", size=300, clip_shape=SMALL)
    prior = answer_prior(scenes, count=300)
    assert ANSWERS[prior["count_still"]] in ("0", "1")
    assert ANSWERS[prior["direction"]] == "nowhere"  # static: 25 % of actors, 1/9 each else
    assert set(prior) == set(QUESTION_TYPES)


def test_a_tiny_model_overfits_a_few_scenes():
    torch.manual_seed(0)
    scenes = SynthScenes("train", size=8, clip_shape=SMALL, seed=1)
    data = next(iter(QALoader(scenes, batch_size=8, shuffle=False)))
    model = video_qa(**TINY)
    objective = VideoQA()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    inputs, targets = objective.unpack(data)
    for _ in range(50):
        loss = objective.loss(model(*inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(data["clip"], data["question_ids"]).argmax(-1)
    assert qa_accuracy(predicted, data["answer"], data["kind"])["acc"] == 1.0, loss.item()


def test_parts_and_test_of_a_small_run():
    spec = RunSpec(model="video_qa", clip_shape=SMALL, train_size=16, val_size=8, test_size=8,
                   batch_size=8)  # fmt: skip
    train, val, model, described = qa_parts(spec, torch.device("cpu"))
    assert isinstance(model, VideoQAModel) and "16 train" in described
    assert len(train) == 2 and len(val) == 1
    out = qa_test(model, spec, torch.device("cpu"))
    assert out["scenes"] == 8
    assert sum(out[f"questions_{name}"] for name in QUESTION_TYPES) == out["questions"]
    assert all(0 <= out[f"prior_{name}"] <= 1 for name in QUESTION_TYPES
               if out[f"questions_{name}"])  # fmt: skip
    with pytest.raises(BadValueError, match="QA task trains one of"):
        qa_parts(RunSpec(model="c3d", clip_shape=SMALL, train_size=8, val_size=8),
                 torch.device("cpu"))  # fmt: skip
    assert set(QA_MODELS) >= {"video_qa", "video_qa_single_frame"}


def test_cell_targets_and_the_auxiliary_cell_loss():
    scenes = SynthScenes("train", size=8, clip_shape=SMALL, seed=2)
    data = next(iter(QALoader(scenes, batch_size=4, shuffle=False)))
    targets = cell_targets(data)
    assert targets.shape == (4, SMALL.frames, SMALL.height, SMALL.width, 4)
    inst = data["instances"].long()
    background = inst == 0
    assert (targets[background] == 0).all() and (targets[~background][:, 0] > 0).all()
    b, t, y, x = (int(v[0]) for v in torch.nonzero(~background, as_tuple=True))
    slot = int(inst[b, t, y, x]) - 1
    assert targets[b, t, y, x, 0] == data["colour"][b, slot] + 1
    assert targets[b, t, y, x, 1] == data["shape"][b, slot] + 1
    assert targets[b, t, y, x, 2] == data["motion"][b, slot] + 1
    model = video_qa(**TINY)
    objective = VideoQA(cell_weight=1.0)
    inputs, goal = objective.unpack(data)
    logits, cells = model(*inputs)
    assert cells.shape == (4, SMALL.frames // 2, 4, 4, sum(CELL_CLASSES))
    total = objective.loss((logits, cells), goal)
    alone = VideoQA(cell_weight=0).loss(logits, goal)
    assert total > alone  # the cell loss is added
    with pytest.raises(BadValueError, match="do not tile"):
        cell_loss(cells[:, :3], goal["cells"])
    with pytest.raises(BadValueError, match="cell_weight"):
        VideoQA(cell_weight=-1)


def test_the_conv_stem_gives_the_same_grid(batch):
    model = video_qa(**TINY, stem="conv", stem_width=8).eval()
    with torch.no_grad():
        logits, cells = model(batch["clip"], batch["question_ids"], cells=True)
    assert logits.shape == (6, len(QUESTION_TYPES), len(ANSWERS))
    assert cells.shape == (6, SMALL.frames // 2, 4, 4, sum(CELL_CLASSES))
    with pytest.raises(BadValueError, match="stem must be"):
        VideoQAConfig(stem="vit")
