"""SynthScenes: several actors with boxes, masks, track ids, captions (English, Chinese) and
questions; deterministic, batched, and every bad input refused with a clear message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidbook import ClipShape
from vidbook.data import scene_text
from vidbook.data.scene_text import MOTION_ANSWERS, VOCAB, Actor, ask, questions_for
from vidbook.data.scenes import MAX_ACTORS, STATIC, SynthScenes, instance_masks
from vidbook.data.synth import CLASSES, COLOURS, SHAPES, _grid_axes, actor_alpha, boxes_from_masks
from vidbook.data.tokenizer import WordTokenizer
from vidbook.errors import BadValueError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def scenes():
    return SynthScenes("val", size=400, clip_shape=ClipShape(16, 32, 32))


@pytest.fixture(scope="module")
def batch(scenes):
    return scenes.batch(range(400))


def test_shapes_and_determinism(scenes, batch):
    b = 400
    assert batch["clip"].shape == (b, 3, 16, 32, 32) and batch["clip"].dtype == torch.float32
    assert batch["boxes"].shape == (b, MAX_ACTORS, 16, 4)
    assert batch["visible"].shape == (b, MAX_ACTORS, 16)
    assert batch["instances"].shape == (b, 16, 32, 32) and batch["instances"].dtype == torch.uint8
    assert 0 <= batch["clip"].min() and batch["clip"].max() <= 1
    again = scenes.batch([7, 3])  # a scene does not depend on its batch
    assert torch.equal(again["clip"][1], batch["clip"][3])
    assert torch.equal(again["boxes"][0], batch["boxes"][7])
    assert again["caption"]["zh"][0] == batch["caption"]["zh"][7]
    other = SynthScenes("val", size=400, seed=1).batch([3])
    assert not torch.equal(other["clip"][0], batch["clip"][3])


def test_every_actor_count_and_unique_looks(batch):
    active = batch["active"]
    counts = active.sum(1)
    assert set(counts.tolist()) == {1, 2, 3, 4}
    for row in range(len(active)):
        n = int(counts[row])
        assert active[row, :n].all() and not active[row, n:].any()  # slots fill from 0
        for key in ("colour", "shape"):
            values = batch[key][row, :n].tolist()
            assert len(set(values)) == n, (key, values)  # no two actors look alike
            assert (batch[key][row, n:] == -1).all()
        moving = [m for m in batch["motion"][row, :n].tolist() if m != STATIC]
        assert len(set(moving)) == len(moving)  # moving actors differ in motion
    still = (batch["motion"] == STATIC) & active
    assert 0.15 < still.sum() / active.sum() < 0.35  # about a quarter stay still


def test_motion_windows_start_apart(batch):
    for row in range(len(batch["active"])):
        moving = (batch["motion"][row] != STATIC) & batch["active"][row]
        starts = np.sort(batch["start"][row][moving].numpy())
        assert (np.diff(starts) >= 0.12 - 1e-6).all()
        ends = batch["end"][row][moving].numpy()
        assert (ends <= 1 + 1e-6).all() and (
            ends - batch["start"][row][moving].numpy() > 0.25
        ).all()


def test_masks_boxes_and_instances_agree(batch):
    masks, visible = instance_masks(batch["instances"]).transpose(1, 2), batch["visible"]
    assert masks.shape == (400, MAX_ACTORS, 16, 32, 32)
    assert torch.equal(batch["boxes"], boxes_from_masks(masks))
    assert (masks.flatten(-2).any(-1) == visible).all()  # a box exactly where an actor shows
    assert ((batch["boxes"] == 0).all(-1) == ~visible).all()
    assert not visible[~batch["active"]].any()
    assert batch["instances"].max() <= batch["active"].sum(1).max()


def test_the_front_actor_hides_the_ones_behind(scenes, batch):
    params = scenes.params(range(400))
    xs, ys = _grid_axes(32, 32, torch.device("cpu"))
    occluded = 0
    for row in range(400):
        n = int(params.active[row].sum())
        if n < 2:
            continue
        own = actor_alpha(params.cx[row, :n], params.cy[row, :n], params.scale[row, :n],
                          params.angle[row, :n], params.shape[row, :n], xs, ys)[:, 0] > 0.5  # fmt: skip
        front = int(params.depth[row, :n].argmax())
        masks = instance_masks(batch["instances"][row]).transpose(0, 1)  # (A, T, H, W)
        shown = masks[front]
        seen = batch["visible"][row, front]
        assert torch.equal(shown[seen], own[front][seen])  # nothing covers the front actor
        behind = [a for a in range(n) if a != front]
        hidden = own[behind] & own[front]  # pixels the front actor covers
        assert not (masks[behind] & hidden).any()
        occluded += int(hidden.any())
    assert occluded > 20  # actors do pass behind one another


def test_actors_leave_enter_and_cross(batch):
    active_frames = batch["active"][..., None].expand_as(batch["visible"])
    unseen = (active_frames & ~batch["visible"]).sum() / active_frames.sum()
    assert 0.02 < unseen < 0.3  # some actor-frames are out of view or hidden
    boxes, visible = batch["boxes"], batch["visible"]
    crossing = 0
    for row in range(400):
        b = boxes[row]
        x1 = torch.maximum(b[:, None, :, 0], b[None, :, :, 0])
        x2 = torch.minimum(b[:, None, :, 2], b[None, :, :, 2])
        y1 = torch.maximum(b[:, None, :, 1], b[None, :, :, 1])
        y2 = torch.minimum(b[:, None, :, 3], b[None, :, :, 3])
        both = visible[row][:, None] & visible[row][None, :]
        touch = (x2 > x1) & (y2 > y1) & both & ~torch.eye(MAX_ACTORS, dtype=torch.bool)[..., None]
        crossing += bool(touch.any())
    assert crossing > 80


def test_colours_on_screen_are_the_actors(scenes):
    easy = SynthScenes("val", size=50, difficulty="easy")  # no pixel noise
    out = easy.batch(range(50))
    palette = torch.tensor(list(COLOURS.values()))
    for row in range(50):
        for slot in range(int(out["active"][row].sum())):
            mask = out["instances"][row] == slot + 1
            if mask.sum() < 40:
                continue
            pixels = out["clip"][row].permute(1, 2, 3, 0)[mask]  # (P, 3)
            median = pixels.median(0).values
            assert (median - palette[out["colour"][row, slot]]).abs().max() < 0.08


def test_captions_name_every_actor_in_both_languages(batch):
    zh_colours, zh_shapes = scene_text.COLOUR_WORDS["zh"], scene_text.SHAPE_WORDS["zh"]
    colours = list(COLOURS)
    for row in range(50):
        en, zh = batch["caption"]["en"][row], batch["caption"]["zh"][row]
        assert zh.endswith("。") and en[-1] != " "
        for slot in range(int(batch["active"][row].sum())):
            colour = colours[batch["colour"][row, slot]]
            shape = SHAPES[batch["shape"][row, slot]]
            assert f"{colour} {shape}" in en
            assert zh_colours[colour] + zh_shapes[shape] in zh


def test_caption_grammar_orders_events():
    red_left = Actor(0, 0, CLASSES.index("move_left"), 0.0, 0.4)
    blue_grow = Actor(2, 2, CLASSES.index("grow"), 0.1, 0.6)  # starts before red is half done
    green_turn = Actor(1, 4, CLASSES.index("rotate_cw"), 0.7, 1.0)  # after blue is half done
    white_still = Actor(7, 3, STATIC, 0.0, 0.0)
    scene = [green_turn, white_still, blue_grow, red_left]
    tokens = scene_text.caption_tokens(scene, "en")
    assert scene_text.caption_text(tokens, "en") == (
        "a red square moves left while a blue cross grows; then a green ellipse rotates "
        "clockwise; a white pacman stays still"
    )
    zh = scene_text.caption_text(scene_text.caption_tokens(scene, "zh"), "zh")
    assert (
        zh == "红色正方形向左移动，同时蓝色十字变大；然后绿色椭圆顺时针旋转；白色吃豆人保持不动。"
    )
    assert set(tokens) <= set(VOCAB)


def test_questions_answer_what_the_scene_shows(batch, scenes):
    params = scenes.params(range(400))
    for row in range(400):
        actors = params.actors(row)
        found = {q.kind: q for q in questions_for(actors)}
        assert found["direction"].answer == MOTION_ANSWERS[CLASSES[actors[0].motion]]
        assert found["count_still"].answer == str(sum(not a.moves for a in actors))
        moving = [a for a in actors if a.moves]
        if len(moving) >= 2:
            first = min(moving, key=lambda a: a.start)
            assert found["first_mover"].answer == list(COLOURS)[first.colour]
        else:
            assert "first_mover" not in found
        assert found["shape_of"].answer == SHAPES[actors[-1].shape]
        for q in found.values():
            assert set(q.tokens) <= set(VOCAB) and q.answer in scene_text.ANSWERS
    kinds = [q.kind for qs in batch["questions"] for q in qs]
    assert set(kinds) == set(scene_text.QUESTION_TYPES)


def test_ask_about_a_named_actor_and_about_one_that_is_not_there():
    scene = [Actor(0, 0, CLASSES.index("move_left"), 0.0, 0.5), Actor(2, 1, STATIC, 0, 0)]
    assert ask(scene, "direction", colour="blue").answer == "nowhere"
    assert ask(scene, "shape_of", colour="red").answer == "square"
    with pytest.raises(BadValueError, match="there is no green actor in this scene; its actors: "
                       "red square, blue triangle"):  # fmt: skip
        ask(scene, "direction", colour="green")
    with pytest.raises(BadValueError, match="cannot answer a 'first_mover' question"):
        ask(scene, "first_mover")
    with pytest.raises(BadValueError, match="unknown question type 'why'"):
        ask(scene, "why")
    with pytest.raises(BadValueError, match="at least one actor"):
        questions_for([])


def test_tokenizer_round_trip_and_unknown_words():
    tok = WordTokenizer(VOCAB)
    words = "a red square moves left while a blue cross grows".split()
    ids = tok.encode(words, length=16)
    assert ids.shape == (16,) and ids[0] == tok.bos_id and tok.decode(ids) == words
    zh = ["红色", "正方形", "向左", "移动", "。"]
    assert tok.decode(tok.encode(zh)) == zh
    assert tok.encode_batch([words, zh]).shape == (2, len(words) + 2)
    with pytest.raises(BadValueError, match=r"unknown word\(s\) \['purple'\]"):
        tok.encode(["a", "purple", "square"])
    with pytest.raises(BadValueError, match="does not fit length 4"):
        tok.encode(words, length=4)
    with pytest.raises(BadValueError, match="id 999 is outside the vocabulary"):
        tok.decode([999])
    with pytest.raises(BadValueError, match="none of them <pad>"):
        WordTokenizer(["<pad>", "a"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "dev"}, "split must be one of"),
        ({"actors": (0, 4)}, r"actors\[0\] must be an int >= 1, got 0"),
        ({"actors": (3, 2)}, r"actors\[1\] must be an int >= 3, got 2"),
        ({"actors": (1, 5)}, r"actors\[1\] must be at most 4, got 5"),
        ({"actors": 3}, r"actors must be a pair \(fewest, most\), got 3"),
        (
            {"clip_shape": (16, 32, 32)},
            "clip_shape must be a vidbook.clip_shape.ClipShape or None, got tuple",
        ),
        ({"size": 0}, "size must be an int >= 1, got 0"),
        ({"difficulty": "brutal"}, "difficulty must be one of"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(BadValueError, match=message):
        SynthScenes(**kwargs)


def test_bad_indices(scenes):
    with pytest.raises(
        BadValueError, match="index 400 is out of range for split 'val' of size 400"
    ):
        scenes.batch([1, 400])
    with pytest.raises(BadValueError, match="indices must be integers"):
        scenes.batch(np.array([0.5]))
    with pytest.raises(BadValueError, match="index must be an int, got str"):
        scenes["3"]
    item = scenes[3]
    assert item["clip"].shape == (3, 16, 32, 32) and isinstance(item["caption"]["en"], str)
