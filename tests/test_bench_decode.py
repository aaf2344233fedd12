"""The decoding benchmark: a short run, its numbers and keys, the test video, bad arguments."""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest

from vidbook.bench import print_decode, run_decode, summary, write_test_video
from vidbook.data.video_io import probe, read_video


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    """A 4 s run at 128x96 (100 frames, key frames at 0 and 50), in a folder of its own."""
    folder = tmp_path_factory.mktemp("bench")
    saved = tempfile.tempdir
    tempfile.tempdir = str(folder)  # the test video's temporary folder goes here
    try:
        out = run_decode(seconds=4, height=96, width=128, clip_len=8, clips=4, seed=3)
    finally:
        tempfile.tempdir = saved
    out["_folder_after"] = sorted(p.name for p in folder.iterdir())
    return out


def test_keys_and_metadata(result):
    assert {"video", "whole", "clips", "speedup", "threads", "provenance"} <= set(result)
    video = result["video"]
    assert video["synthetic"] is True and video["path"] is None
    assert (video["num_frames"], video["width"], video["height"]) == (100, 128, 96)
    assert video["fps"] == pytest.approx(25.0) and video["duration"] == pytest.approx(4.0)
    assert video["codec"] == "h264" and video["keyframes"] == 2 and video["bytes"] > 0
    assert {"device", "torch", "git_commit", "date"} <= set(result["provenance"])
    assert result["provenance"]["device"] == "cpu"  # PyAV decodes on the CPU


def test_numbers_are_positive_and_consistent(result):
    whole, clips = result["whole"], result["clips"]
    assert whole["seconds"] > 0 and whole["frames_per_s"] == pytest.approx(100 / whole["seconds"])
    assert clips["clip_len"] == 8 and clips["count"] == 4 and len(clips["starts"]) == 4
    assert all(0 <= s <= 100 - 8 for s in clips["starts"])
    assert 0 < clips["ms_min"] <= clips["ms_per_clip"] <= clips["ms_max"]
    mean_s = clips["ms_per_clip"] / 1000
    assert clips["frames_per_s"] == pytest.approx(8 / mean_s)
    assert result["speedup"] == pytest.approx(whole["seconds"] / mean_s)
    # A clip decodes at most one group of pictures plus itself, never the whole file.
    assert result["speedup"] > 1


def test_result_is_json_and_prints(result):
    json.dumps(result, allow_nan=False)
    text = summary(result)
    assert "100 frames" in text and f"{result['speedup']:.1f}x" in text


def test_print_decode_prints_the_summary_and_the_file(result, capsys):
    print_decode(result, out="decode.json")
    printed = capsys.readouterr().out
    assert printed == summary(result) + "\n\nwrote decode.json\n"
    assert printed.startswith("SynthActions test video: 100 frames (4.0 s at 25 fps), 128x96 h264")
    print_decode(result)
    assert "wrote" not in capsys.readouterr().out


def test_temporary_video_is_removed(result):
    assert result["_folder_after"] == []


def test_starts_follow_the_seed(result):
    starts = np.random.default_rng(3).integers(0, 100 - 8 + 1, size=5)[1:]
    assert result["clips"]["starts"] == starts.tolist()


def test_test_video_has_motion_and_new_clips(tmp_path):
    path = write_test_video(tmp_path / "t.mp4", seconds=3, fps=10, height=32, width=48)
    info = probe(path)
    assert (info.num_frames, info.width, info.height) == (30, 48, 32)
    video = read_video(path).float()  # (3, 30, 32, 48)
    steps = (video[:, 1:] - video[:, :-1]).abs().mean(dim=(0, 2, 3))  # (29,)
    assert bool((steps > 0).all())  # every frame differs from the one before
    # Clips last 2 s (20 frames): the biggest change is the cut from the first to the second.
    assert int(steps.argmax()) == 19


def test_run_on_a_given_file(tmp_path):
    path = write_test_video(tmp_path / "given.mp4", seconds=2, fps=25, height=32, width=32)
    out = run_decode(path, clip_len=4, clips=2, threads=1, seconds=-1)  # seconds is not used
    assert out["video"]["path"] == str(path) and out["video"]["synthetic"] is False
    assert out["video"]["num_frames"] == 50 and out["threads"] == 1
    assert out["whole"]["frames_per_s"] > 0 and out["clips"]["frames_per_s"] > 0
    assert path.exists()  # a given file is left alone


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seconds": 0}, "seconds"),
        ({"seconds": float("nan")}, "seconds"),
        ({"fps": -25}, "fps"),
        ({"height": 95}, "height must be even"),
        ({"width": 6}, "width must be an int >= 8"),
        ({"height": 96.0}, "height"),
        ({"clip_len": 0}, "clip_len"),
        ({"clips": 0}, "clips"),
        ({"threads": 0}, "threads"),
        ({"seed": -1}, "seed"),
        ({"seconds": 0.2}, "5 frames, fewer than clip_len=16"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_decode(**kwargs)


def test_clip_longer_than_the_given_file(tmp_path):
    path = write_test_video(tmp_path / "short.mp4", seconds=0.4, fps=25, height=16, width=16)
    with pytest.raises(ValueError, match="clip_len=16 exceeds the 10 frames"):
        run_decode(path)
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        run_decode(tmp_path / "missing.mp4")
