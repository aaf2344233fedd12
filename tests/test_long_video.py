"""Long videos joined from SynthActions clips: frames, segments and reproducibility."""

from __future__ import annotations

import pytest
import torch

from vidbook.clip_shape import ClipShape
from vidbook.data import CLASSES, SynthActions
from vidbook.data.long_video import JoinedActions
from vidbook.errors import BadValueError

SHAPE = ClipShape(4, 16, 16)


def test_a_video_is_its_clips_in_a_row_and_lists_only_the_actions():
    videos = JoinedActions("val", videos=3, clips_per_video=6, clip_shape=SHAPE, seed=1)
    out = videos.video(2)
    assert out["frames"].shape == (3, 6 * 4, 16, 16)
    labels = out["labels"].tolist()
    static = CLASSES.index("static")
    assert [(s.start, s.end, s.label) for s in out["segments"]] == [
        (4 * k, 4 * k + 4, label) for k, label in enumerate(labels) if label != static
    ]
    world = SynthActions("val", size=3 * 6 * 10, clip_shape=SHAPE, seed=1)
    third = world.batch([(2 * 6 + 2) * 10 + labels[2]])["clip"][0]  # slot 2 of video 2
    assert torch.equal(out["frames"][:, 8:12], third)


def test_videos_are_reproducible_and_the_background_share_holds():
    a = JoinedActions("test", videos=200, clips_per_video=8, background=0.25, clip_shape=SHAPE)
    b = JoinedActions("test", videos=200, clips_per_video=8, background=0.25, clip_shape=SHAPE)
    assert all((a.slot_labels(i) == b.slot_labels(i)).all() for i in range(200))
    static = sum(int((a.slot_labels(i) == CLASSES.index("static")).sum()) for i in range(200))
    assert 0.2 < static / 1600 < 0.3


def test_bad_arguments_are_refused():
    with pytest.raises(BadValueError, match=r"background must be a share in \[0, 1\)"):
        JoinedActions(background=1.0, clip_shape=SHAPE)
    videos = JoinedActions(videos=2, clip_shape=SHAPE)
    with pytest.raises(BadValueError, match="video 2 is out of range: there are 2 videos"):
        videos.video(2)
    with pytest.raises(BadValueError, match="index must be an int"):
        videos.slot_labels(1.0)
