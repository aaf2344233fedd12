"""Tests of vidbook.train: schedules, the training loop, the nan guard and exact resumption."""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vidbook.train import (
    CheckpointError,
    NonFiniteLossError,
    TrainConfig,
    Trainer,
    load_checkpoint,
    save_checkpoint,
)
from vidbook.train.schedule import (
    get_schedule,
    make_lambda,
    warmup_constant,
    warmup_cosine,
    warmup_steps,
)

WORKER = Path(__file__).resolve().parent / "_train_worker.py"
REPO = WORKER.parents[1]
_spec = importlib.util.spec_from_file_location("_train_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)
ToyClips, toy_model = worker.ToyClips, worker.toy_model

METRICS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "stopped")
HISTORY_KEYS = {*METRICS, "seconds", "clips_per_s"}


pytestmark = pytest.mark.usefixtures("one_thread")


def make_trainer(seed: int = 0, model: nn.Module | None = None, **overrides) -> Trainer:
    """A CPU trainer of the toy model (initialised from ``seed``) with a quick recipe."""
    torch.manual_seed(seed)
    settings = {"epochs": 3, "lr": 1e-2, "progress": False, **overrides}
    return Trainer(model if model is not None else toy_model(), device="cpu", **settings)


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"state_dict entry {key} differs"


def metrics(history: list[dict]) -> list[dict]:
    return [{k: row[k] for k in METRICS} for row in history]


# ----- schedules --------------------------------------------------------------------------------


def test_warmup_cosine_values():
    assert warmup_cosine(0, 100, 10) == 0.0
    assert warmup_cosine(5, 100, 10) == pytest.approx(0.5)
    assert warmup_cosine(10, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10) == pytest.approx(0.5)
    assert warmup_cosine(99, 100, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 89 / 90)))
    assert warmup_cosine(100, 100, 10) == 0.0
    assert warmup_cosine(150, 100, 10) == 0.0
    assert warmup_cosine(0, 100, 0) == pytest.approx(1.0)
    values = [warmup_cosine(s, 100, 10) for s in range(10, 101)]
    assert all(a >= b for a, b in itertools.pairwise(values)), "cosine part must not increase"


def test_warmup_constant_values():
    assert warmup_constant(0, 100, 10) == 0.0
    assert warmup_constant(5, 100, 10) == pytest.approx(0.5)
    assert warmup_constant(10, 100, 10) == 1.0
    assert warmup_constant(55, 100, 10) == 1.0
    assert warmup_constant(100, 100, 10) == 1.0
    assert warmup_constant(0, 100, 0) == 1.0


def test_schedule_helpers_and_invalid_values():
    assert get_schedule("cosine") is warmup_cosine
    assert get_schedule("constant") is warmup_constant
    with pytest.raises(
        ValueError, match=r"'linear'.*\['constant', 'cosine', 'one_cycle', 'step'\]"
    ):
        get_schedule("linear")
    assert warmup_steps(100, 0.1) == 10
    assert warmup_steps(12, 0.1) == 1
    assert warmup_steps(5, 0.0) == 0
    assert make_lambda("cosine", 100, 10)(55) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="step must be >= 0"):
        warmup_cosine(-1, 100, 10)
    with pytest.raises(ValueError, match="total must be >= 1"):
        warmup_cosine(0, 0, 0)
    with pytest.raises(ValueError, match="warmup must be between 0 and total=100"):
        warmup_constant(0, 100, 101)
    with pytest.raises(ValueError, match="warmup_frac"):
        warmup_steps(100, 1.0)


# ----- training -------------------------------------------------------------------------------


def test_fit_learns_toy_task_and_history_keys():
    trainer = make_trainer(epochs=6)
    history = trainer.fit(ToyClips(), ToyClips(seed=1))
    assert len(history) == 6 and history is trainer.history
    for i, row in enumerate(history, start=1):
        assert set(row) == HISTORY_KEYS
        assert row["epoch"] == i and row["stopped"] is None
        assert row["seconds"] > 0 and row["clips_per_s"] == pytest.approx(64 / row["seconds"])
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["train_acc"] >= 0.95
    assert history[-1]["val_acc"] >= 0.9
    assert history[-1]["lr"] == 0.0, "the cosine schedule ends at 0"
    assert trainer.global_step == 6 * 4
    decay, no_decay = trainer.optimizer.param_groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"])
    assert all(p.ndim <= 1 for p in no_decay["params"])


def test_the_curve_records_the_training_loss_within_each_epoch():
    trainer = make_trainer(epochs=3)
    history = trainer.fit(ToyClips())
    # 4 batches of 16 clips per epoch: a point after every step (every = max(1, 4 // 20)).
    assert [p["step"] for p in trainer.curve] == list(range(1, 13))
    for epoch, row in enumerate(history):
        points = trainer.curve[4 * epoch : 4 * epoch + 4]
        mean = sum(p["train_loss"] for p in points) / 4  # equal batches: the epoch's mean
        assert mean == pytest.approx(row["train_loss"], rel=1e-9)
    assert trainer.curve[-1]["train_loss"] < trainer.curve[0]["train_loss"]


def test_compiled_training_is_the_same_training():
    # compile=True trains through torch.compile(model); the "eager" backend runs the captured
    # graph as it is, so the run must match the uncompiled one step for step
    plain = make_trainer(epochs=2)
    compiled = make_trainer(epochs=2, compile="eager")
    assert isinstance(compiled.train_module, torch._dynamo.eval_frame.OptimizedModule)
    assert compiled.train_module._orig_mod is compiled.model
    h_plain = plain.fit(ToyClips(), ToyClips(seed=1))
    h_compiled = compiled.fit(ToyClips(), ToyClips(seed=1))
    for row_c, row_p in zip(h_compiled, h_plain, strict=True):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            assert row_c[key] == pytest.approx(row_p[key], rel=1e-5), key
    for a, b in zip(plain.model.parameters(), compiled.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_fit_accepts_tuple_batches_without_val_data():
    trainer = make_trainer(epochs=1, schedule="constant", warmup_frac=0.0)
    (row,) = trainer.fit(ToyClips(tuples=True))
    assert row["val_loss"] is None and row["val_acc"] is None
    assert row["lr"] == pytest.approx(1e-2), "constant schedule without warm-up keeps the lr"


def test_schedule_needing_total_requires_len():
    class NoLen:
        def __iter__(self):
            return iter(ToyClips())

    with pytest.raises(ValueError, match=r"no len\(\).*schedule='cosine'"):
        make_trainer(epochs=1).fit(NoLen())
    (row,) = make_trainer(epochs=1, schedule="constant", warmup_frac=0.0).fit(NoLen())
    assert row["train_acc"] > 0


def test_progress_off_prints_nothing_and_on_shows_a_bar(capsys):
    make_trainer(epochs=1).fit(ToyClips(), ToyClips(seed=1))
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    make_trainer(epochs=1, progress=True).fit(ToyClips(), ToyClips(seed=1))
    out = capsys.readouterr()
    assert "epoch 1/1" in out.out + out.err


def test_evaluate_confusion_matrix_and_mode_restore():
    trainer = make_trainer(epochs=2)
    trainer.fit(ToyClips())
    data = ToyClips(n=50, batch_size=16, seed=3)
    trainer.model.train()
    trainer.model[1].eval()  # a frozen norm layer must stay in eval mode
    result = trainer.evaluate(data)
    assert trainer.model.training and not trainer.model[1].training
    confusion = result["confusion"]
    assert confusion.shape == (2, 2) and confusion.dtype == torch.long
    assert result["n"] == 50 and int(confusion.sum()) == 50
    assert int(confusion.trace()) / 50 == pytest.approx(result["acc"])
    assert confusion.sum(dim=1).tolist() == torch.bincount(data.labels, minlength=2).tolist()
    logits, labels = trainer.predict(data)
    assert logits.shape == (50, 2) and logits.device.type == "cpu"
    assert torch.equal(labels, data.labels)
    expected = nn.functional.cross_entropy(logits, labels).item()
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    assert (logits.argmax(1) == labels).float().mean().item() == pytest.approx(result["acc"])


def test_evaluate_restores_modes_after_an_error():
    trainer = make_trainer()
    trainer.model.train()
    bad = [(torch.randn(2, *worker.CLIP_SHAPE), torch.tensor([0, 5]))]  # class 5 of 2
    with pytest.raises(IndexError):
        trainer.evaluate(bad)
    assert trainer.model.training and torch.is_grad_enabled()
    with pytest.raises(ValueError, match="batch dict lacks key.*'label'"):
        trainer.evaluate([{"clip": torch.randn(2, *worker.CLIP_SHAPE)}])
    with pytest.raises(ValueError, match="no batches"):
        trainer.evaluate([])


def test_time_limit_stops_after_epoch_and_resume_is_exact(tmp_path):
    reference = make_trainer(epochs=3)
    reference.fit(ToyClips(), ToyClips(seed=1))

    first = make_trainer(epochs=3, checkpoint_dir=tmp_path, time_limit_s=1e-9)
    history = first.fit(ToyClips(), ToyClips(seed=1))
    assert len(history) == 1 and history[0]["stopped"] == "time_limit"
    # A different initialisation and RNG state: everything must come from the checkpoint.
    second = make_trainer(seed=123, epochs=3, checkpoint_dir=tmp_path, resume=True)
    history = second.fit(ToyClips(), ToyClips(seed=1))
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert_same_state(second.model.state_dict(), reference.model.state_dict())
    assert metrics(history)[1:] == metrics(reference.history)[1:]

    # Resuming a finished run returns its history and trains nothing.
    third = make_trainer(seed=7, epochs=3, checkpoint_dir=tmp_path, resume=True)
    assert metrics(third.fit(ToyClips(), ToyClips(seed=1))) == metrics(history)
    assert_same_state(third.model.state_dict(), reference.model.state_dict())


# ----- non-finite guard -----------------------------------------------------------------------


class PoisonedClips(ToyClips):
    """Toy clips in a fixed order with nan in batch ``batch`` (0-based) of epoch ``epoch``."""

    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__()
        self.poison, self.epoch = (epoch, batch), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        for b, batch in enumerate(super().__iter__()):
            if (self.epoch, b) == self.poison:
                batch = {**batch, "clip": batch["clip"].clone()}
                batch["clip"][0, 0, 0, 0, 0] = float("nan")
            yield batch


def test_nan_loss_raises_before_the_update(tmp_path):
    trainer = make_trainer(model=toy_model(norm=False), epochs=3, checkpoint_dir=tmp_path)
    data = PoisonedClips(epoch=1, batch=2)  # global step 4 + 2 = 6, in epoch 2 (1-based)
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit(data)
    message = str(info.value)
    assert "global step 6" in message and "epoch 2, batch 2" in message and "nan" in message
    assert str(tmp_path / "last.pt") in message and "lower lr" in message
    assert isinstance(info.value, RuntimeError) and info.value.step == 6
    assert trainer.global_step == 6, "the bad batch must not be stepped"
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_nan_loss_with_sparse_checks_reports_the_first_bad_step():
    trainer = make_trainer(model=toy_model(norm=False), epochs=3, check_every=3)
    with pytest.raises(NonFiniteLossError, match=r"global step 5 \(epoch 2, batch 1") as info:
        trainer.fit(PoisonedClips(epoch=1, batch=1))
    assert "No checkpoint was written yet" in str(info.value)
    assert trainer.global_step == 6, "checked every 3 steps: found after step 6"


# ----- configuration errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        (
            {"schedule": "linear"},
            r"schedule = 'linear'.*\['constant', 'cosine', 'one_cycle', 'step'\]",
        ),
        ({"lr": -0.1}, r"lr = -0\.1 .*> 0"),
        ({"lr": float("nan")}, r"lr = nan"),
        ({"epochs": 0}, r"epochs = 0 .*>= 1"),
        ({"epochs": 2.0}, r"epochs = 2\.0 .*int"),
        ({"warmup_frac": 1.0}, r"warmup_frac = 1\.0 .*\[0, 1\)"),
        ({"grad_clip": -1}, r"grad_clip = -1"),
        ({"amp": "fp8"}, r"amp = 'fp8' .*'fp16'"),
        ({"progress": "yes"}, r"progress = 'yes'"),
        ({"check_every": 0}, r"check_every = 0"),
        ({"time_limit_s": 0}, r"time_limit_s = 0"),
        ({"resume": True}, r"resume = True .*checkpoint_dir"),
        ({"compile": 1}, r"compile = 1 .*backend name"),
        ({"learning_rate": 0.1}, r"unknown TrainConfig field.*learning_rate.*'lr'"),
    ],
)
def test_invalid_config_values(overrides, pattern):
    with pytest.raises(ValueError, match=pattern):
        Trainer(toy_model(), device="cpu", **overrides)


def test_unavailable_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device 'cuda' is not available.*available here: cpu"):
        Trainer(toy_model(), device="cuda")


def test_config_normalises_plain_values(tmp_path):
    config = TrainConfig(lr=1, grad_clip=0, checkpoint_dir=tmp_path)
    assert config.lr == 1.0 and isinstance(config.lr, float)
    assert config.grad_clip is None
    assert config.checkpoint_dir == str(tmp_path)


def test_resume_with_changed_settings_names_the_fields(tmp_path):
    make_trainer(epochs=2, checkpoint_dir=tmp_path).fit(ToyClips())
    changed = make_trainer(epochs=2, lr=3e-3, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match=r"lr: checkpoint 0\.01 != now 0\.003") as info:
        changed.fit(ToyClips())
    assert "epochs" not in str(info.value)
    fewer_batches = make_trainer(epochs=2, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="batches per epoch: checkpoint 4 != now 2"):
        fewer_batches.fit(ToyClips(n=32))


def test_bad_checkpoint_files(tmp_path):
    good = tmp_path / "good.pt"
    make_trainer(epochs=1, checkpoint_dir=tmp_path).fit(ToyClips())
    good.write_bytes((tmp_path / "last.pt").read_bytes())

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.pt .*truncated, corrupt"):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match=r"missing\.pt: the file does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match=r"foreign\.pt is a torch\.save file but not a vidb"):
        load_checkpoint(foreign)

    text_dir = tmp_path / "text"
    text_dir.mkdir()
    (text_dir / "last.pt").write_text("this is not a checkpoint\n")
    trainer = make_trainer(epochs=1, checkpoint_dir=text_dir, resume=True)
    with pytest.raises(CheckpointError, match=r"text/last\.pt \(25 bytes\).*save_checkpoint"):
        trainer.fit(ToyClips())
    assert issubclass(CheckpointError, ValueError)


def test_checkpoint_loads_with_weights_only(tmp_path):
    trainer = make_trainer(epochs=2, checkpoint_dir=tmp_path)
    trainer.fit(ToyClips(), ToyClips(seed=1))
    for name in ("last.pt", "best.pt"):
        state = torch.load(tmp_path / name, map_location="cpu", weights_only=True)
        assert state["format"] == "vidbook.train.checkpoint" and state["version"] == 1
    state = torch.load(tmp_path / "last.pt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 2 and state["global_step"] == 8
    assert state["config"] == trainer.config.to_dict()
    assert metrics(state["history"]) == metrics(trainer.history)
    assert_same_state(state["model"], trainer.model.state_dict())
    assert {"optimizer", "scheduler", "rng"} <= state.keys()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_save_checkpoint_rejects_values_weights_only_cannot_read(tmp_path):
    path = tmp_path / "x.pt"
    with pytest.raises(TypeError, match=r"state\['metrics'\]\['acc'\].*NumPy"):
        save_checkpoint(path, metrics={"acc": np.float32(0.5)})
    with pytest.raises(TypeError, match="TrainConfig"):
        save_checkpoint(path, config=TrainConfig())
    assert not path.exists()
    save_checkpoint(path, step=3, values=[1.0, None, "a"], weights=torch.ones(2))
    state = load_checkpoint(path)
    assert state["step"] == 3 and state["values"] == [1.0, None, "a"]


# ----- resumption after a real kill -----------------------------------------------------------


def _worker(out: Path, *args: str, sleep: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, worker.SLEEP_ENV: str(sleep), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(out), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = 90) -> None:
    output, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{output}"


def _wait_for_epoch(path: Path, proc: subprocess.Popen, epoch: int, timeout: float) -> None:
    """Poll until the checkpoint at ``path`` has finished ``epoch`` epochs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the worker ended before it could be killed"
        if path.exists() and load_checkpoint(path)["epoch"] >= epoch:
            return
        time.sleep(0.02)
    pytest.fail(f"no checkpoint with epoch >= {epoch} at {path} after {timeout} s")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    ckpt = tmp_path / "ckpt"
    reference = _worker(tmp_path / "reference.pt")
    killed = _worker(tmp_path / "killed.pt", "--checkpoint-dir", str(ckpt), sleep=0.1)
    _wait_for_epoch(ckpt / "last.pt", killed, epoch=2, timeout=60)
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.pt").exists()
    stopped_at = load_checkpoint(ckpt / "last.pt")["epoch"]
    assert 2 <= stopped_at < 6, "the run must be killed mid-training"
    load_checkpoint(ckpt / "best.pt")

    _finish(_worker(tmp_path / "resumed.pt", "--checkpoint-dir", str(ckpt), "--resume"))
    _finish(reference)
    expected = torch.load(tmp_path / "reference.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)
    assert_same_state(resumed["model"], expected["model"])
    assert [row["epoch"] for row in resumed["history"]] == [1, 2, 3, 4, 5, 6]
    assert metrics(resumed["history"]) == metrics(expected["history"])
