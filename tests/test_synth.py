"""SynthActions: determinism, splits, labels, boxes/masks, captions, time reversal, bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vidbook.clip_shape import ClipShape
from vidbook.data import CLASSES, TIME_REVERSED, ClipLoader, SynthActions
from vidbook.data.single_frame import cell_accuracy, frame_attributes, single_frame_accuracy
from vidbook.data.synth import COLOURS, SHAPES, VERBS, boxes_from_masks, render


def digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


@pytest.fixture(scope="module")
def small() -> SynthActions:
    return SynthActions("train", size=200, frames=8, height=24, width=24)


def test_item_layout(small):
    item = small[3]
    assert item["clip"].shape == (3, 8, 24, 24) and item["clip"].dtype == torch.float32
    assert 0.0 <= item["clip"].min() and item["clip"].max() <= 1.0
    assert item["boxes"].shape == (8, 4) and item["masks"].shape == (8, 24, 24)
    assert item["masks"].dtype == torch.bool
    assert int(item["label"]) == 3 and item["caption"].startswith("a ")
    assert bool(item["action"]) == (CLASSES[3] != "static")
    assert len(small) == 200 and small.classes == CLASSES and small.num_classes == 10


def test_at_least_ten_classes_and_four_shapes():
    assert len(CLASSES) >= 10 and len(SHAPES) >= 4
    for needed in (
        "move_left",
        "move_right",
        "move_up",
        "move_down",
        "rotate_cw",
        "rotate_ccw",
        "grow",
        "shrink",
        "static",
        "out_and_back",
    ):
        assert needed in CLASSES


def test_labels_balanced(small):
    labels = small.batch(range(200), captions=False)["label"]
    assert torch.bincount(labels, minlength=10).tolist() == [20] * 10


def test_deterministic_across_processes(small):
    here = digest(small.batch([0, 7, 199], captions=False)["clip"])
    code = (
        "import hashlib, json; from vidbook.data import SynthActions;"
        "ds = SynthActions('train', size=200, frames=8, height=24, width=24);"
        "c = ds.batch([0, 7, 199], captions=False)['clip'];"
        "print(json.dumps(hashlib.sha256(c.contiguous().numpy().tobytes()).hexdigest()))"
    )
    there = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    assert here == there


def test_item_independent_of_batch_composition(small):
    alone = small[5]["clip"]
    together = small.batch([9, 5, 1], captions=False)["clip"][1]
    assert torch.equal(alone, together)


def test_seed_changes_clips():
    a = SynthActions("train", size=10, frames=4, height=16, width=16, seed=0)[2]["clip"]
    b = SynthActions("train", size=10, frames=4, height=16, width=16, seed=1)[2]["clip"]
    assert not torch.equal(a, b)


def test_splits_never_overlap():
    seen: dict[str, str] = {}
    for split in ("train", "val", "test"):
        ds = SynthActions(split, size=300, frames=4, height=16, width=16)
        out = ds.batch(range(300), captions=False)
        for i, clip in enumerate(out["clip"]):
            key = digest(clip)
            assert key not in seen, f"{split}[{i}] repeats {seen.get(key)}"
            seen[key] = f"{split}[{i}]"
        assert len(set(out["index"].tolist())) == 300
    # The global indices of the splits live in disjoint ranges.
    idx = {s: SynthActions(s, size=5).params(range(5)).index for s in ("train", "val", "test")}
    assert not set(idx["train"].tolist()) & set(idx["val"].tolist())
    assert not set(idx["val"].tolist()) & set(idx["test"].tolist())


def test_boxes_contain_masks_and_are_tight(small):
    out = small.batch(range(100), captions=False)
    masks, boxes = out["masks"], out["boxes"].long()
    assert masks.flatten(2).any(-1).all(), "the actor must be visible in every frame"
    h, w = masks.shape[-2:]
    ys = torch.arange(h).view(1, 1, h, 1)
    xs = torch.arange(w).view(1, 1, 1, w)
    x1, y1, x2, y2 = (boxes[..., i, None, None] for i in range(4))
    inside = (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)
    assert not (masks & ~inside).any(), "a mask pixel lies outside its box"
    # Tight: every edge row/column of the box holds a mask pixel.
    assert (masks & (xs == x1)).flatten(2).any(-1).all()
    assert (masks & (xs == x2 - 1)).flatten(2).any(-1).all()
    assert (masks & (ys == y1)).flatten(2).any(-1).all()
    assert (masks & (ys == y2 - 1)).flatten(2).any(-1).all()


def test_boxes_from_masks_by_hand():
    masks = torch.zeros(2, 6, 8, dtype=torch.bool)
    masks[0, 1:3, 2:5] = True
    assert boxes_from_masks(masks).tolist() == [[2, 1, 5, 3], [0, 0, 0, 0]]


def test_captions_match_labels_and_attributes(small):
    out = small.batch(range(40))
    for cap, lab, shape, colour in zip(
        out["caption"], out["label"], out["shape"], out["colour"], strict=True
    ):
        name = list(COLOURS)[colour]
        article = "an" if name == "orange" else "a"
        assert cap == f"{article} {name} {SHAPES[shape]} {VERBS[CLASSES[lab]]}"


def test_motion_defines_the_class():
    ds = SynthActions("val", size=400, frames=8, height=48, width=48, difficulty="easy")
    out = ds.batch(range(400), captions=False)
    boxes, masks, labels = out["boxes"], out["masks"], out["label"]
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    cy = (boxes[..., 1] + boxes[..., 3]) / 2
    area = masks.flatten(2).sum(-1).float()
    moved_x, moved_y = cx[:, -1] - cx[:, 0], cy[:, -1] - cy[:, 0]
    for name, ok in {
        "move_left": moved_x < -3,
        "move_right": moved_x > 3,
        "move_up": moved_y < -3,
        "move_down": moved_y > 3,
        "grow": area[:, -1] > 1.5 * area[:, 0],
        "shrink": area[:, -1] < area[:, 0] / 1.5,
        "static": (masks[:, -1] == masks[:, 0]).flatten(1).all(-1),
    }.items():
        rows = labels == CLASSES.index(name)
        assert rows.any() and ok[rows].all(), name
    back = labels == CLASSES.index("out_and_back")
    far = ((cx - cx[:, :1]) ** 2 + (cy - cy[:, :1]) ** 2).sqrt()
    assert (far[back, -1] <= 1.0).all() and (far[back].max(1).values > 3).all()
    spin = labels == CLASSES.index("rotate_cw")
    assert not (masks[spin, 1] == masks[spin, 0]).flatten(1).all(-1).any()


def test_clockwise_means_clockwise_on_screen():
    ds = SynthActions("train", size=40, frames=2)
    params = ds.params([CLASSES.index("rotate_cw"), CLASSES.index("rotate_ccw")])
    # Angle grows for clockwise; with y pointing down that turns +x towards +y (clockwise).
    assert params.angle[0, 1] > params.angle[0, 0] and params.angle[1, 1] < params.angle[1, 0]
    # Check on pixels: a pacman's mouth (pointing along +x at angle 0) turns towards +y.
    params.shape[:] = SHAPES.index("pacman")
    for name in ("cx", "cy"):
        getattr(params, name).zero_()
    params.angle[0] = torch.tensor([0.0, 0.6])
    params.scale.fill_(0.8)  # a radius of 25 pixels around the centre (32, 32)
    m = render(params, 64, 64)["masks"][0]
    below_right = m[:, 40:50, 40:50].sum((1, 2))  # 45 degrees below the +x axis
    above_right = m[:, 14:24, 40:50].sum((1, 2))  # 45 degrees above it
    assert below_right[0] > 60 and below_right[1] < below_right[0] / 3  # the mouth turned down
    assert above_right[1] >= above_right[0] > 60


def test_time_reversal_maps_labels_as_declared(small):
    params = small.params(range(30))
    back = params.time_reversed()
    for lab, rev in zip(params.label.tolist(), back.label.tolist(), strict=True):
        assert CLASSES[rev] == TIME_REVERSED[CLASSES[lab]]
        assert TIME_REVERSED[TIME_REVERSED[CLASSES[lab]]] == CLASSES[lab]
    forward = render(params, 24, 24)
    backward = render(back, 24, 24)
    assert torch.equal(forward["clip"].flip(2), backward["clip"])
    assert torch.equal(forward["masks"].flip(1), backward["masks"])
    assert torch.equal(SynthActions.time_reversed_label(params.label), back.label)
    assert SynthActions.time_reversed_label(CLASSES.index("grow")) == CLASSES.index("shrink")


def test_reversed_tracks_look_like_the_other_class():
    """A reversed 'move_left' clip has exactly the motion statistics of a 'move_right' clip."""
    ds = SynthActions("train", size=2000, frames=8)
    left, right = CLASSES.index("move_left"), CLASSES.index("move_right")
    p = ds.params(range(2000))
    rev = p.time_reversed()
    v_rev = (rev.cx[:, -1] - rev.cx[:, 0])[p.label == left]
    v_right = (p.cx[:, -1] - p.cx[:, 0])[p.label == right]
    assert (v_rev > 0).all()
    assert abs(v_rev.mean() - v_right.mean()) < 0.05


def test_appearance_is_independent_of_class():
    p = SynthActions("train", size=5000, frames=2).params(range(5000))
    for attr, k in (("shape", len(SHAPES)), ("colour", len(COLOURS))):
        table = torch.zeros(10, k)
        table.index_put_((p.label, getattr(p, attr)), torch.ones(5000), accumulate=True)
        # Chi-square test of independence: far above its degrees of freedom only if the
        # attribute depended on the class (5 standard deviations of the statistic here).
        expected = table.sum(1, keepdim=True) * table.sum(0, keepdim=True) / table.sum()
        chi2 = float(((table - expected) ** 2 / expected).sum())
        dof = 9 * (k - 1)
        assert chi2 < dof + 5 * (2 * dof) ** 0.5, (attr, chi2, table)
        assert (table > 0).all()


def test_works_with_dataloader(small):
    batch = next(iter(DataLoader(small, batch_size=4)))
    assert batch["clip"].shape == (4, 3, 8, 24, 24) and len(batch["caption"]) == 4
    assert torch.equal(batch["clip"], small.batch(range(4))["clip"])


def test_clip_loader_order():
    ds = SynthActions("train", size=50, frames=2, height=8, width=8)
    loader = ClipLoader(ds, batch_size=16, shuffle=True, seed=3)
    assert len(loader) == 4
    first = loader.order()
    assert sorted(first.tolist()) == list(range(50))
    assert torch.equal(first, ClipLoader(ds, batch_size=16, seed=3).order())
    loader.set_epoch(1)
    assert not torch.equal(first, loader.order())
    sizes = [len(b["label"]) for b in loader]
    assert sizes == [16, 16, 16, 2]
    assert len(ClipLoader(ds, batch_size=16, drop_last=True)) == 3
    with pytest.raises(ValueError, match="batch_size"):
        ClipLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="batch"):
        ClipLoader([1, 2, 3])


def test_non_square_frames_and_difficulties():
    for difficulty in ("easy", "medium", "hard"):
        out = SynthActions(
            "train", size=10, frames=3, height=20, width=36, difficulty=difficulty
        ).batch(range(10))
        assert out["clip"].shape == (10, 3, 3, 20, 36)
        assert out["masks"].flatten(2).any(-1).all()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"split": "dev"}, ["split", "train", "val", "test"]),
        ({"difficulty": "extreme"}, ["difficulty", "easy", "medium", "hard"]),
        ({"frames": 1}, ["frames", ">= 2"]),
        ({"size": 0}, ["size", ">= 1"]),
        ({"size": -5}, ["size"]),
        ({"height": 0}, ["height"]),
        ({"width": 2.5}, ["width"]),
        ({"seed": -1}, ["seed"]),
    ],
)
def test_bad_arguments(kwargs, words):
    with pytest.raises(ValueError) as err:
        SynthActions(**kwargs)
    for word in words:
        assert word in str(err.value)


def test_bad_argument_messages_are_clip_shapes():
    with pytest.raises(ValueError, match=r"^frames must be an int >= 2, got 1$"):
        SynthActions(frames=1)
    with pytest.raises(ValueError, match=r"^width must be an int >= 8, got 2\.5$"):
        SynthActions(width=2.5)
    with pytest.raises(ValueError, match=r"^size must be an int >= 1, got 0$"):
        SynthActions(size=0)


def test_clip_shape_in_and_out():
    shape = ClipShape(8, 24, 40)
    ds = SynthActions("val", size=20, clip_shape=shape)
    assert ds.clip_shape == shape and (ds.frames, ds.height, ds.width) == (8, 24, 40)
    assert ds.batch([0])["clip"].shape == (1, 3, 8, 24, 40)
    old = SynthActions("val", 20, 8, 24, 40)  # the positional call of the notebooks
    assert old.clip_shape == shape and torch.equal(old[3]["clip"], ds[3]["clip"])
    assert repr(old) == repr(ds)
    assert SynthActions("val", size=20).clip_shape == ClipShape()  # 16 x 32 x 32
    assert SynthActions("val", size=20, frames=8, clip_shape=shape).clip_shape == shape
    with pytest.raises(AttributeError):
        ds.clip_shape = ClipShape()


def test_clip_shape_and_a_different_size_are_refused():
    shape = ClipShape(8, 24, 24)
    with pytest.raises(ValueError, match=r"clip_shape=8x24x24 disagrees with frames=16, width=32"):
        SynthActions("val", size=20, frames=16, width=32, clip_shape=shape)
    with pytest.raises(ValueError, match="clip_shape must be a vidbook.clip_shape.ClipShape"):
        SynthActions("val", size=20, clip_shape=(8, 24, 24))


def test_bad_indices(small):
    with pytest.raises(ValueError, match=r"index 200 is out of range .* 0\.\.199"):
        small[200]
    with pytest.raises(ValueError, match="out of range"):
        small.batch([0, -1])
    with pytest.raises(ValueError, match="must be an int"):
        small["3"]
    with pytest.raises(ValueError, match="integers"):
        small.batch(np.array([0.5]))


# --------------------------------------------------------------------------------------------
# What one frame tells: the numbers synth.py's docstring and chapter 1 state
# --------------------------------------------------------------------------------------------
def test_single_frame_accuracy_is_what_the_book_states():
    """First and last frame: about 40 %; middle frame: about 20 % (chance 10 %), medium world."""
    world = SynthActions("train", size=200_000, frames=16)
    first, middle, last = (single_frame_accuracy(world, f) for f in (0, 7, 15))
    assert 0.36 <= first <= 0.44 and 0.36 <= last <= 0.44, (first, last)
    assert 0.17 <= middle <= 0.23, middle


def test_single_frame_measure_sees_no_class_where_there_is_none():
    """Shuffled labels: the estimate stays within its small upward bias of chance; the
    displacement over the clip, in contrast, tells the class."""
    world = SynthActions("train", size=50_000, frames=16)
    first, last = (frame_attributes(world, f) for f in (0, 15))
    features = np.stack([first[a] for a in ("x", "y", "size", "angle")], axis=1)
    shuffled = np.random.default_rng(0).permutation(first["label"])
    assert cell_accuracy(features, shuffled, bins=4) < 0.10 + 0.05
    steps = np.stack([last[a] - first[a] + 0.5 for a in ("x", "y", "size")], axis=1)
    assert cell_accuracy(steps.clip(0, 0.999), first["label"], bins=6) > 0.6


def test_single_frame_bad_arguments():
    world = SynthActions("train", size=10, frames=4)
    with pytest.raises(ValueError, match="frame must be in"):
        single_frame_accuracy(world, 4)
    with pytest.raises(ValueError, match="clips must be an int in 1..10"):
        single_frame_accuracy(world, 0, clips=11)
