"""User errors through the command line: each subcommand, run as its own process with a bad input,
exits with status 2 and one line ``vidbook <command>: error: <message>`` that names the
problem, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vidbook.cli import main

# Tiny runs: 4 frames of 16 x 16 pixels, 8 clips, one epoch, the tiny model.
TINY = ["--frames", "4", "--height", "16", "--width", "16", "--epochs", "1", "--batch-size", "4"]
TINY_SYNTH = [*TINY, "--train-size", "8", "--val-size", "8", "--variant", "tiny"]
DEMO = ["--classes", "2", "--groups", "3", "--clips-per-group", "1", "--frames", "8"]
DEMO_SIZE = ["--height", "16", "--width", "16"]
CUDA = torch.cuda.is_available()
MPS = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def vidbook(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m vidbook ARGS`` in a process of its own: quick profile, one CPU thread."""
    environment = {**os.environ, "VIDBOOK_PROFILE": "quick", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "vidbook", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def error_line(done: subprocess.CompletedProcess, command: str, *fragments: str) -> str:
    """The one stderr line of a user error, after checking exit status 2 and no traceback."""
    assert done.returncode == 2, f"exit status {done.returncode}, stderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{done.stderr}"
    prefix = f"vidbook {command}: error: "
    assert lines[0].startswith(prefix), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0][len(prefix) :]


@pytest.fixture(scope="module")
def ucf_demo(tmp_path_factory) -> Path:
    """A small, valid UCF101 layout written by ``vidbook prepare-demo`` (2 classes, 6 videos)."""
    root = tmp_path_factory.mktemp("demo") / "ucf"
    assert main(["prepare-demo", "--layout", "ucf101", str(root), *DEMO, *DEMO_SIZE]) == 0
    return root


@pytest.fixture
def ucf_copy(ucf_demo, tmp_path) -> Path:
    """A copy of the demo layout, to break."""
    return Path(shutil.copytree(ucf_demo, tmp_path / "ucf"))


def train_ucf(root: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    args = ["train", "--model", "c3d", "--variant", "tiny", "--data", "ucf101", "--root"]
    run = ["--progress", "off", "--checkpoint-dir", str(tmp_path / "run")]
    return vidbook(*args, str(root), *TINY, *run, *extra, cwd=tmp_path)


def first_train_video(root: Path) -> tuple[str, Path]:
    """The first line of trainlist01.txt's video, as listed and as a path."""
    listed = (root / "ucfTrainTestlist" / "trainlist01.txt").read_text().split()[0]
    return listed, root / "UCF-101" / listed


# ---------------------------------------------------------------------------------------------
# train: data


def test_train_missing_root(tmp_path):
    done = train_ucf(tmp_path / "nonexistent", tmp_path)
    error_line(done, "train", f"{tmp_path / 'nonexistent' / 'UCF-101'} does not exist")
    assert not (tmp_path / "run").exists()


def test_train_zero_byte_video_is_refused_when_the_folder_is_opened(ucf_copy, tmp_path):
    listed, path = first_train_video(ucf_copy)
    path.write_bytes(b"")
    done = train_ucf(ucf_copy, tmp_path)
    error_line(done, "train", "1 video is empty (0 bytes): ", f"UCF-101/{listed}")
    assert not (tmp_path / "run").exists()  # refused before any training


@pytest.mark.parametrize("workers", ["0", "1"])
def test_train_text_file_renamed_mp4_is_named_when_read(ucf_copy, tmp_path, workers):
    listed, path = first_train_video(ucf_copy)
    renamed = path.with_suffix(".mp4")
    path.unlink()
    renamed.write_text("these are notes, not a video\n" * 20)
    split = ucf_copy / "ucfTrainTestlist" / "trainlist01.txt"
    split.write_text(split.read_text().replace(listed, Path(listed).with_suffix(".mp4").as_posix()))
    done = train_ucf(ucf_copy, tmp_path, "--workers", workers)
    # With --workers 1 the error comes from a DataLoader worker: still one line, no traceback.
    error_line(done, "train", f"{renamed}: not a readable video: ")


def test_train_malformed_split_line(ucf_copy, tmp_path):
    split = ucf_copy / "ucfTrainTestlist" / "trainlist01.txt"
    lines = split.read_text().splitlines()
    split.write_text("\n".join([lines[0], "MoveLeft/v_MoveLeft_g02_c01.avi one", *lines[2:]]))
    done = train_ucf(ucf_copy, tmp_path)
    error_line(
        done, "train", f"{split}, line 2: expected ", "'MoveLeft/v_MoveLeft_g02_c01.avi one'"
    )


# ---------------------------------------------------------------------------------------------
# train: model, device, checkpoint, values


def test_train_unknown_model(tmp_path):
    done = vidbook("train", "--model", "nope", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "argument --model: invalid choice: 'nope'" in done.stderr
    assert "c3d" in done.stderr  # the valid names are listed


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["train", "bench"])
def test_unavailable_cuda_device(tmp_path, command):
    args = ["--model", "c3d"] if command == "train" else ["--models", "c3d", "--no-render"]
    done = vidbook(command, *args, *TINY_SYNTH[:6], "--device", "cuda", cwd=tmp_path)
    error_line(done, command, "device 'cuda' is not available", "available here: cpu")


@pytest.mark.skipif(MPS, reason="this machine has an MPS device")
def test_unavailable_mps_device(tmp_path):
    done = vidbook("train", "--model", "c3d", *TINY_SYNTH, "--device", "mps", cwd=tmp_path)
    error_line(done, "train", "device 'mps' is not available", "available here: cpu")


def test_not_a_device(tmp_path):
    done = vidbook("train", "--model", "c3d", *TINY_SYNTH, "--device", "gpu0", cwd=tmp_path)
    error_line(done, "train", "device 'gpu0' is not a torch device", "available here: cpu")


def test_train_resume_from_a_corrupt_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"this is not a checkpoint" * 10)
    args = ["train", "--model", "c3d", *TINY_SYNTH, "--progress", "off"]
    done = vidbook(*args, "--checkpoint-dir", str(run), "--resume", cwd=tmp_path)
    error_line(done, "train", f"cannot load checkpoint {run / 'last.pt'} (240 bytes)")


def test_train_bad_value(tmp_path):
    done = vidbook("train", "--model", "c3d", "--lr", "-1", cwd=tmp_path)
    error_line(done, "train", "argument --lr: must be a finite number > 0, got -1.0")


# ---------------------------------------------------------------------------------------------
# bench, prepare-demo, info


def test_bench_decode_of_a_text_file(tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 20)
    done = vidbook("bench", "--decode", "--video", str(notes), cwd=tmp_path)
    error_line(done, "bench", f"{notes}: not a readable video")


def test_bench_decode_of_a_missing_file(tmp_path):
    done = vidbook("bench", "--decode", "--video", str(tmp_path / "gone.mp4"), cwd=tmp_path)
    error_line(done, "bench", f"video file not found: {tmp_path / 'gone.mp4'}")


def test_bench_bad_values(tmp_path):
    done = vidbook("bench", "--video", "x.mp4", cwd=tmp_path)
    error_line(done, "bench", "argument --video: only used with --decode")
    done = vidbook("bench", "--frames", "1", cwd=tmp_path)
    error_line(done, "bench", "argument --frames: must be an int >= 2, got 1")


def test_prepare_demo_into_a_folder_in_use(tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "mine.txt").write_text("keep me")
    done = vidbook("prepare-demo", "--layout", "ucf101", str(used), *DEMO, cwd=tmp_path)
    error_line(done, "prepare-demo", f"{used} is not empty and holds no demo data set")
    assert [p.name for p in used.iterdir()] == ["mine.txt"]
    done = vidbook("prepare-demo", "--layout", "hmdb51", str(used / "mine.txt"), cwd=tmp_path)
    error_line(done, "prepare-demo", "is not a folder")


def test_info_with_an_unknown_profile(tmp_path):
    done = vidbook("info", cwd=tmp_path, env={"VIDBOOK_PROFILE": "fastest"})
    error_line(done, "info", "VIDBOOK_PROFILE='fastest' is not a profile")
