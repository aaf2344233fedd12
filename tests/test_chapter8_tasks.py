"""Masked pre-training and generation as tasks of the runner and the command line: a tiny run of
each writes its report, a resumed run ends where an uninterrupted one ends, and a checkpoint of
another task or clip shape is refused by name."""

from __future__ import annotations

import json

import pytest
import torch

from vidbook.cli import main
from vidbook.clip_shape import ClipShape
from vidbook.errors import BadValueError
from vidbook.models.latent_dit import LatentDiT
from vidbook.train import generation_task
from vidbook.train import mae as mae_task
from vidbook.train.checkpoint import (
    CheckpointError,
    export_weights,
    load_weights,
    save_checkpoint,
)
from vidbook.train.generation import build_generator, sample
from vidbook.train.runner import RunSpec, run

SHAPE = ClipShape(4, 32, 32)  # the named models at their smallest: 16 spatial positions


@pytest.fixture
def tiny_tests(monkeypatch):
    """The tasks' tests at a size that runs in seconds."""
    monkeypatch.setattr(mae_task, "FINETUNE_RECIPE", mae_task.FinetuneRecipe(steps=2, batch_size=4))
    monkeypatch.setattr(generation_task, "JUDGE_RECIPE", {**generation_task.JUDGE_RECIPE,
                        "train_size": 16, "epochs": 1, "batch_size": 8})  # fmt: skip
    monkeypatch.setattr(generation_task, "SAMPLERS", (("euler", 2, 1.0), ("heun", 2, 2.0)))
    monkeypatch.setattr(generation_task, "CLIPS_PER_CLASS", 2)
    monkeypatch.setattr(generation_task, "REAL_CLIPS", 40)
    monkeypatch.setattr(generation_task, "AUTOENCODER_RECIPE", {**generation_task.AUTOENCODER_RECIPE,
                        "train_size": 16, "batch_size": 8})  # fmt: skip


def spec(task: str, model: str, tmp_path, **fields) -> RunSpec:
    base = dict(task=task, model=model, clip_shape=SHAPE, train_size=1000, val_size=8,
                test_size=20, epochs=1, batch_size=8, progress=False, checkpoint_dir=tmp_path,
                report=True)  # fmt: skip
    return RunSpec(**{**base, **fields})


def test_a_tiny_masked_pretraining_run_reports_label_efficiency(tmp_path, tiny_tests, one_thread):
    result = run(spec("mae", "videomae_tiny", tmp_path, train_size=1000))
    test = result.report["test"]
    assert test["mask_ratio"] == 0.9 and 0 < test["reconstruction_loss"] < 5
    assert set(test["shares"]) == {"0.01", "0.1"}
    for share, labelled in (("0.01", 10), ("0.1", 100)):
        arms = test["shares"][share]
        assert set(arms) == {"finetuned", "probe", "scratch"}
        assert all(0 <= arm["acc"] <= 1 and arm["clips"] == labelled for arm in arms.values())
    assert "test accuracy with 1% of labels" in " ".join(result.summary())


def test_too_few_labels_are_refused(tmp_path, tiny_tests, one_thread):
    with pytest.raises(BadValueError, match=r"1% of 500 clips is 5 labelled clips; at least 10"):
        run(spec("mae", "videomae_tiny", tmp_path, train_size=500))


def test_a_tiny_generation_run_judges_every_sampler(tmp_path, tiny_tests, one_thread):
    result = run(spec("generate", "dit_tiny", tmp_path, train_size=32))
    test = result.report["test"]
    assert sorted(test["fixed_timestep_losses"]) == pytest.approx([0.1 * i for i in range(1, 10)])
    assert [(r["method"], r["steps"], r["nfe"]) for r in test["samplers"]] == [
        ("euler", 2, 2),
        ("heun", 2, 4),
    ]
    for row in test["samplers"]:
        assert row["clips"] == 20 and 0 <= row["accuracy"] <= 1
        assert set(row["frechet"]) == {"generated", "real", "shuffled", "noise"}
    assert "generated clips: class accuracy" in " ".join(result.summary())


def test_a_tiny_latent_generation_run_trains_its_autoencoder_first(
    tmp_path, tiny_tests, one_thread
):
    result = run(spec("generate", "latent_dit", tmp_path, train_size=16))
    model, test = result.trainer.model, result.report["test"]
    assert isinstance(model, LatentDiT) and model.cfg.in_channels == 8
    assert (model.cfg.frames, model.cfg.size) == (1, 8)  # 4 x 32 x 32 clips, 4x in time and space
    assert not any(p.requires_grad for p in model.autoencoder.parameters())
    assert test["autoencoder"]["ratio"] == pytest.approx(3 * 4 * 32 * 32 / (8 * 1 * 8 * 8))
    assert 0 <= test["judge_on_reconstructions"] <= 1
    clips = sample(model, [0, 3], steps=2, seed=0)
    assert clips.shape == (2, 3, 4, 32, 32) and 0 <= clips.min() and clips.max() <= 1
    assert "latents 8x1x8x8" in result.data


@pytest.mark.parametrize(("task", "model"), [("mae", "videomae_tiny"), ("generate", "dit_tiny"),
                                             ("generate", "latent_dit")])  # fmt: skip
def test_a_resumed_run_ends_where_an_uninterrupted_run_ends(task, model, tmp_path, tiny_tests,
                                                            one_thread):  # fmt: skip
    fields = dict(train_size=32, epochs=2, report=False)
    whole = run(spec(task, model, tmp_path / "whole", **fields))
    run(spec(task, model, tmp_path / "parts", time_limit_s=1e-9, **fields))  # stops after epoch 1
    resumed = run(spec(task, model, tmp_path / "parts", resume=True, **fields))
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    for name, value in whole.trainer.model.state_dict().items():
        assert torch.equal(resumed.trainer.model.state_dict()[name], value), name


def test_a_checkpoint_of_another_task_or_clip_shape_is_refused(tmp_path, one_thread):
    fields = dict(train_size=16, report=False)
    run(spec("generate", "dit_tiny", tmp_path, **fields))
    with pytest.raises(
        CheckpointError, match=r"another run \(task 'generate'.*this run is task 'mae'"
    ):
        run(spec("mae", "videomae_tiny", tmp_path, resume=True, **fields))
    # The same weights would fit a generator of 8-frame clips (the positions are not stored).
    with pytest.raises(
        CheckpointError, match=r"clip_shape \[4, 32, 32\].*clip_shape \[8, 32, 32\]"
    ):
        run(spec("generate", "dit_tiny", tmp_path, resume=True, clip_shape=ClipShape(8, 32, 32),
                 **fields))  # fmt: skip


def test_the_command_line_trains_both_tasks_and_writes_json(tmp_path, tiny_tests, one_thread):
    for task, model in (("mae", "videomae_tiny"), ("generate", "dit_tiny")):
        out = tmp_path / f"{task}.json"
        args = ["train", "--task", task, "--model", model, "--frames", "4", "--height", "32",
                "--width", "32", "--train-size", "1000" if task == "mae" else "16",
                "--val-size", "8", "--test-size", "20", "--epochs", "1", "--batch-size", "8",
                "--checkpoint-dir", str(tmp_path / task), "--out", str(out)]  # fmt: skip
        assert main(args) == 0
        report = json.loads(out.read_text())
        assert report["task"] == task and report["model"] == model
        assert report["provenance"]["command"].startswith("vidbook train")
        assert (tmp_path / task / "last.pt").exists()


def test_exported_weights_load_into_a_fresh_model_and_refuse_another_run(
    tmp_path, tiny_tests, one_thread
):
    weights = tmp_path / "generator.pt"
    args = ["train", "--task", "generate", "--model", "dit_tiny", "--frames", "4", "--height",
            "32", "--width", "32", "--train-size", "16", "--val-size", "8", "--test-size", "20",
            "--epochs", "1", "--batch-size", "8", "--checkpoint-dir", str(tmp_path / "run"),
            "--out", str(tmp_path / "run.json"), "--weights-out", str(weights)]  # fmt: skip
    assert main(args) == 0
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    fresh = build_generator("dit_tiny", SHAPE)
    identity = {"task": "generate", "model": "dit_tiny", "clip_shape": [4, 32, 32]}
    stored = load_weights(fresh, weights, identity)
    assert stored["record"]["command"].startswith("vidbook train --task generate")
    assert stored["global_step"] == 2 and len(stored["history"]) == 1
    for name, value in fresh.state_dict().items():  # float16 on disk, float32 again in the model
        assert value.dtype == trained[name].dtype
        assert torch.allclose(value, trained[name], rtol=1e-3, atol=1e-4), name
    assert weights.stat().st_size < 0.4 * (tmp_path / "run" / "last.pt").stat().st_size
    with pytest.raises(CheckpointError, match=r"another run \(clip_shape: stored \[4, 32, 32\]"):
        load_weights(fresh, weights, {**identity, "clip_shape": [8, 32, 32]})
    with pytest.raises(CheckpointError, match="training checkpoint, not exported weights"):
        load_weights(fresh, tmp_path / "run" / "last.pt")
    with pytest.raises(CheckpointError, match="do not fit this model"):
        load_weights(build_generator("dit_small", SHAPE), weights)
    loaded, _ = generation_task.load_generator(weights)
    assert type(loaded) is type(fresh) and not loaded.training
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in loaded.state_dict().items())
    save_checkpoint(
        tmp_path / "mae.pt", weights={}, identity={"task": "mae", "model": "videomae_tiny"}
    )
    with pytest.raises(CheckpointError, match="does not hold a generator.*'task': 'mae'"):
        generation_task.load_generator(tmp_path / "mae.pt")
    with pytest.raises(BadValueError, match="floating-point torch.dtype"):
        export_weights(tmp_path / "run" / "last.pt", tmp_path / "x.pt", dtype=torch.int8)
