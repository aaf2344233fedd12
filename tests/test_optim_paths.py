"""vidbook.viz.optim_paths: test functions, trajectories of any optimizer, pictures, bad input."""

from __future__ import annotations

import math
import sys

import matplotlib
import pytest
import torch

import vidbook.optim as ours
from vidbook.viz import optim_paths as op

matplotlib.use("Agg")


def test_known_minima_and_values():
    assert op.rosenbrock(torch.tensor([1.0, 1.0])).item() == 0.0
    assert op.quadratic(torch.tensor([0.0, 0.0])).item() == 0.0
    assert op.saddle(torch.tensor([0.0, math.sqrt(2.0)], dtype=torch.float64)).item() == (
        pytest.approx(-1.0, abs=1e-12)
    )
    # every listed minimum is a stationary point with the listed value, and no lower point is
    # on a fine grid
    for surf in op.SURFACES.values():
        for point in surf.minima:
            w = torch.tensor(point, dtype=torch.float64, requires_grad=True)
            value = surf.fn(w)
            (grad,) = torch.autograd.grad(value, w)
            assert value.item() == pytest.approx(surf.min_value, abs=1e-12), surf.name
            assert grad.abs().max().item() < 1e-12, surf.name
        gx, gy, heights = op._grid(surf, 301)
        assert heights.min().item() >= surf.min_value - 1e-12, surf.name


def test_functions_work_on_batches_of_points():
    w = torch.randn(4, 5, 2)
    for surf in op.SURFACES.values():
        assert surf.fn(w).shape == (4, 5)
    # the saddle is a saddle: a minimum along w1, a maximum along w2 at the origin
    hessian = torch.autograd.functional.hessian(op.saddle, torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(
        hessian, torch.tensor([[2.0, 0.0], [0.0, -2.0]], dtype=torch.float64)
    )


def test_gradient_descent_on_the_quadratic_follows_the_closed_form():
    # w_{t+1} = (1 - lr * lambda) w_t per coordinate, lambda = 1 and 20
    lr, steps = 0.05, 60
    path = op.trajectory(lambda p: ours.SGD(p, lr=lr), "quadratic", (-4.0, 1.0), steps)
    assert path.shape == (steps + 1, 2) and path.dtype == torch.float64
    t = torch.arange(steps + 1, dtype=torch.float64)
    expected = torch.stack([-4.0 * (1 - lr) ** t, 1.0 * (1 - 20 * lr) ** t], dim=1)
    torch.testing.assert_close(path, expected, rtol=1e-12, atol=1e-12)
    # and reaches the minimum with enough steps
    far = op.trajectory(lambda p: ours.SGD(p, lr=lr), "quadratic", steps=600)
    assert far[-1].abs().max().item() < 1e-9


def test_gradient_descent_past_the_stability_limit_diverges():
    # lr > 2 / 20 makes the steep coordinate grow by |1 - 20 lr| > 1 every step
    path = op.trajectory(lambda p: torch.optim.SGD(p, lr=0.11), "quadratic", steps=200)
    assert op.diverged(path)
    first_nan = int(torch.isnan(path[:, 1]).nonzero()[0])
    assert first_nan == math.ceil(math.log(1e6) / math.log(1.2))  # |w2| = 1.2^t passes 1e6
    assert torch.isfinite(path[0]).all() and torch.isnan(path[-1]).all()
    assert not op.diverged(op.trajectory(lambda p: torch.optim.SGD(p, lr=0.09), "quadratic"))


@pytest.mark.parametrize("name", sorted(op.SURFACES))
@pytest.mark.parametrize(
    "pair",
    [
        (ours.Adam, torch.optim.Adam, dict(lr=0.05)),
        (ours.AdamW, torch.optim.AdamW, dict(lr=0.05, weight_decay=0.1)),
        (ours.SGD, torch.optim.SGD, dict(lr=1e-3, momentum=0.9, nesterov=True)),
        (ours.Adagrad, torch.optim.Adagrad, dict(lr=0.3)),
        (ours.RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.5)),
    ],
    ids=lambda pair: pair[0].__name__ if isinstance(pair, tuple) else None,
)
def test_vidbook_optimizers_trace_the_same_paths_as_torch(name, pair):
    mine, theirs, kw = pair
    a = op.trajectory(lambda p: mine(p, **kw), name, steps=150)
    b = op.trajectory(lambda p: theirs(p, **kw), name, steps=150)
    assert not op.diverged(b)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert (a[-1] - a[0]).norm() > 0.1  # it moved


def test_adam_finds_rosenbrocks_minimum_and_escapes_the_saddle():
    path = op.trajectory(lambda p: ours.Adam(p, lr=0.02), "rosenbrock", steps=3000)
    assert (path[-1] - torch.tensor([1.0, 1.0], dtype=torch.float64)).norm() < 0.05
    path = op.trajectory(lambda p: ours.Adam(p, lr=0.05), "saddle", steps=400)
    assert abs(path[-1, 1].item()) == pytest.approx(math.sqrt(2.0), abs=0.05)
    assert abs(path[-1, 0].item()) < 0.05


def test_a_custom_function_needs_a_start():
    path = op.trajectory(lambda p: ours.SGD(p, lr=0.1), lambda w: (w**2).sum(), (1.0, 2.0), 5)
    torch.testing.assert_close(path[-1], torch.tensor([1.0, 2.0], dtype=torch.float64) * 0.8**5)
    with pytest.raises(ValueError, match="start is required"):
        op.trajectory(lambda p: ours.SGD(p, lr=0.1), lambda w: (w**2).sum())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(fn="himmelblau"), "unknown surface"),
        (dict(fn=3), "fn must be"),
        (dict(start=(1.0, 2.0, 3.0)), "two numbers"),
        (dict(start=[[1.0, 2.0]]), "two numbers"),
        (dict(start=(math.nan, 0.0)), "finite"),
        (dict(steps=-1), "steps"),
        (dict(steps=2.5), "steps"),
        (dict(limit=0), "limit"),
        (dict(optimizer_factory=lambda p: "sgd"), "torch.optim.Optimizer"),
        (dict(fn=lambda w: w * 2, start=(0.0, 1.0)), "scalar"),
    ],
)
def test_bad_input_raises_value_error(kwargs, message):
    args = dict(optimizer_factory=lambda p: ours.SGD(p, lr=0.1), fn="quadratic")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        op.trajectory(**args)


def test_plot_paths_and_gallery_draw():
    import matplotlib.pyplot as plt

    optimizers = {
        "SGD": lambda p, lr: ours.SGD(p, lr=lr),
        "Adam": lambda p, lr: ours.Adam(p, lr=lr),
    }
    paths = op.paths_at(optimizers, "rosenbrock", lr=0.01, steps=20)
    assert set(paths) == {"SGD", "Adam"} and op.diverged(paths["SGD"])  # 0.01 is too much for SGD
    ax = op.plot_paths(paths, "rosenbrock")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["SGD (diverged)", "Adam"]
    plt.close(ax.figure)
    fig = op.path_gallery(optimizers, ["quadratic", "saddle"], lrs=[1e-3, 1e-2, 1e-1], steps=20)
    assert len(fig.axes) == 6
    plt.close(fig)
    with pytest.raises(ValueError, match="\\(n, 2\\)"):
        op.plot_paths({"bad": torch.zeros(5, 3)}, "quadratic")
    with pytest.raises(ValueError, match="unknown surface"):
        op.plot_paths({}, "nope")
    with pytest.raises(ValueError, match="learning rates"):
        op.path_gallery(optimizers, "quadratic", lrs=[0.0])
    with pytest.raises(ValueError, match="non-empty mapping"):
        op.path_gallery({}, "quadratic", lrs=[0.1])


def test_explorer_builds_a_widget_or_says_what_is_missing(monkeypatch):
    optimizers = {"Adam": lambda p, lr: ours.Adam(p, lr=lr)}
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="path_gallery"):
            op.path_explorer(optimizers)
        return
    ui = op.path_explorer(optimizers, "quadratic", lr=0.1, steps=20)
    assert type(ui).__name__ == "VBox"
    with pytest.raises(ValueError, match="lr_range"):
        op.path_explorer(optimizers, lr=10.0)
    with pytest.raises(ValueError, match="lr_range"):
        op.path_explorer(optimizers, lr=0.1, lr_range=(1.0, 0.01))
    with pytest.raises(ValueError, match="steps"):
        op.path_explorer(optimizers, steps=5)
    with pytest.raises(ValueError, match="unknown surface"):
        op.path_explorer(optimizers, surface="himmelblau")
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # as if it were not installed
    with pytest.raises(ImportError, match="pip install ipywidgets"):
        op.path_explorer(optimizers)
