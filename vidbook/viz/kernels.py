"""kernels: hand-made 3D convolution kernels applied to a clip, and pictures of what they do.

A 3D kernel of shape (kT, kH, kW) slides over a clip's time and space axes. The kernels here are
designed by hand to make single ideas visible: a blur and edge detectors that look at one frame
(kT = 1), a temporal difference and a temporal average that look at one pixel over time
(kH = kW = 1), and *motion* kernels (3 x 3 x 3), an edge detector plus a temporal difference,
whose response to an edge moving one pixel per frame their way is twice their response to a
still edge, and zero for an edge moving the opposite way.

``apply_kernel(clip, kernel)`` filters the clip's brightness (the mean over colour channels) with
one kernel: no padding in time, replicate padding in space, so a (C, T, H, W) clip gives a
(T - kT + 1, H, W) response. ``kernel_gallery`` draws every kernel and its response as small
multiples (a static figure, for the website); ``kernel_explorer`` is the same as an ipywidgets
UI, for a live notebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from vidbook.checks import is_int
from vidbook.errors import BadValueError

_BINOMIAL = torch.tensor([1.0, 2.0, 1.0]) / 4  # smoothing taps
_DERIVATIVE = torch.tensor([-1.0, 0.0, 1.0]) / 2  # central difference, (x[+1] - x[-1]) / 2


def _motion(dx: int, dy: int) -> torch.Tensor:
    """(3, 3, 3) kernel for motion by (dx, dy), a unit step: right (1, 0), down (0, 1), ...

    The middle slice is an edge detector along the direction of motion s (brightness rising
    along s, smoothed across it); the outer slices subtract a temporal difference on the
    centre line: the response is about dI/ds - dI/dt at frame t + 1. An edge moving along s at
    v pixels per frame has dI/dt = -v dI/ds, so the response is (1 + v) dI/ds: double for
    v = 1, the edge alone for a still image (v = 0), nothing for v = -1 (the other way).
    """
    w = torch.zeros(3, 3, 3)
    if dx:
        w[1] = dx * torch.outer(_BINOMIAL, _DERIVATIVE)  # d/dx, smoothed over rows
        line = (slice(None), 1)  # the centre column
        w[0][line], w[2][line] = _BINOMIAL / 2, -_BINOMIAL / 2  # -(I[t+2] - I[t]) / 2
    else:
        w[1] = dy * torch.outer(_DERIVATIVE, _BINOMIAL)  # d/dy, smoothed over columns
        line = (1, slice(None))  # the centre row
        w[0][line], w[2][line] = _BINOMIAL / 2, -_BINOMIAL / 2
    return w


def _kernels() -> dict[str, torch.Tensor]:
    sobel_x = torch.outer(_BINOMIAL, _DERIVATIVE) * 2  # (3, 3), responds to vertical edges
    return {
        "identity": torch.ones(1, 1, 1),
        "blur": torch.outer(_BINOMIAL, _BINOMIAL)[None],  # (1, 3, 3)
        "edge_x": sobel_x[None],  # (1, 3, 3): brightness rising to the right
        "edge_y": sobel_x.T[None],  # (1, 3, 3): brightness rising downwards
        "blur_3d": torch.einsum("i,j,k->ijk", _BINOMIAL, _BINOMIAL, _BINOMIAL),  # (3, 3, 3)
        "temporal_diff": torch.tensor([-1.0, 1.0]).view(2, 1, 1),  # frame t+1 minus frame t
        "temporal_avg": torch.full((3, 1, 1), 1 / 3),
        "motion_right": _motion(1, 0),
        "motion_left": _motion(-1, 0),
        "motion_down": _motion(0, 1),
        "motion_up": _motion(0, -1),
    }


KERNEL_NAMES: tuple[str, ...] = tuple(_kernels())


def make_kernel(name: str) -> torch.Tensor:
    """The hand-made kernel ``name`` (one of ``KERNEL_NAMES``): a new (kT, kH, kW) float32 tensor."""
    if not isinstance(name, str) or name not in KERNEL_NAMES:
        raise BadValueError(f"unknown kernel {name!r}; choose one of {', '.join(KERNEL_NAMES)}")
    return _kernels()[name]


def _as_kernel(kernel: str | torch.Tensor, frames: int | None = None) -> torch.Tensor:
    """A kernel name or tensor -> checked (kT, kH, kW) float tensor."""
    if isinstance(kernel, str):
        return make_kernel(kernel)
    if not isinstance(kernel, torch.Tensor):
        raise BadValueError(
            f"kernel must be a name or a (kT, kH, kW) tensor, got {type(kernel).__name__}"
        )
    if kernel.ndim != 3 or kernel.numel() == 0:
        raise BadValueError(f"kernel must have shape (kT, kH, kW), got {tuple(kernel.shape)}")
    k_t, k_h, k_w = kernel.shape
    if k_h % 2 == 0 or k_w % 2 == 0:
        raise BadValueError(
            f"kernel height and width must be odd (the response keeps the frame size), got "
            f"shape {tuple(kernel.shape)}"
        )
    if frames is not None and k_t > frames:
        raise BadValueError(f"kernel spans {k_t} frames but the clip has only {frames}")
    if not kernel.is_floating_point() or not torch.isfinite(kernel).all():
        raise BadValueError("kernel must hold finite floating-point numbers")
    return kernel


def _brightness(clip: torch.Tensor) -> torch.Tensor:
    """(C, T, H, W) clip, C in (1, 3) -> (T, H, W) mean over channels, float."""
    if not isinstance(clip, torch.Tensor) or clip.ndim != 4 or clip.shape[0] not in (1, 3):
        got = (
            f"shape {tuple(clip.shape)}" if isinstance(clip, torch.Tensor) else type(clip).__name__
        )
        raise BadValueError(f"expected one clip of shape (C, T, H, W) with C in (1, 3), got {got}")
    return clip.detach().float().mean(dim=0)


def apply_kernel(clip: torch.Tensor, kernel: str | torch.Tensor) -> torch.Tensor:
    """Filter one clip's brightness with one 3D kernel: (C, T, H, W) -> (T - kT + 1, H, W).

    ``kernel`` is a name from ``KERNEL_NAMES`` or a (kT, kH, kW) tensor with odd kH and kW.
    The clip is reduced to its brightness (mean over C); time gets no padding (output frame t
    sees input frames t .. t + kT - 1), space gets replicate padding of kH // 2 and kW // 2
    (so a uniform region gives the same response up to the border). Like ``F.conv3d`` the
    kernel is not flipped: ``out[t, h, w] = sum_{i,j,k} kernel[i, j, k] * x[t+i, h+j-p_H, w+k-p_W]``
    with p_H = kH // 2, p_W = kW // 2 and x read at the nearest border pixel outside the frame.
    """
    x = _brightness(clip)  # (T, H, W)
    w = _as_kernel(kernel, frames=x.shape[0]).to(device=x.device, dtype=x.dtype)
    p_h, p_w = w.shape[1] // 2, w.shape[2] // 2
    x = F.pad(x[None, None], (p_w, p_w, p_h, p_h, 0, 0), mode="replicate")  # (1, 1, T, H', W')
    return F.conv3d(x, w[None, None])[0, 0]  # (T - kT + 1, H, W)


def response_energy(clip: torch.Tensor, kernel: str | torch.Tensor) -> float:
    """Mean squared response of ``apply_kernel(clip, kernel)``: how strongly the kernel fires."""
    return float(apply_kernel(clip, kernel).square().mean())


def _kernel_dict(kernels: Sequence[str] | Mapping[str, torch.Tensor] | None) -> dict:
    """Names or a name -> tensor mapping -> an ordered dict of checked kernels."""
    if kernels is None:
        kernels = KERNEL_NAMES
    if isinstance(kernels, Mapping):
        out = {str(name): _as_kernel(k) for name, k in kernels.items()}
    elif isinstance(kernels, Sequence) and not isinstance(kernels, str):
        out = {name: make_kernel(name) for name in kernels}
    else:
        raise BadValueError(
            f"kernels must be a list of names or a dict of name -> (kT, kH, kW) tensor, "
            f"got {type(kernels).__name__}"
        )
    if not out:
        raise BadValueError("kernels is empty: give at least one kernel")
    return out


def _show(ax, image: torch.Tensor, signed: bool | None, scale: float | None = None) -> None:
    """Draw a (H, W) map. ``signed=None``: an input frame, grey levels in [0, 1]; False: grey
    levels from 0 to ``scale``; True: red (positive) and blue (negative) around 0."""
    ax.set_xticks([])
    ax.set_yticks([])
    image = image.detach().cpu()
    scale = scale or float(image.abs().max()) or 1.0
    if signed is None:
        ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    elif signed:
        ax.imshow(image.numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    else:
        ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=scale, interpolation="nearest")


def _style(values: torch.Tensor) -> dict:
    """One colour style for all slices of a kernel or all frames of a response."""
    return {"signed": bool(values.min() < 0), "scale": float(values.abs().max()) or 1.0}


def draw_kernel_response(
    clip: torch.Tensor, kernel: str | torch.Tensor, frame: int = 0, name: str | None = None
):
    """One figure: the kT input frames that output frame ``frame`` sees, the kT kernel slices,
    and that output frame (red: positive, blue: negative; grey where nothing is negative).
    Returns the matplotlib Figure.

    clip: (C, T, H, W); kernel: name or (kT, kH, kW) tensor; ``frame`` in 0 .. T - kT.
    """
    import matplotlib.pyplot as plt

    x = _brightness(clip)
    w = _as_kernel(kernel, frames=x.shape[0])
    out = apply_kernel(clip, w)  # (T', H, W)
    if not is_int(frame) or not 0 <= frame < out.shape[0]:
        raise BadValueError(
            f"frame must be an int in 0..{out.shape[0] - 1} for a kernel spanning {w.shape[0]} "
            f"of {x.shape[0]} frames, got {frame!r}"
        )
    k_t = w.shape[0]
    fig, axes = plt.subplots(1, 2 * k_t + 1, figsize=(1.5 * (2 * k_t + 1), 1.9))
    for i in range(k_t):
        _show(axes[i], x[frame + i], signed=None)
        axes[i].set_title(f"input t={frame + i}", fontsize=8)
        _show(axes[k_t + i], w[i], **_style(w))
        axes[k_t + i].set_title(f"kernel slice {i}", fontsize=8)
    _show(axes[-1], out[frame], **_style(out))  # the colour scale of all output frames
    axes[-1].set_title(f"output t={frame}", fontsize=8)
    label = name if name is not None else (kernel if isinstance(kernel, str) else "kernel")
    fig.suptitle(
        f"{label}: kernel {tuple(w.shape)} (kT, kH, kW), response energy {out.square().mean():.2e}",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def kernel_gallery(
    clip: torch.Tensor,
    kernels: Sequence[str] | Mapping[str, torch.Tensor] | None = None,
    times: int = 4,
):
    """Small multiples of every kernel: its slices, then its response at ``times`` moments.

    The static counterpart of ``kernel_explorer`` (widgets are frozen on a static website).
    clip: (C, T, H, W); kernels: names, a dict name -> (kT, kH, kW) tensor, or None for all of
    ``KERNEL_NAMES``. The top row shows the input frames at the same moments. One row per
    kernel, response colours scaled per row (red positive, blue negative), its response energy
    on the left. Responses are drawn grey when never negative, else red (positive) and blue
    (negative). Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    x = _brightness(clip)
    chosen = _kernel_dict(kernels)
    for name, w in chosen.items():
        if w.shape[0] > x.shape[0]:
            raise BadValueError(f"kernel {name!r} spans {w.shape[0]} frames, the clip {x.shape[0]}")
    if not is_int(times) or times < 1:
        raise BadValueError(f"times must be a positive int, got {times!r}")
    k_max = max(w.shape[0] for w in chosen.values())
    t_out = x.shape[0] - k_max + 1  # moments every kernel has an output for
    moments = torch.linspace(0, t_out - 1, min(times, t_out)).round().long().tolist()
    cols, rows = k_max + len(moments), len(chosen) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.05 * cols + 1.2, 1.05 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(k_max):  # column headers in the input row
        axes[0, i].text(0.5, 0.1, f"kernel\nslice {i}", fontsize=8, ha="center")
    for c, t in enumerate(moments):
        ax = axes[0, k_max + c]
        ax.axis("on")
        _show(ax, x[t], signed=None)
        ax.set_title(f"input t={t}", fontsize=8)
    for r, (name, w) in enumerate(chosen.items(), start=1):
        out = apply_kernel(clip, w)
        for i in range(w.shape[0]):
            axes[r, i].axis("on")
            _show(axes[r, i], w[i], **_style(w))
        style = _style(out)
        for c, t in enumerate(moments):
            ax = axes[r, k_max + c]
            ax.axis("on")
            _show(ax, out[t], **style)
        axes[r, 0].text(
            -0.15,
            0.5,
            f"{name}\nE = {out.square().mean():.1e}",
            fontsize=8,
            ha="right",
            va="center",
            transform=axes[r, 0].transAxes,
        )
    fig.tight_layout()
    return fig


def kernel_explorer(
    clip: torch.Tensor, kernels: Sequence[str] | Mapping[str, torch.Tensor] | None = None
):
    """An ipywidgets UI: choose a kernel and an output frame, see ``draw_kernel_response``.

    clip: (C, T, H, W); kernels as in ``kernel_gallery``. Returns an ``ipywidgets.VBox``
    (a dropdown, a frame slider and the figure). Needs ipywidgets; without it raises
    ImportError. On a static website the widget is frozen: use ``kernel_gallery`` there.
    """
    try:
        import ipywidgets as widgets
    except ImportError as err:
        raise ImportError(
            "kernel_explorer needs ipywidgets (pip install ipywidgets); "
            "kernel_gallery(clip) draws the same kernels as a static figure without it"
        ) from err
    import matplotlib.pyplot as plt
    from IPython.display import display

    x = _brightness(clip)
    chosen = _kernel_dict(kernels)
    for name, w in chosen.items():
        if w.shape[0] > x.shape[0]:
            raise BadValueError(f"kernel {name!r} spans {w.shape[0]} frames, the clip {x.shape[0]}")
    names = list(chosen)
    choose = widgets.Dropdown(options=names, value=names[0], description="kernel")
    frame = widgets.IntSlider(
        value=0, min=0, max=x.shape[0] - chosen[names[0]].shape[0], description="output t"
    )
    out = widgets.Output()

    def redraw(_change=None) -> None:
        w = chosen[choose.value]
        frame.max = x.shape[0] - w.shape[0]  # the slider's value is clipped to the new range
        fig = draw_kernel_response(clip, w, frame=frame.value, name=choose.value)
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)

    choose.observe(redraw, names="value")
    frame.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([choose, frame]), out])
