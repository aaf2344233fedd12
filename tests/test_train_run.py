"""``vidbook.train.run``: a training run as a library call, the same run ``vidbook train`` makes."""

from __future__ import annotations

import json

import pytest
import torch

from vidbook import ClipShape
from vidbook.cli import main
from vidbook.errors import BadValueError
from vidbook.train import RunResult, RunSpec, run
from vidbook.train.runner import PROFILE_DEFAULTS

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(
    model="c3d",
    clip_shape=ClipShape(4, 16, 16),
    train_size=64,
    val_size=32,
    test_size=32,
    epochs=1,
    batch_size=16,
    progress=False,
)


def test_run_trains_and_reports(tmp_path):
    spec = RunSpec(**TINY, checkpoint_dir=tmp_path / "run", report=True, command="test")
    result = run(spec)
    assert isinstance(result, RunResult) and result.device == torch.device("cpu")
    assert len(result.history) == 1 and 0 <= result.history[0]["val_acc"] <= 1
    assert (tmp_path / "run" / "last.pt").is_file()
    report = result.report
    assert report["data"]["frames"] == 4 and report["data"]["height"] == 16
    assert report["test"]["clips"] == 32 and report["flops_per_clip_train"] > 0
    assert report["provenance"]["command"] == "test"
    assert report["provenance"]["device"] == "cpu"
    rows = result.summary()
    assert rows["data"] == "synth 64 train / 32 val clips, 4x16x16, medium"
    assert rows["test accuracy"] == f"{report['test']['acc']:.3f}"


def test_run_is_the_command_lines_run(tmp_path, capsys):
    """The same settings through ``run`` and through ``vidbook train`` give the same weights."""
    spec = RunSpec(**TINY, checkpoint_dir=tmp_path / "lib", seed=3)
    library = run(spec).history
    argv = ["train", "--model", "c3d", "--frames", "4", "--height", "16", "--width", "16"]
    argv += ["--train-size", "64", "--val-size", "32", "--epochs", "1", "--batch-size", "16"]
    argv += ["--progress", "off", "--seed", "3", "--json", "--lr", str(spec.lr)]
    argv += ["--checkpoint-dir", str(tmp_path / "cli")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    command_line = json.loads(printed[printed.index("[") :])
    for ours, theirs in zip(library, command_line, strict=True):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-6)
        assert ours["val_acc"] == theirs["val_acc"]
    lib = torch.load(tmp_path / "lib" / "last.pt", weights_only=False)["model"]
    cli = torch.load(tmp_path / "cli" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(lib[k], cli[k]) for k in lib)


def test_profile_fills_in_what_is_missing():
    spec = RunSpec(model="c3d").resolved()
    defaults = PROFILE_DEFAULTS["quick"]  # the tests run on the CPU profile
    assert spec.clip_shape == defaults["clip_shape"] == ClipShape(16, 32, 32)
    assert spec.train_size == defaults["train_size"]
    kept = RunSpec(model="c3d", clip_shape=ClipShape(8, 24, 24), train_size=10).resolved()
    assert kept.clip_shape == ClipShape(8, 24, 24) and kept.train_size == 10


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"data": "kinetics700"}, "data must be one of"),
        ({"clip_shape": (16, 32, 32)}, "clip_shape must be a ClipShape or None, got tuple"),
        ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
        ({"workers": -1}, "workers must be an int >= 0, got -1"),
        ({"train_size": True}, "train_size must be an int >= 1, got True"),
        ({"target": 1.5}, r"target must be an accuracy in \(0, 1\], got 1.5"),
        ({"target": 0}, "target must be a finite number > 0"),
    ],
)
def test_bad_specs_are_refused_when_made(fields, message):
    with pytest.raises(BadValueError, match=message):
        RunSpec(model="c3d", **fields)


def test_run_refuses_what_is_not_a_spec_and_an_unavailable_device(tmp_path):
    with pytest.raises(BadValueError, match="run needs a RunSpec, got dict"):
        run({"model": "c3d"})
    if not torch.cuda.is_available():
        spec = RunSpec(**TINY, device="cuda", checkpoint_dir=tmp_path)
        with pytest.raises(BadValueError, match="device 'cuda' is not available"):
            run(spec)
        assert not any(tmp_path.iterdir())  # refused before any work


def test_real_video_without_a_root_is_a_clear_error():
    spec = RunSpec(model="c3d", data="ucf101", clip_shape=ClipShape(4, 16, 16))
    with pytest.raises(BadValueError, match="prepare-demo --layout ucf101"):
        run(spec)


def test_a_detection_run_reports_coco_ap(tmp_path, capsys):
    argv = ["train", "--task", "detection", "--frames", "4", "--height", "16", "--width", "16"]
    argv += ["--train-size", "16", "--val-size", "8", "--test-size", "8", "--epochs", "1"]
    argv += ["--batch-size", "8", "--progress", "off", "--checkpoint-dir", str(tmp_path / "run")]
    assert main([*argv, "--out", str(tmp_path / "det.json")]) == 0
    printed = capsys.readouterr().out
    assert "center_detector" in printed and "test AP50 / AP" in printed
    report = json.loads((tmp_path / "det.json").read_text())
    assert report["task"] == "detection" and report["data"]["name"] == "scenes"
    test = report["test"]
    assert test["frames"] == 8 * 4 and 0 <= test["ap"] <= test["ap50"] <= 1
    assert report["history"][0]["val_acc"] is None and report["history"][0]["val_loss"] > 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"task": "pose"}, "task must be one of"),
        ({"task": "segmentation"}, "the segmentation task trains one of"),
        ({"task": "detection"}, "the detection task trains one of"),
        (
            {"task": "detection", "model": "center_detector", "data": "ucf101"},
            "the synthetic world",
        ),
    ],
)
def test_bad_task_specs(fields, message):
    with pytest.raises(BadValueError, match=message):
        RunSpec(**{"model": "c3d", **fields})


def test_a_classification_run_needs_a_model(capsys):
    assert main(["train", "--epochs", "1"]) == 2
    assert "argument --model: a classification run needs a model name" in capsys.readouterr().err


def test_a_segmentation_run_reports_j_and_f(tmp_path, capsys):
    argv = ["train", "--task", "segmentation", "--model", "segmenter_2d", "--frames", "4"]
    argv += ["--height", "16", "--width", "16", "--train-size", "16", "--val-size", "8"]
    argv += ["--test-size", "8", "--epochs", "1", "--batch-size", "8", "--progress", "off"]
    argv += ["--checkpoint-dir", str(tmp_path / "run"), "--out", str(tmp_path / "seg.json")]
    assert main(argv) == 0
    assert "test J / F (actors)" in capsys.readouterr().out
    report = json.loads((tmp_path / "seg.json").read_text())
    assert report["task"] == "segmentation" and report["model"] == "segmenter_2d"
    test = report["test"]
    assert test["clips"] == 8 and test["objects"] == 8 and 0 <= test["J"] <= 1
    assert test["J&F"] == pytest.approx((test["J"] + test["F"]) / 2)


@pytest.mark.parametrize(
    ("task", "model", "headline"),
    [
        ("captioning", "captioner_1frame", "test BLEU-4 / CIDEr / motion words (en, beam)"),
        ("translation", "translator", "test BLEU-4 / exact (en -> zh)"),
        ("qa", "video_qa_single_frame", "test accuracy: all / temporal (prior)"),
        ("retrieval", "clip_towers", "test R@1 text->video / video->text"),
    ],
)
def test_language_runs_report_their_field_metrics(tmp_path, capsys, task, model, headline):
    argv = ["train", "--task", task, "--model", model, "--frames", "4", "--height", "32"]
    argv += ["--width", "32", "--train-size", "16", "--val-size", "8", "--test-size", "8"]
    argv += ["--epochs", "1", "--batch-size", "8", "--progress", "off"]
    argv += ["--checkpoint-dir", str(tmp_path / "run"), "--out", str(tmp_path / "r.json")]
    assert main(argv) == 0
    assert headline in capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["task"] == task and report["flops_per_clip_train"] is None
    assert report["history"][0]["val_loss"] > 0


def test_scene_sets_follow_the_spec():
    from vidbook.train.scene_sets import scene_set

    spec = RunSpec(model="center_detector", task="detection", clip_shape=ClipShape(4, 16, 16),
                   train_size=30, val_size=10, seed=3, difficulty="easy")  # fmt: skip
    train, test = scene_set(spec, "train"), scene_set(spec, "test")
    assert (len(train), len(test), train.seed, train.difficulty) == (30, 10, 3, "easy")
    assert train.clip_shape == ClipShape(4, 16, 16) and len(scene_set(spec, "test", 7)) == 7
    with pytest.raises(BadValueError, match="split must be one of"):
        scene_set(spec, "dev")
