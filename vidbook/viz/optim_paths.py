"""Optimizer paths on two-dimensional loss surfaces: test functions, trajectories, pictures.

A loss surface here is a function of two weights, ``f(w) -> loss`` for ``w`` of shape ``(..., 2)``
(written with torch operations, so autograd gives its gradient). Three classic ones show what an
optimizer does with a landscape:

- ``"quadratic"``: an ill-conditioned bowl ``(w1^2 + 20 w2^2) / 2`` — steep across, flat along
  the valley; gradient descent zig-zags across it and crawls along it.
- ``"rosenbrock"``: ``(1 - w1)^2 + 100 (w2 - w1^2)^2``, a curved, flat-bottomed valley with
  its minimum 0 at (1, 1).
- ``"saddle"``: ``w1^2 - w2^2 + w2^4 / 4``, a saddle point at (0, 0) between two minima
  (0, +-sqrt 2) of value -1; started near the saddle's ridge, an optimizer must first notice the
  tiny gradient that leads off it.

:func:`trajectory` runs any ``torch.optim.Optimizer`` (``vidbook.optim`` or ``torch.optim``) on
them; :func:`plot_paths` draws contours and paths; :func:`path_explorer` is an ipywidgets UI with
a learning-rate slider and :func:`path_gallery` its static counterpart (small multiples over
several learning rates) for the website, where widgets are frozen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from vidbook.checks import is_int, is_real
from vidbook.errors import BadValueError

Loss2D = Callable[[torch.Tensor], torch.Tensor]
# optimizer_factory(params) -> Optimizer, e.g. lambda params: torch.optim.Adam(params, lr=0.1)
OptimizerFactory = Callable[[list[torch.Tensor]], torch.optim.Optimizer]
# for the explorer and the gallery: make(params, lr) -> Optimizer
LrOptimizerFactory = Callable[[list[torch.Tensor], float], torch.optim.Optimizer]


def quadratic(w: torch.Tensor) -> torch.Tensor:
    """The ill-conditioned bowl ``(w1^2 + 20 w2^2) / 2``: ``w`` (..., 2) -> (...).

    Its Hessian is diag(1, 20): curvature 20 times larger across the valley than along it.
    """
    return 0.5 * (w[..., 0] ** 2 + 20.0 * w[..., 1] ** 2)


def rosenbrock(w: torch.Tensor) -> torch.Tensor:
    """Rosenbrock's valley ``(1 - w1)^2 + 100 (w2 - w1^2)^2``: ``w`` (..., 2) -> (...)."""
    return (1.0 - w[..., 0]) ** 2 + 100.0 * (w[..., 1] - w[..., 0] ** 2) ** 2


def saddle(w: torch.Tensor) -> torch.Tensor:
    """A saddle at (0, 0) between minima (0, +-sqrt 2) of value -1: ``w1^2 - w2^2 + w2^4 / 4``.

    ``w`` (..., 2) -> (...).
    """
    return w[..., 0] ** 2 - w[..., 1] ** 2 + 0.25 * w[..., 1] ** 4


@dataclass(frozen=True)
class Surface:
    """A named test function with where to start, where its minima are and what to draw."""

    name: str
    fn: Loss2D
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    min_value: float
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    steps: int = 100  # enough steps for a good optimizer to get close to a minimum


SURFACES: dict[str, Surface] = {
    "quadratic": Surface("quadratic", quadratic, (-4.0, 1.0), ((0.0, 0.0),), 0.0, (-5, 2), (-2, 2)),
    "rosenbrock": Surface(
        "rosenbrock", rosenbrock, (-1.2, 1.0), ((1.0, 1.0),), 0.0, (-2.0, 2.0), (-1.0, 3.0), 300
    ),
    "saddle": Surface(
        "saddle",
        saddle,
        (-2.0, 0.01),
        ((0.0, math.sqrt(2.0)), (0.0, -math.sqrt(2.0))),
        -1.0,
        (-2.5, 2.5),
        (-2.2, 2.2),
    ),
}


def get_surface(surface: str | Surface) -> Surface:
    """The :class:`Surface` called ``surface`` (or ``surface`` itself); ValueError otherwise."""
    if isinstance(surface, Surface):
        return surface
    if not isinstance(surface, str) or surface not in SURFACES:
        raise BadValueError(f"unknown surface {surface!r}; valid surfaces are {sorted(SURFACES)}")
    return SURFACES[surface]


def _as_loss(fn: str | Surface | Loss2D) -> Loss2D:
    if isinstance(fn, str | Surface):
        return get_surface(fn).fn
    if not callable(fn):
        raise BadValueError(f"fn must be a surface name or a function of w (2,), got {fn!r}")
    return fn


def _as_point(start, name: str = "start") -> torch.Tensor:
    point = torch.as_tensor(start, dtype=torch.float64).detach().clone()
    if point.shape != (2,):
        raise BadValueError(f"{name} must be two numbers (w1, w2), got shape {tuple(point.shape)}")
    if not torch.isfinite(point).all():
        raise BadValueError(f"{name} must be finite, got {point.tolist()}")
    return point


def trajectory(
    optimizer_factory: OptimizerFactory,
    fn: str | Surface | Loss2D,
    start: Sequence[float] | torch.Tensor | None = None,
    steps: int | None = None,
    limit: float = 1e6,
) -> torch.Tensor:
    """The weights after 0, 1, ..., ``steps`` optimizer steps on ``fn``: a (steps + 1, 2) tensor.

    ``optimizer_factory([w])`` must return a ``torch.optim.Optimizer`` over the single float64
    parameter ``w`` (2,), e.g. ``lambda p: vidbook.optim.Adam(p, lr=0.1)``. ``fn`` is a surface
    name (``"quadratic"``, ``"rosenbrock"``, ``"saddle"``), a :class:`Surface`, or a function
    mapping ``w`` (2,) to a scalar loss. ``start`` and ``steps`` default to the surface's (100
    steps for a function). Each step is
    ``zero_grad``, ``fn(w).backward()``, ``step()``. Once a weight is non-finite or larger than
    ``limit`` in size (the optimizer diverged), that row and the remaining rows are nan.
    """
    loss = _as_loss(fn)
    if start is None:
        if not isinstance(fn, str | Surface):
            raise BadValueError("start is required when fn is a function, not a surface name")
        start = get_surface(fn).start
    w0 = _as_point(start)
    if steps is None:
        steps = get_surface(fn).steps if isinstance(fn, str | Surface) else 100
    if not is_int(steps) or steps < 0:
        raise BadValueError(f"steps must be an int >= 0, got {steps!r}")
    if not isinstance(limit, int | float) or not limit > 0:
        raise BadValueError(f"limit must be a number > 0, got {limit!r}")
    w = w0.clone().requires_grad_()
    optimizer = optimizer_factory([w])
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise BadValueError(
            f"optimizer_factory must return a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    path = torch.full((steps + 1, 2), math.nan, dtype=torch.float64)
    path[0] = w0
    for i in range(1, steps + 1):
        optimizer.zero_grad()
        value = loss(w)
        if value.ndim != 0:
            raise BadValueError(f"fn must return a scalar loss, got shape {tuple(value.shape)}")
        value.backward()
        optimizer.step()
        if not torch.isfinite(w).all() or w.abs().max() > limit:
            break
        path[i] = w.detach()
    return path


def diverged(path: torch.Tensor) -> bool:
    """True if the path (n, 2) left the finite numbers (its last row is nan)."""
    return bool(torch.isnan(path[-1]).any())


def _grid(surface: Surface, n: int = 200) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    xs = torch.linspace(*surface.xlim, n, dtype=torch.float64)
    ys = torch.linspace(*surface.ylim, n, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    with torch.no_grad():
        heights = surface.fn(torch.stack([gx, gy], dim=-1))
    return gx, gy, heights


def _levels(surface: Surface, heights: torch.Tensor, count: int = 14) -> torch.Tensor:
    """Contour levels spaced geometrically above the minimum (valleys get more lines)."""
    above = heights - surface.min_value
    top = float(above.max())
    low = max(top * 1e-4, 1e-3)
    return surface.min_value + torch.logspace(math.log10(low), math.log10(top), count)


def plot_paths(
    paths: Mapping[str, torch.Tensor],
    surface: str | Surface,
    ax=None,
    title: str | None = None,
    colors: Mapping[str, str] | None = None,
    legend: bool = True,
):
    """Contours of ``surface`` with one line per path (``{name: (n, 2) tensor}``).

    The start is a black dot, the minima black stars; a path that diverged is marked
    "(diverged)" in the legend. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    surf = get_surface(surface)
    if not isinstance(paths, Mapping):
        raise BadValueError("paths must be a mapping {name: (n, 2) tensor}")
    for name, path in paths.items():
        if not isinstance(path, torch.Tensor) or path.ndim != 2 or path.shape[1] != 2:
            shape = tuple(path.shape) if isinstance(path, torch.Tensor) else type(path).__name__
            raise BadValueError(f"path {name!r} must be an (n, 2) tensor, got {shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.2))
    gx, gy, heights = _grid(surf)
    ax.contour(gx, gy, heights, levels=_levels(surf, heights), colors="0.7", linewidths=0.6)
    for name, path in paths.items():
        label = f"{name} (diverged)" if diverged(path) else name
        color = colors.get(name) if colors else None
        ax.plot(path[:, 0], path[:, 1], "-", marker=".", ms=2, lw=1.2, label=label, color=color)
    first = next(iter(paths.values()), None)
    start = first[0] if first is not None else torch.tensor(surf.start)
    ax.plot(float(start[0]), float(start[1]), "ko", ms=5)
    for point in surf.minima:
        ax.plot(*point, "k*", ms=11)
    ax.set_xlim(*surf.xlim)
    ax.set_ylim(*surf.ylim)
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_title(title if title is not None else surf.name, fontsize=10)
    if legend and paths:
        ax.legend(fontsize=7, loc="best")
    return ax


def _check_optimizers(optimizers: Mapping[str, LrOptimizerFactory]) -> None:
    if not isinstance(optimizers, Mapping) or not optimizers:
        raise BadValueError("optimizers must be a non-empty mapping {name: make(params, lr)}")
    for name, make in optimizers.items():
        if not callable(make):
            raise BadValueError(f"optimizers[{name!r}] must be a function make(params, lr)")


def _check_lr(lr: float) -> None:
    if not is_real(lr) or not (0 < lr < math.inf):
        raise BadValueError(f"learning rates must be finite numbers > 0, got {lr!r}")


def paths_at(
    optimizers: Mapping[str, LrOptimizerFactory],
    surface: str | Surface,
    lr: float,
    steps: int | None = None,
) -> dict[str, torch.Tensor]:
    """``{name: trajectory}`` of every optimizer ``make(params, lr)`` on ``surface`` at ``lr``
    (``steps`` defaults to the surface's)."""
    _check_optimizers(optimizers)
    _check_lr(lr)
    surf = get_surface(surface)
    return {
        name: trajectory(lambda params, make=make: make(params, lr), surf, surf.start, steps)
        for name, make in optimizers.items()
    }


def _colors(names: Iterable[str]) -> dict[str, str]:
    return {name: f"C{i % 10}" for i, name in enumerate(names)}


def path_gallery(
    optimizers: Mapping[str, LrOptimizerFactory],
    surfaces: str | Surface | Sequence[str | Surface],
    lrs: Sequence[float],
    steps: int | None = None,
):
    """Small multiples: one row per surface, one column per learning rate, every optimizer in
    each panel — the static counterpart of :func:`path_explorer`. ``steps`` defaults to each
    surface's. Returns the Figure."""
    import matplotlib.pyplot as plt

    _check_optimizers(optimizers)
    if isinstance(surfaces, str | Surface):
        surfaces = [surfaces]
    surfs = [get_surface(s) for s in surfaces]
    lrs = list(lrs)
    if not surfs or not lrs:
        raise BadValueError("path_gallery needs at least one surface and one learning rate")
    for lr in lrs:
        _check_lr(lr)
    colors = _colors(optimizers)
    fig, axes = plt.subplots(
        len(surfs), len(lrs), figsize=(3.3 * len(lrs), 2.9 * len(surfs)), squeeze=False
    )
    for r, surf in enumerate(surfs):
        for c, lr in enumerate(lrs):
            paths = paths_at(optimizers, surf, lr, steps)
            plot_paths(
                paths,
                surf,
                ax=axes[r, c],
                title=f"{surf.name}, lr={lr:g}",
                colors=colors,
                legend=False,
            )
            if c:
                axes[r, c].set_ylabel("")
    handles = [plt.Line2D([], [], color=colors[name], lw=2) for name in optimizers]
    fig.legend(handles, list(optimizers), loc="lower center", ncol=len(optimizers), fontsize=8)
    fig.tight_layout(rect=(0, 0.06 if len(surfs) == 1 else 0.03, 1, 1))
    return fig


def path_explorer(
    optimizers: Mapping[str, LrOptimizerFactory],
    surface: str = "rosenbrock",
    lr: float = 1e-2,
    lr_range: tuple[float, float] = (1e-4, 1.0),
    steps: int | None = None,
):
    """An ipywidgets UI: a surface menu, a learning-rate slider (log scale) and a steps slider;
    the figure shows every optimizer's path at that learning rate.

    ``optimizers``: ``{name: make(params, lr)}``; ``surface``: a name from ``SURFACES``;
    ``steps`` (10 to 1000) starts at the surface's number of steps. Returns an
    ``ipywidgets.VBox``. Needs ipywidgets (ImportError otherwise); on a static website use
    :func:`path_gallery`.
    """
    try:
        import ipywidgets as widgets
    except ImportError as err:
        raise ImportError(
            "path_explorer needs ipywidgets (pip install ipywidgets); path_gallery(...) draws "
            "the same paths at several learning rates as a static figure without it"
        ) from err
    import matplotlib.pyplot as plt
    from IPython.display import display

    _check_optimizers(optimizers)
    if not isinstance(surface, str):
        raise BadValueError(f"path_explorer takes a surface name from {sorted(SURFACES)}")
    steps = get_surface(surface).steps if steps is None else steps
    if not is_int(steps) or not 10 <= steps <= 1000:
        raise BadValueError(f"steps must be an int between 10 and 1000, got {steps!r}")
    lo, hi = lr_range
    _check_lr(lo)
    _check_lr(hi)
    if not lo < hi:
        raise BadValueError(f"lr_range must be (low, high) with low < high, got {lr_range}")
    if not lo <= lr <= hi:
        raise BadValueError(f"lr={lr!r} must lie in lr_range={lr_range}")
    choose = widgets.Dropdown(options=sorted(SURFACES), value=surface, description="surface")
    rate = widgets.FloatLogSlider(
        value=lr,
        base=10,
        min=math.log10(lo),
        max=math.log10(hi),
        step=0.05,
        description="learning rate",
        readout_format=".2g",
        continuous_update=False,
    )
    count = widgets.IntSlider(
        value=steps,
        min=10,
        max=1000,
        step=10,
        description="steps",
        continuous_update=False,
    )
    out = widgets.Output()
    colors = _colors(optimizers)

    def redraw(_change=None) -> None:
        paths = paths_at(optimizers, choose.value, rate.value, count.value)
        fig, ax = plt.subplots(figsize=(6, 4.5))
        plot_paths(
            paths, choose.value, ax=ax, title=f"{choose.value}, lr={rate.value:.2g}", colors=colors
        )
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)

    for widget in (choose, rate, count):
        widget.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([choose, rate, count]), out])
