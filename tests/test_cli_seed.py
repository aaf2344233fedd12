"""``vidbook train --seed S`` is reproducible: two runs of the command, in processes of their own,
save the same weights; another seed saves other weights."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from vidbook.train.checkpoint import FORMAT

TINY = [
    *("--model", "c3d", "--variant", "tiny", "--frames", "4", "--height", "16", "--width", "16"),
    *("--train-size", "8", "--val-size", "8", "--epochs", "1", "--batch-size", "4"),
    *("--progress", "off"),
]


def start_train(run_dir: Path, seed: int, cwd: Path) -> subprocess.Popen:
    """``python -m vidbook train`` of a tiny model in a new process (quick profile, one thread)."""
    env = {**os.environ, "VIDBOOK_PROFILE": "quick", "OMP_NUM_THREADS": "1"}
    args = [*TINY, "--seed", str(seed), "--checkpoint-dir", str(run_dir)]
    return subprocess.Popen(
        [sys.executable, "-m", "vidbook", "train", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def saved_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """The model state dict of the run's ``last.pt``, read with ``weights_only=True``."""
    state = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
    assert state["format"] == FORMAT and state["epoch"] == 1
    return state["model"]


def identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    assert a.keys() == b.keys()
    return all(torch.equal(a[k], b[k]) for k in a)


def test_train_twice_with_one_seed_saves_the_same_weights(tmp_path):
    runs = {"a": 0, "b": 0, "other": 1}  # run folder -> seed
    processes = {name: start_train(tmp_path / name, seed, tmp_path) for name, seed in runs.items()}
    for name, process in processes.items():
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, f"run {name} failed:\n{out}\n{err}"
    a, b, other = (saved_weights(tmp_path / name) for name in runs)
    assert len(a) > 2 and any(t.is_floating_point() for t in a.values())
    assert identical(a, b), "two runs with --seed 0 saved different weights"
    assert not identical(a, other), "runs with --seed 0 and --seed 1 saved the same weights"
