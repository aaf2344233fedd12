"""Demo data sets in the official layouts: written from SynthActions, read by the real readers."""

from __future__ import annotations

import csv
import math
import re
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidbook.data import CLASSES, SynthActions
from vidbook.data import demo as demo_module
from vidbook.data.demo import (
    MANIFEST,
    kinetics_name,
    read_manifest,
    split_test_groups,
    ucf_name,
    write_demo,
)
from vidbook.data.layouts import HMDB51, UCF101, Kinetics
from vidbook.data.loader import video_loader
from vidbook.data.video_io import probe, read_video

SMALL = {"classes": 3, "clips_per_group": 1, "frames": 24, "height": 32, "width": 32, "seed": 1}
NAMES = list(CLASSES[:3])


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("demo")
    return {
        "ucf101": write_demo("ucf101", base / "ucf101", groups=4, **SMALL),
        "hmdb51": write_demo("hmdb51", base / "hmdb51", groups=6, **SMALL),
        "kinetics": write_demo("kinetics", base / "kinetics", groups=3, **SMALL),
    }


def group_of(path: Path) -> int:
    return int(re.search(r"_g(\d\d)_", path.name).group(1))


def check_labels(ds, root: Path, name_of) -> None:
    """Every sample's label is the class of the SynthActions item its file was rendered from."""
    clips = {root / c["path"]: c for c in read_manifest(root)["clips"]}
    for path, label in ds.samples:
        clip = clips[path]
        assert clip["synth_label"] == CLASSES[clip["synth_index"] % len(CLASSES)]
        assert ds.classes[label] == name_of(clip["synth_label"])


def test_split_blocks_scale_the_official_ones():
    assert [split_test_groups(25, s) for s in (1, 2, 3)] == [
        list(range(1, 8)),
        list(range(8, 15)),
        list(range(15, 22)),
    ]
    assert [split_test_groups(7, s) for s in (1, 2, 3)] == [[1, 2], [3, 4], [5, 6]]
    assert [split_test_groups(3, s) for s in (1, 2, 3)] == [[1], [2], [3]]
    assert ucf_name("move_left") == "MoveLeft" and ucf_name("out_and_back") == "OutAndBack"
    assert kinetics_name("rotate_ccw") == "rotate ccw"


def test_ucf101_demo(sets):
    root = sets["ucf101"]
    assert (root / "UCF-101" / "MoveLeft" / "v_MoveLeft_g01_c01.avi").is_file()
    first = (root / "ucfTrainTestlist" / "classInd.txt").read_bytes().splitlines(True)[0]
    assert first == b"1 MoveLeft\r\n"
    every = {p for p in (root / "UCF-101").rglob("*.avi")}
    assert len(every) == 3 * 4
    for split in (1, 2, 3):
        train = UCF101(root, split=split, train=True, clip_len=8, stride=2, size=32)
        test = UCF101(root, split=split, train=False, clip_len=8, stride=2, size=32)
        assert train.classes == sorted(ucf_name(n) for n in NAMES)
        assert len(train) == 9 and len(test) == 3
        train_paths, test_paths = {p for p, _ in train.samples}, {p for p, _ in test.samples}
        assert not train_paths & test_paths and train_paths | test_paths == every
        assert {group_of(p) for p in test_paths} == {split}
        assert split not in {group_of(p) for p in train_paths}
        check_labels(train, root, ucf_name)
        check_labels(test, root, ucf_name)
    assert not train.flip  # the demo's classes move left or right: no mirroring by default
    item = train[0]
    assert item["clip"].shape == (3, 8, 32, 32) and item["clip"].dtype == torch.float32


def test_hmdb51_demo(sets):
    root = sets["hmdb51"]
    train, test = HMDB51(root, split=1), HMDB51(root, split=1, train=False)
    assert train.classes == sorted(NAMES)  # move_left, move_right, move_up
    # 6 groups: split 1 tests groups 1-2, leaves group 3 unused, trains on groups 4-6
    assert len(train) == 9 and len(test) == 6
    unused = {
        root / name / line.split()[0]
        for name in NAMES
        for line in (root / "testTrainMulti_7030_splits" / f"{name}_test_split1.txt")
        .read_text()
        .splitlines()
        if line.split()[1] == "0"
    }
    assert len(unused) == 3 and all(p.is_file() for p in unused)
    train_paths, test_paths = {p for p, _ in train.samples}, {p for p, _ in test.samples}
    assert not train_paths & test_paths and not (train_paths | test_paths) & unused
    assert {group_of(p) for p in test_paths} == {1, 2}
    check_labels(train, root, lambda n: n)
    check_labels(test, root, lambda n: n)
    assert train[3]["clip"].shape == (3, 16, 112, 112)  # the default clip options


def test_kinetics_demo(sets):
    root = sets["kinetics"]
    with (root / "annotations" / "validate.csv").open(newline="") as handle:
        assert next(csv.reader(handle)) == [
            "label",
            "youtube_id",
            "time_start",
            "time_end",
            "split",
        ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every listed clip is there: no warning
        train = Kinetics(root, root / "annotations" / "train.csv", "train")
        val = Kinetics(root, root / "annotations" / "validate.csv", "val")
    assert train.classes == val.classes == [kinetics_name(n) for n in sorted(NAMES)]
    assert len(train) == 6 and len(val) == 3 and train.train and not val.train
    assert not {p.name for p, _ in train.samples} & {p.name for p, _ in val.samples}
    check_labels(train, root, kinetics_name)
    check_labels(val, root, kinetics_name)
    assert val[0]["clip"].shape == (3, 16, 112, 112)


def test_files_hold_the_rendered_clips(sets):
    root = sets["ucf101"]
    clip = read_manifest(root)["clips"][5]
    video = read_video(root / clip["path"]).float() / 255  # (3, T, H, W)
    info = probe(root / clip["path"])
    assert (info.num_frames, info.height, info.width, info.fps) == (24, 32, 32, 25.0)
    world = SynthActions("train", size=10_000, frames=24, height=32, width=32, seed=1)
    rendered, other = world.batch([clip["synth_index"], clip["synth_index"] + 10])["clip"]

    def blur(x: torch.Tensor) -> torch.Tensor:  # 4 x 4 means: pixel noise and coding error cancel
        return F.avg_pool3d(x, (1, 4, 4))

    assert (blur(video) - blur(rendered)).abs().mean() < 0.02  # measured: below 0.01
    assert (blur(video) - blur(other)).abs().mean() > 0.05  # another clip of the class: 0.09+


def test_one_training_step_through_video_loader(sets):
    from vidbook.train import Trainer

    root = sets["ucf101"]
    train = UCF101(root, split=1, clip_len=8, stride=2, size=32)
    test = UCF101(root, split=1, train=False, clip_len=8, stride=2, size=32)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(3, 4, 3, padding=1), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 3)
    )
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer(model, epochs=1, progress=False, device="cpu", amp="off")
    history = trainer.fit(
        video_loader(train, 4, shuffle=True), video_loader(test, 4, shuffle=False)
    )
    assert trainer.global_step == 3 and math.isfinite(history[0]["train_loss"])
    assert 0.0 <= history[0]["val_acc"] <= 1.0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


# --------------------------------------------------------------------------------------------
# Writing safely
# --------------------------------------------------------------------------------------------
TINY = {"classes": 2, "groups": 3, "clips_per_group": 1, "frames": 4, "height": 16, "width": 16}


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def test_refuses_folders_that_are_not_an_earlier_demo_of_the_layout(tmp_path):
    busy = tmp_path / "busy"
    (busy / "notes.txt").parent.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty and holds no demo"):
        write_demo("ucf101", busy, **TINY)
    assert (busy / "notes.txt").read_text() == "mine"

    root = write_demo("hmdb51", tmp_path / "set", **TINY)
    with pytest.raises(FileExistsError, match="in the 'hmdb51' layout, not 'ucf101'"):
        write_demo("ucf101", root, **TINY)
    write_demo("hmdb51", root, **{**TINY, "seed": 7})  # an earlier demo is replaced
    assert read_manifest(root)["settings"]["seed"] == 7
    (root / "move_left" / "extra.avi").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="move_left/extra.avi"):
        write_demo("hmdb51", root, **TINY)
    assert leftovers(tmp_path) == []
    with pytest.raises(FileExistsError, match="is not a folder"):
        write_demo("kinetics", busy / "notes.txt", **TINY)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (write_demo("kinetics", empty, **TINY) / MANIFEST).is_file()


def test_an_interrupted_run_leaves_no_half_data_set(tmp_path, monkeypatch):
    real, calls = demo_module.write_video, []

    def failing(path, clip, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, clip, **kwargs)

    root = write_demo("ucf101", tmp_path / "ucf", **TINY)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    monkeypatch.setattr(demo_module, "write_video", failing)
    with pytest.raises(KeyboardInterrupt):
        write_demo("ucf101", tmp_path / "fresh", **TINY)
    assert not (tmp_path / "fresh").exists()
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        write_demo("ucf101", root, **{**TINY, "seed": 3})
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # the old set stays
    assert read_manifest(root)["settings"]["seed"] == 0
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layout": "ucf"}, "layout must be one of ucf101, hmdb51, kinetics"),
        ({"classes": 0}, r"classes must be an int in \[1, 10\]"),
        ({"classes": 11}, r"classes must be an int in \[1, 10\]"),
        ({"groups": 2}, r"groups must be an int in \[3, 99\]"),
        ({"clips_per_group": 0}, "clips_per_group must be an int"),
        ({"frames": 1}, "frames must be an int"),
        ({"height": 33}, "height must be even"),
        ({"width": 8}, r"width must be an int in \[16, 4096\]"),
        ({"fps": 0}, r"fps must be a number in \(0, 1000\)"),
        ({"seed": -1}, "seed must be an int"),
    ],
)
def test_bad_settings(tmp_path, kwargs, match):
    args = {"layout": "ucf101", **TINY, **kwargs}
    with pytest.raises(ValueError, match=match):
        write_demo(args.pop("layout"), tmp_path / "x", **args)
    assert not (tmp_path / "x").exists()


def test_reading_a_folder_that_is_no_demo(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a demo data set"):
        read_manifest(tmp_path)
