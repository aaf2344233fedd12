"""vidbook.optim follows torch.optim: same trajectories on a video model, same argument checks."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from oracle import rel_error

import vidbook.optim as ours
from vidbook.models import build

STEPS = 200
TOLERANCE = 1e-8  # float64, relative to the largest weight

SETTINGS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.02, momentum=0.9)),
    ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("SGD", dict(lr=0.02, momentum=0.8, dampening=0.3)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.05, lr_decay=1e-3, weight_decay=1e-3, initial_accumulator_value=0.1)),
    ("RMSprop", dict(lr=1e-3)),
    ("RMSprop", dict(lr=1e-3, momentum=0.9, centered=True, weight_decay=1e-3)),
    ("Adam", dict()),
    ("Adam", dict(lr=3e-3, betas=(0.8, 0.99), weight_decay=1e-2, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=3e-3, weight_decay=0.1, amsgrad=True, eps=1e-6)),
]


def video_model() -> torch.nn.Module:
    """A real (small) video model in float64: the book's c3d, widths 4 and 8, 3 classes."""
    torch.manual_seed(0)
    return build("c3d", num_classes=3, widths=(4, 8), channels_last=False).double()


def batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    return [
        (
            torch.rand(2, 3, 4, 6, 6, generator=gen, dtype=torch.float64),
            torch.randint(0, 3, (2,), generator=gen),
        )
        for _ in range(n)
    ]


def train(model, optimizer, data) -> None:
    for clips, labels in data:
        optimizer.zero_grad()
        F.cross_entropy(model(clips), labels).backward()
        optimizer.step()


def weights(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def two_groups(model, lr: float) -> list[dict]:
    """The convolutions at ``lr`` (the default), the head at a tenth: per-group rates are used."""
    return [
        {"params": model.features.parameters()},
        {"params": model.head.parameters(), "lr": lr / 10},
    ]


@pytest.mark.parametrize(
    "name, kwargs", SETTINGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SETTINGS)]
)
def test_same_trajectory_as_torch(name, kwargs, one_thread):
    data = batches(STEPS)
    model_ours, model_torch = video_model(), video_model()
    lr = kwargs.get("lr", getattr(torch.optim, name)([torch.zeros(1)]).defaults["lr"])
    train(model_ours, getattr(ours, name)(two_groups(model_ours, lr), **kwargs), data)
    torch_opt = getattr(torch.optim, name)(two_groups(model_torch, lr), foreach=False, **kwargs)
    train(model_torch, torch_opt, data)
    start = weights(video_model())
    moved = (weights(model_torch) - start).abs().max().item()
    assert moved > 1e-3, f"{name} {kwargs}: the weights barely moved ({moved:.1e}), a weak test"
    err = rel_error(weights(model_ours), weights(model_torch))
    assert err <= TOLERANCE, f"{name} {kwargs}: relative error {err:.2e} after {STEPS} steps"


@pytest.mark.parametrize("name, kwargs", SETTINGS[1::2], ids=[n for n, _ in SETTINGS[1::2]])
def test_state_dict_round_trip_resumes_exactly(name, kwargs, one_thread):
    data = batches(40)
    model = video_model()
    opt = getattr(ours, name)(model.parameters(), **kwargs)
    train(model, opt, data)
    straight = weights(model)

    model = video_model()
    opt = getattr(ours, name)(model.parameters(), **kwargs)
    train(model, opt, data[:20])
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    model = video_model()
    model.load_state_dict(saved_model)
    opt = getattr(ours, name)(model.parameters(), **kwargs)
    opt.load_state_dict(saved_opt)
    train(model, opt, data[20:])
    assert torch.equal(weights(model), straight)


BAD = [
    ("SGD", dict(lr=-0.1), "learning rate"),
    ("SGD", dict(momentum=-0.5), "momentum"),
    ("SGD", dict(weight_decay=-1e-4), "weight_decay"),
    ("SGD", dict(nesterov=True), "Nesterov"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    ("Adagrad", dict(lr=-1.0), "learning rate"),
    ("Adagrad", dict(lr_decay=-1.0), "lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    ("Adagrad", dict(eps=-1e-10), "epsilon"),
    ("RMSprop", dict(alpha=-0.1), "alpha"),
    ("RMSprop", dict(eps=-1.0), "epsilon"),
    ("Adam", dict(lr=-1e-3), "learning rate"),
    ("Adam", dict(betas=(1.0, 0.999)), "beta parameter at index 0"),
    ("Adam", dict(betas=(0.9, -0.1)), "beta parameter at index 1"),
    ("Adam", dict(eps=-1e-8), "epsilon"),
    ("AdamW", dict(weight_decay=-0.01), "weight_decay"),
    ("AdamW", dict(betas=(0.9, 1.5)), "beta parameter at index 1"),
]


@pytest.mark.parametrize("name, kwargs, says", BAD, ids=[f"{n}-{s}" for n, _, s in BAD])
def test_bad_hyper_parameters_are_refused_as_torch_does(name, kwargs, says):
    w = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError):
        getattr(torch.optim, name)(w, **kwargs)
    with pytest.raises(ValueError, match=says) as error:
        getattr(ours, name)(w, **kwargs)
    assert "got" in str(error.value)  # says what came


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_non_numbers_are_refused(name):
    w = [torch.nn.Parameter(torch.zeros(2))]
    for bad in ("0.1", float("nan"), None):
        with pytest.raises(ValueError, match="learning rate"):
            getattr(ours, name)(w, lr=bad)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_parameters_without_gradient_are_left_alone_and_closure_is_called(name):
    used, unused = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = getattr(ours, name)([used, unused], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (used**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 3.0
    assert torch.equal(unused, torch.ones(3))
    assert (used < 1).all()


def test_source_rules_that_multiply_the_weight_are_not_what_we_do():
    """The update moves against the gradient: for w = 0 with a non-zero gradient, w changes
    (an update proportional to w, as some texts write it, would leave w = 0 forever)."""
    for name in ("Adagrad", "Adam", "AdamW"):
        w = torch.nn.Parameter(torch.zeros(3))
        opt = getattr(ours, name)([w], lr=0.1)
        w.grad = torch.tensor([1.0, -2.0, 0.5])
        opt.step()
        assert torch.equal(torch.sign(w.detach()), -torch.sign(w.grad)), name
