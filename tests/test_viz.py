"""Clip pictures: the HTML player holds every frame and needs nothing from the internet."""

import re

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from vidbook.viz import clip_to_frames, show_clips  # noqa: E402


def test_clip_to_frames_layout_and_range():
    clip = torch.rand(3, 4, 8, 10)
    frames = clip_to_frames(clip)
    assert frames.shape == (4, 8, 10, 3) and frames.dtype.name == "uint8"
    assert (
        frames.max() <= 255
        and abs(int(frames[1, 2, 3, 0]) - round(255 * float(clip[0, 1, 2, 3]))) <= 1
    )


def test_show_clips_player_is_offline_and_has_every_frame():
    clips = torch.rand(2, 3, 5, 16, 16)
    html = show_clips(clips, titles=["a", "b"]).data
    assert not re.search(r'(href|src)="https?://', html), "the player must not load anything remote"
    frames = set(re.findall(r"frames\[(\d+)\] = \"data:image/png;base64,", html))
    assert frames == {str(i) for i in range(5)}


def test_show_clips_bad_inputs_say_what_was_expected():
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        show_clips(torch.rand(5, 16, 16))
    with pytest.raises(ValueError, match="2 titles for 3 clips"):
        show_clips(torch.rand(3, 3, 2, 8, 8), titles=["a", "b"])
