"""Open a real-video data set by name: its training and validation sets, ready for a loader.

``open_video_dataset("ucf101", root, ClipShape(16, 112, 112))`` is what ``vidbook train --data
ucf101 --root ROOT`` trains on: the official split's training list as training clips (random
dense clips and crops) and its test list as validation clips (central clips and crops). Clips are
``clip_shape.frames`` frames ``stride`` apart, cropped to ``height`` x ``width``, which must be
equal (real-video clips are square crops of frames of any shape). Batch them with
:func:`vidbook.data.loader.video_loader`.
"""

from __future__ import annotations

from pathlib import Path

from vidbook.clip_shape import ClipShape
from vidbook.data.folders import VideoFolder
from vidbook.data.layouts import HMDB51, UCF101, Kinetics
from vidbook.errors import BadValueError

VIDEO_DATA_SETS = ("ucf101", "hmdb51", "kinetics")
# The Kinetics validation list is validate.csv in DeepMind's releases, val.csv in some copies.
KINETICS_VAL_CSVS = ("validate.csv", "val.csv")


def kinetics_val_csv(root: str | Path) -> Path:
    """``root/annotations/validate.csv``, or ``val.csv`` where only that one exists."""
    notes = Path(root) / "annotations"
    found = (notes / name for name in KINETICS_VAL_CSVS if (notes / name).is_file())
    return next(found, notes / KINETICS_VAL_CSVS[0])


def open_video_dataset(
    name: str,
    root: str | Path | None,
    clip_shape: ClipShape,
    *,
    split: int = 1,
    stride: int = 2,
    seed: int = 0,
) -> tuple[VideoFolder, VideoFolder]:
    """``(training set, validation set)`` of data set ``name`` (one of :data:`VIDEO_DATA_SETS`)
    in its official layout under ``root``.

    UCF101 and HMDB51 train on official split ``split``'s (1, 2 or 3) training list and validate
    on its test list; Kinetics (one split, ``split`` is not used) reads
    ``annotations/train.csv`` with the clips in ``train/`` and ``annotations/validate.csv`` (or
    ``val.csv``) with those in ``val/``. ``seed`` draws the training clips, crops and flips.
    """
    if name not in VIDEO_DATA_SETS:
        raise BadValueError(
            f"unknown video data set {name!r}; the known ones are {', '.join(VIDEO_DATA_SETS)}"
        )
    if root is None or str(root) == "":
        raise BadValueError(
            f"root: {name} reads videos from a folder in its official layout; give that folder "
            f"(--root on the command line; `vidbook prepare-demo --layout {name} PATH` writes a "
            "small one)"
        )
    if not isinstance(clip_shape, ClipShape):
        raise BadValueError(
            f"clip_shape must be a vidbook.clip_shape.ClipShape, got {type(clip_shape).__name__}"
        )
    if not clip_shape.is_square:
        raise BadValueError(
            f"clip_shape {clip_shape}: real-video clips are square crops, got "
            f"{clip_shape.height}x{clip_shape.width} (height x width); give equal height and width"
        )
    clip = {
        "clip_len": clip_shape.frames,
        "stride": stride,
        "size": clip_shape.height,
        "seed": seed,
    }
    if name == "kinetics":
        notes = Path(root) / "annotations"
        train_set = Kinetics(root, notes / "train.csv", "train", **clip)
        val_set = Kinetics(root, kinetics_val_csv(root), "val", **clip)
    else:
        layout = UCF101 if name == "ucf101" else HMDB51
        train_set = layout(root, split, train=True, **clip)
        val_set = layout(root, split, train=False, **clip)
    return train_set, val_set
