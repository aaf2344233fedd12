"""Tests of the ``vidbook`` command line: ``info``, ``train`` and ``prepare-demo`` (``bench`` is in
test_bench.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vidbook import runtime
from vidbook.cli import main
from vidbook.models import available, flops_per_clip
from vidbook.train import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def table_rows(text: str, title: str) -> dict[str, str]:
    """The ``key  value`` rows printed by the CLI under ``title``, up to the first other line."""
    lines = text.splitlines()
    assert title in lines, f"no {title!r} table in:\n{text}"
    rows = {}
    for line in lines[lines.index(title) + 1 :]:
        if not line.startswith("  "):
            break
        key, value = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        rows[key] = value
    return rows


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------------------------------------
# vidbook info


def test_info_prints_versions_device_and_profile(capsys):
    assert main(["info"]) == 0
    rows = table_rows(capsys.readouterr().out, "vidbook info")
    assert rows["torch"] == torch.__version__
    assert rows["device"] == str(runtime.device())
    assert rows["profile"] == runtime.profile()
    assert rows["cpu threads"] == "1"


def test_python_m_vidbook_info(tmp_path):
    done = run_cli([sys.executable, "-m", "vidbook", "info"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout, "vidbook info")
    assert rows["torch"] == torch.__version__
    assert rows["profile"] == runtime.profile()


def test_console_script_info(tmp_path):
    script = Path(sys.executable).parent / "vidbook"
    if not script.exists():
        pytest.skip(f"no console script at {script} (package not installed in this environment)")
    done = run_cli([str(script), "info"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert table_rows(done.stdout, "vidbook info")["torch"] == torch.__version__


# ---------------------------------------------------------------------------------------------
# vidbook train


def train_args(checkpoint_dir: Path, *extra: str, epochs: int = 2) -> list[str]:
    """A tiny but complete ``vidbook train`` command line (later options override earlier)."""
    return [
        "train",
        "--model",
        "c3d",
        "--data",
        "synth",
        "--epochs",
        str(epochs),
        "--train-size",
        "64",
        "--val-size",
        "32",
        "--frames",
        "4",
        "--height",
        "16",
        "--width",
        "16",
        "--batch-size",
        "16",
        "--checkpoint-dir",
        str(checkpoint_dir),
        "--progress",
        "off",
        *extra,
    ]


def test_train_prints_metrics_writes_checkpoint_and_resumes_a_finished_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(train_args(run_dir)) == 0
    rows = table_rows(capsys.readouterr().out, "final metrics")
    checkpoint = run_dir / "last.pt"
    assert rows["checkpoint"] == str(checkpoint)
    assert rows["epochs"] == "2"
    assert rows["model"] == "c3d"
    assert 0.0 <= float(rows["val accuracy"]) <= 1.0
    state = load_checkpoint(checkpoint)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert rows["val accuracy"] == f"{state['history'][-1]['val_acc']:.3f}"
    assert rows["val loss"] == f"{state['history'][-1]['val_loss']:.4f}"

    # The run is complete: --resume trains no further epoch (no checkpoint is rewritten) and
    # prints the same metrics.
    written = checkpoint.stat().st_mtime_ns
    assert main(train_args(run_dir, "--resume")) == 0
    assert table_rows(capsys.readouterr().out, "final metrics") == rows
    assert checkpoint.stat().st_mtime_ns == written


def test_train_json_prints_the_history_after_the_table(tmp_path, capsys):
    assert main(train_args(tmp_path / "run", "--json", epochs=1)) == 0
    out = capsys.readouterr().out
    rows = table_rows(out, "final metrics")
    lines = out.splitlines()
    start = lines.index("[")
    assert start > lines.index("final metrics")
    history = json.loads("\n".join(lines[start:]))
    assert [row["epoch"] for row in history] == [1]
    assert f"{history[0]['val_acc']:.3f}" == rows["val accuracy"]
    assert f"{history[0]['train_loss']:.4f}" == rows["train loss"]


def test_train_out_writes_results_with_test_accuracy_and_time_to_target(tmp_path, capsys):
    out = tmp_path / "results" / "train.json"
    extra = ["--model", "r2plus1d_18", "--variant", "tiny", "--out", str(out)]
    extra += ["--target", "0.01", "--test-size", "40", "--check-every", "3"]
    assert main(train_args(tmp_path / "run", *extra, epochs=2)) == 0
    rows = table_rows(capsys.readouterr().out, "final metrics")
    data = json.loads(out.read_text())
    assert (data["model"], data["variant"], data["data"]["frames"]) == ("r2plus1d_18", "tiny", 4)
    assert data["recipe"]["check_every"] == 3 and data["recipe"]["epochs"] == 2
    assert [row["epoch"] for row in data["history"]] == [1, 2]
    # every validation accuracy is >= 0.01: the target is reached after the first epoch
    assert data["epoch_to_target"] == 1
    assert data["time_to_target_s"] == pytest.approx(data["history"][0]["seconds"])
    assert data["test"]["clips"] == 40 and 0 <= data["test"]["acc"] <= 1
    assert rows["test accuracy"] == f"{data['test']['acc']:.3f}"
    assert data["clips_per_s"] == pytest.approx(data["history"][1]["clips_per_s"])
    assert data["flops_per_clip_train"] == flops_per_clip(
        "r2plus1d_18", 4, 16, 16, backward=True, variant="tiny"
    )
    assert data["provenance"]["command"].startswith("vidbook train --model c3d")
    assert data["provenance"]["command"].endswith("--check-every 3")


def test_train_target_not_reached_is_null_in_the_results(tmp_path, capsys):
    out = tmp_path / "train.json"
    assert main(train_args(tmp_path / "run", "--out", str(out), "--target", "1", epochs=1)) == 0
    assert "not reached (1)" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["epoch_to_target"] is None and data["time_to_target_s"] is None


def test_train_unknown_model_lists_the_valid_ones(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "resnet9000", "--checkpoint-dir", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'resnet9000'" in err
    for name in ("c3d", "frame_cnn", *available()):
        assert name in err
    assert not (tmp_path / "run").exists()


def test_train_unknown_data_lists_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "c3d", "--data", "youtube8m"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'youtube8m'" in err
    for name in ("synth", "ucf101", "hmdb51", "kinetics"):
        assert name in err


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--frames", "1"),
        ("--epochs", "0"),
        ("--batch-size", "0"),
        ("--height", "4"),
        ("--train-size", "0"),
        ("--target", "1.5"),
        ("--target", "0"),
        ("--check-every", "0"),
        ("--lr", "0"),
        ("--lr", "nan"),
        ("--weight-decay", "-0.1"),
        ("--time-limit", "-1"),
    ],
)
def test_train_bad_value_names_the_option(tmp_path, capsys, option, value):
    run_dir = tmp_path / "run"
    assert main(train_args(run_dir, option, value)) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"vidbook train: error: argument {option}: must be ")
    assert value in captured.err or str(float(value)) in captured.err
    assert "final metrics" not in captured.out
    assert not run_dir.exists()  # refused before any work


def test_train_bad_value_found_by_the_library_returns_2(tmp_path, capsys):
    assert main(train_args(tmp_path / "run", "--difficulty", "bogus")) == 2
    err = capsys.readouterr().err
    assert err.startswith("vidbook train: error: difficulty='bogus' is not valid")
    assert "easy, medium, hard" in err


# ---------------------------------------------------------------------------------------------
# vidbook prepare-demo, and train on real-video layouts

DEMO = ["--classes", "3", "--groups", "3", "--frames", "20", "--height", "32", "--width", "32"]


@pytest.fixture(scope="module")
def ucf_demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "ucf"
    assert main(["prepare-demo", "--layout", "ucf101", str(root), *DEMO]) == 0
    return root


def test_prepare_demo_writes_the_official_layout_and_says_how_to_train(ucf_demo, capsys):
    class_index = (ucf_demo / "ucfTrainTestlist" / "classInd.txt").read_text().split()
    assert class_index == ["1", "MoveLeft", "2", "MoveRight", "3", "MoveUp"]
    assert len(list((ucf_demo / "UCF-101").glob("*/*.avi"))) == 3 * 3 * 2
    # Writing the same layout again replaces the demo; another layout is refused, nothing lost.
    assert main(["prepare-demo", "--layout", "ucf101", str(ucf_demo), *DEMO]) == 0
    out = capsys.readouterr().out
    assert f"--data ucf101 --root {ucf_demo}" in out
    assert main(["prepare-demo", "--layout", "hmdb51", str(ucf_demo), *DEMO]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vidbook prepare-demo: error: ") and "'ucf101' layout" in err
    assert len(list((ucf_demo / "UCF-101").glob("*/*.avi"))) == 18


def test_train_on_a_ucf101_layout(ucf_demo, tmp_path, capsys):
    args = ["train", "--model", "c3d", "--data", "ucf101", "--root", str(ucf_demo), "--split", "2"]
    size = ["--frames", "8", "--height", "32", "--width", "32", "--epochs", "1"]
    run = ["--progress", "off", "--checkpoint-dir", str(tmp_path / "run")]
    assert main(args + size + run) == 0
    rows = table_rows(capsys.readouterr().out, "final metrics")
    assert rows["data"] == f"ucf101 at {ucf_demo}: 12 train / 6 val videos, 8x32x32"
    assert (tmp_path / "run" / "last.pt").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "argument --root: --data ucf101 reads videos from a folder"),
        (["--root", "ROOT", "--width", "48"], "real-video clips are square crops, got 32x48"),
        (["--root", "ROOT", "--split", "4"], "split must be 1, 2 or 3"),
        (["--root", "MISSING"], "UCF-101 does not exist"),
    ],
)
def test_train_on_real_video_bad_arguments(ucf_demo, tmp_path, capsys, extra, message):
    extra = [
        str(ucf_demo) if a == "ROOT" else str(tmp_path / "no") if a == "MISSING" else a
        for a in extra
    ]
    base = ["train", "--model", "c3d", "--data", "ucf101", "--height", "32", "--width", "32"]
    assert main(base + extra + ["--checkpoint-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vidbook train: error: ") and message in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("val_name", ["validate.csv", "val.csv"])
def test_train_on_a_kinetics_layout_finds_either_validation_list(tmp_path, capsys, val_name):
    root = tmp_path / "k"
    assert main(["prepare-demo", "--layout", "kinetics", str(root), *DEMO]) == 0
    if val_name != "validate.csv":
        (root / "annotations" / "validate.csv").rename(root / "annotations" / val_name)
    args = ["train", "--model", "frame_cnn", "--data", "kinetics", "--root", str(root)]
    size = ["--frames", "8", "--height", "32", "--width", "32", "--epochs", "1"]
    assert main(args + size + ["--progress", "off", "--checkpoint-dir", str(tmp_path / "r")]) == 0
    rows = table_rows(capsys.readouterr().out, "final metrics")
    assert rows["data"].startswith(f"kinetics at {root}: ") and "val videos" in rows["data"]
