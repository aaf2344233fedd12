"""The Trainer's objective hook: a task that is not classification trains through the same loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidbook.errors import BadValueError
from vidbook.train import Classification, Objective, Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


class Brightness(Objective):
    """Regress each clip's mean brightness (a dict batch: "clip" and "target")."""

    def unpack(self, batch):
        return batch["clip"], {"mean": batch["target"]}

    def loss(self, output, targets):
        return nn.functional.mse_loss(output.float().squeeze(1), targets["mean"])


def batches(n: int = 8, seed: int = 0) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        clip = torch.rand(16, 3, 2, 4, 4, generator=gen) * torch.rand(16, 1, 1, 1, 1, generator=gen)
        out.append({"clip": clip, "target": clip.mean((1, 2, 3, 4))})
    return out


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(96, 1))


def test_a_regression_objective_trains_and_evaluates(tmp_path):
    trainer = Trainer(model(), objective=Brightness(), epochs=6, lr=0.03, progress=False,
                      checkpoint_dir=tmp_path)  # fmt: skip
    before = trainer.evaluate(batches(seed=1))
    history = trainer.fit(batches(), batches(seed=1))
    after = trainer.evaluate(batches(seed=1))
    assert before["acc"] is None and after["n"] == 128
    assert after["loss"] < 0.2 * before["loss"]
    assert all(row["train_acc"] is None and row["val_acc"] is None for row in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert (tmp_path / "last.pt").is_file() and not (tmp_path / "best.pt").exists()
    with pytest.raises(BadValueError, match="predict returns class logits"):
        trainer.predict(batches())


def test_a_resumed_objective_run_ends_where_one_long_run_ends(tmp_path):
    long = Trainer(model(), objective=Brightness(), epochs=4, lr=0.03, progress=False)
    long.fit(batches())
    first = Trainer(model(), objective=Brightness(), epochs=4, lr=0.03, progress=False,
                    checkpoint_dir=tmp_path, time_limit_s=1e-9)  # fmt: skip
    assert len(first.fit(batches())) == 1  # stopped by the time limit after one epoch
    resumed = Trainer(model(), objective=Brightness(), epochs=4, lr=0.03, progress=False,
                      checkpoint_dir=tmp_path, resume=True)  # fmt: skip
    resumed.fit(batches())
    for a, b in zip(long.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_classification_is_the_default_objective():
    trainer = Trainer(nn.Sequential(nn.Flatten(), nn.Linear(96, 3)), progress=False, epochs=1)
    assert isinstance(trainer.objective, Classification) and trainer.objective.accuracy
    data = [(torch.rand(4, 3, 2, 4, 4), torch.tensor([0, 1, 2, 0]))]
    row = trainer.fit(data)[0]
    assert 0 <= row["train_acc"] <= 1


def test_bad_objectives_are_refused():
    with pytest.raises(BadValueError, match="objective must be a vidbook.train.Objective, got str"):
        Trainer(model(), objective="mse")
    with pytest.raises(BadValueError, match="label_smoothing belongs to the default"):
        Trainer(model(), objective=Brightness(), label_smoothing=0.1)
    with pytest.raises(TypeError, match="abstract"):  # an objective needs unpack and loss
        Objective()


def test_a_frozen_parts_stale_gradients_do_not_change_the_clipping():
    """Gradient clipping measures the trained parameters only: a frozen module that still holds
    gradients from an earlier training (an autoencoder before its generator) changes nothing."""

    def trained(stale: bool) -> torch.Tensor:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
        model[0].requires_grad_(False)
        if stale:
            model[0].weight.grad = torch.full_like(model[0].weight, 100.0)
        batches = [{"clip": torch.randn(8, 4), "label": torch.randint(0, 2, (8,))}]
        Trainer(model, epochs=1, lr=0.1, grad_clip=1.0, progress=False).fit(batches)
        return model[1].weight.detach()

    assert torch.equal(trained(stale=True), trained(stale=False))
