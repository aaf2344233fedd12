"""open_video_dataset: the training and validation sets of a real-video layout, by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vidbook.clip_shape import ClipShape
from vidbook.data import VIDEO_DATA_SETS, open_video_dataset
from vidbook.data.demo import write_demo
from vidbook.data.layouts import HMDB51, UCF101, Kinetics

# 2 classes x 3 groups x 1 clip of 8 frames, 16 x 16: split 1 (and Kinetics' val/) holds group 1.
TINY = {"classes": 2, "groups": 3, "clips_per_group": 1, "frames": 8, "height": 16, "width": 16}
SHAPE = ClipShape(4, 16, 16)
TYPES = {"ucf101": UCF101, "hmdb51": HMDB51, "kinetics": Kinetics}
CLASSES = {
    "ucf101": ["MoveLeft", "MoveRight"],
    "hmdb51": ["move_left", "move_right"],
    "kinetics": ["move left", "move right"],
}


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("open")
    return {name: write_demo(name, base / name, **TINY) for name in VIDEO_DATA_SETS}


@pytest.mark.parametrize("name", VIDEO_DATA_SETS)
def test_opens_each_layout(demos, name):
    train, val = open_video_dataset(name, demos[name], SHAPE, seed=3)
    assert type(train) is TYPES[name] and type(val) is TYPES[name]
    assert (len(train), len(val)) == (4, 2)
    assert train.classes == val.classes == CLASSES[name]
    assert train.train and not val.train
    assert (train.clip_len, train.stride, train.size, train.seed) == (4, 2, 16, 3)
    assert val.sampling == "center" and not train.flip  # demo sets are never mirrored
    clip = val[0]["clip"]
    assert clip.shape == (3, 4, 16, 16) and clip.dtype == torch.float32


def test_split_and_stride_reach_the_layout(demos):
    train, val = open_video_dataset("ucf101", str(demos["ucf101"]), SHAPE, split=2, stride=1)
    assert train.split == val.split == 2 and train.stride == 1
    tested = {path.name for path, _ in val.samples}
    assert tested == {"v_MoveLeft_g02_c01.avi", "v_MoveRight_g02_c01.avi"}


def test_kinetics_with_only_val_csv(demos, tmp_path):
    root = tmp_path / "kinetics"
    root.mkdir()
    for entry in demos["kinetics"].iterdir():
        (root / entry.name).symlink_to(entry)
    (root / "annotations").unlink()
    (root / "annotations").mkdir()
    notes = demos["kinetics"] / "annotations"
    (root / "annotations" / "train.csv").write_bytes((notes / "train.csv").read_bytes())
    (root / "annotations" / "val.csv").write_bytes((notes / "validate.csv").read_bytes())
    train, val = open_video_dataset("kinetics", root, SHAPE)
    assert (len(train), len(val)) == (4, 2) and val.csv == root / "annotations" / "val.csv"


def test_kinetics_without_a_validation_list_names_validate_csv(demos, tmp_path):
    root = tmp_path / "kinetics"
    (root / "annotations").mkdir(parents=True)
    (root / "train").symlink_to(demos["kinetics"] / "train")
    (root / "val").symlink_to(demos["kinetics"] / "val")
    train_csv = demos["kinetics"] / "annotations" / "train.csv"
    (root / "annotations" / "train.csv").write_bytes(train_csv.read_bytes())
    with pytest.raises(FileNotFoundError, match=r"validate\.csv does not exist"):
        open_video_dataset("kinetics", root, SHAPE)


@pytest.mark.parametrize("root", [None, ""])
def test_no_root_says_how_to_get_one(root):
    with pytest.raises(ValueError, match="reads videos from a folder") as err:
        open_video_dataset("hmdb51", root, SHAPE)
    assert "--root" in str(err.value)
    assert "vidbook prepare-demo --layout hmdb51 PATH" in str(err.value)


def test_non_square_clips_are_refused(demos):
    with pytest.raises(ValueError, match="real-video clips are square crops, got 16x24"):
        open_video_dataset("ucf101", demos["ucf101"], ClipShape(4, 16, 24))
    with pytest.raises(ValueError, match="clip_shape must be a vidbook.clip_shape.ClipShape"):
        open_video_dataset("ucf101", demos["ucf101"], (4, 16, 16))


def test_unknown_name_lists_the_known_ones(demos):
    with pytest.raises(ValueError, match="unknown video data set 'ucf'.*ucf101, hmdb51, kinetics"):
        open_video_dataset("ucf", demos["ucf101"], SHAPE)


def test_missing_root_folder_says_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="UCF-101 does not exist"):
        open_video_dataset("ucf101", tmp_path / "absent", SHAPE)
