"""Data parallel training with torchrun (2 CPU processes, Gloo) equals one process with the
doubled batch; gradient accumulation equals the larger batch; sharded loaders split exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vidbook.data import ClipLoader, SynthActions
from vidbook.distributed import env_world, init_distributed, rank_and_world

WORKER = Path(__file__).with_name("_ddp_worker.py")
REPO = WORKER.parent.parent


def _run(args: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_processes_equal_one_with_the_doubled_batch(tmp_path):
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    _run([str(WORKER), str(one), "--batch-size", "8"], tmp_path)
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    _run([*torchrun, str(WORKER), str(two), "--batch-size", "4"], tmp_path)
    a, b = torch.load(one, weights_only=False), torch.load(two, weights_only=False)
    assert a["world_size"] == 1 and b["world_size"] == 2
    start = {k: v for k, v in a["model"].items()}
    for key in a["model"]:
        torch.testing.assert_close(b["model"][key], a["model"][key], rtol=1e-9, atol=1e-12)
    assert any(not torch.equal(v, start[k]) for k, v in b["model"].items())
    for row_a, row_b in zip(a["history"], b["history"], strict=True):
        # metrics are summed over the processes: the same as one process over all clips
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert row_b[key] == pytest.approx(row_a[key], rel=1e-6), key  # float32 logits


def test_accumulation_equals_the_larger_batch(tmp_path):
    from vidbook.models import build
    from vidbook.train import Trainer

    world = dict(frames=4, height=16, width=16)
    data = SynthActions("train", size=48, **world)
    weights = []
    for batch_size, accumulate in ((12, 1), (6, 2), (3, 4)):
        torch.manual_seed(0)
        model = build(
            "timesformer", 10, frames=4, size=16, tubelet=(2, 4, 4), dim=8, depth=1, heads=2
        )
        model = model.double()
        loader = [
            {"clip": b["clip"].double(), "label": b["label"]}
            for b in ClipLoader(data, batch_size=batch_size, shuffle=False)
        ]
        trainer = Trainer(model, epochs=2, lr=1e-2, accumulate=accumulate, progress=False)
        trainer.fit(loader)
        assert trainer.global_step == 2 * 4
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    torch.testing.assert_close(weights[1], weights[0], rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(weights[2], weights[0], rtol=1e-9, atol=1e-10)


def test_accumulation_steps_on_a_short_last_group():
    from vidbook.models import build
    from vidbook.train import Trainer

    data = SynthActions("train", size=20, frames=4, height=16, width=16)
    model = build("timesformer", 10, frames=4, size=16, tubelet=(2, 4, 4), dim=8, depth=1, heads=2)
    trainer = Trainer(model, epochs=1, accumulate=2, progress=False)
    trainer.fit(ClipLoader(data, batch_size=4))  # 5 batches: groups of 2, 2 and 1
    assert trainer.global_step == 3


def test_sharded_loaders_split_each_batch_exactly():
    data = SynthActions("train", size=29, frames=4, height=16, width=16)
    whole = ClipLoader(data, batch_size=8, seed=3)
    shards = [ClipLoader(data, batch_size=4, seed=3, rank=r, world_size=2) for r in (0, 1)]
    for epoch in (0, 1):
        for loader in (whole, *shards):
            loader.set_epoch(epoch)
        assert len(shards[0]) == len(shards[1]) == 4  # 29 clips padded to 30: 15 each
        order = whole.order()
        together = torch.stack([shards[0].order(), shards[1].order()], dim=1).flatten()
        assert torch.equal(together[:29], order) and torch.equal(together[29:], order[:1])
    # evaluation: uneven shards, every clip exactly once
    evals = [ClipLoader(data, batch_size=4, shuffle=False, rank=r, world_size=4) for r in range(4)]
    served = torch.cat([loader.order() for loader in evals]).sort().values
    assert torch.equal(served, torch.arange(29))
    assert [len(loader.order()) for loader in evals] == [8, 7, 7, 7]
    assert [len(loader) for loader in evals] == [2, 2, 2, 2]


@pytest.mark.parametrize("rank, world_size", [(2, 2), (-1, 2), (0, 0), (0, 1.5)])
def test_bad_rank_or_world_size(rank, world_size):
    data = SynthActions("train", size=4, frames=4, height=16, width=16)
    with pytest.raises(ValueError, match="rank|world_size"):
        ClipLoader(data, rank=rank, world_size=world_size)


def test_without_torchrun_nothing_is_distributed(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert env_world() == (0, 0, 1)
    assert init_distributed() is None and init_distributed("cpu") == torch.device("cpu")
    assert rank_and_world() == (0, 1)
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two'"):
        env_world()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(ValueError, match="RANK=5"):
        env_world()


def test_fp16_autocast_with_scaler_trains_on_cpu():
    from vidbook.models import build
    from vidbook.train import Trainer

    data = SynthActions("train", size=16, frames=4, height=16, width=16)
    model = build("timesformer", 10, frames=4, size=16, tubelet=(2, 4, 4), dim=8, depth=1, heads=2)
    trainer = Trainer(model, epochs=1, amp="fp16", progress=False)
    assert trainer.scaler.is_enabled()
    (row,) = trainer.fit(ClipLoader(data, batch_size=8))
    assert row["train_loss"] > 0 and trainer.global_step == 2
    assert Trainer(model, progress=False).scaler.is_enabled() is False


def test_trainer_takes_an_optimizer_factory():
    from vidbook.models import build
    from vidbook.optim import SGD
    from vidbook.train import Trainer

    model = build("timesformer", 10, frames=4, size=16, tubelet=(2, 4, 4), dim=8, depth=1, heads=2)
    trainer = Trainer(
        model,
        epochs=1,
        lr=0.05,
        weight_decay=0.01,
        optimizer=lambda g: SGD(g, momentum=0.9),
        progress=False,
    )
    assert isinstance(trainer.optimizer, SGD)
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [0.05, 0.05]
    assert [g["weight_decay"] for g in trainer.optimizer.param_groups] == [0.01, 0.0]
    data = SynthActions("train", size=8, frames=4, height=16, width=16)
    trainer.fit(ClipLoader(data, batch_size=4))
    assert trainer.global_step == 2
    with pytest.raises(ValueError, match="returned list"):
        Trainer(model, optimizer=lambda g: g)
