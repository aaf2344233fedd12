"""conv: 2-D and 3-D convolution from the formula, with sliding windows and one einsum.

A convolution layer with weight ``w`` of shape (C_out, C_in, kT, kH, kW) computes, for every
output position (t, h, w),

    y[b, o, t, h, w] = bias[o] + sum over c, i, j, k of
                       w[o, c, i, j, k] * x_pad[b, c, s_T*t + d_T*i, s_H*h + d_H*j, s_W*w + d_W*k]

where ``x_pad`` is the input with ``p`` zeros added on both sides of every spatial axis, ``s`` is
the stride (how far the kernel moves between outputs) and ``d`` the dilation (the gap between
the kernel's taps). The kernel offsets (i, j, k) are what a dense or 1x1 formula leaves out: each
output mixes a whole neighbourhood in space and time, not a single position. Along an axis of
size n the kernel fits

    n_out = floor((n + 2p - d(k - 1) - 1) / s) + 1

times (``conv_output_size``). Like ``torch.nn.functional.conv3d``, this is a cross-correlation:
the kernel is not flipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from vidbook.checks import is_int
from vidbook.errors import BadValueError

IntOrTuple = int | Sequence[int]


def conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """How many outputs a kernel gives along one axis of ``size`` inputs.

    n_out = floor((n + 2p - d(k - 1) - 1) / s) + 1: the padded axis holds n + 2p inputs, one
    kernel placement spans d(k - 1) + 1 of them, and placements start every s inputs.
    """
    for name, value, least in [
        ("size", size, 1),
        ("kernel", kernel, 1),
        ("stride", stride, 1),
        ("padding", padding, 0),
        ("dilation", dilation, 1),
    ]:
        if not is_int(value) or value < least:
            raise BadValueError(f"{name} must be an int >= {least}, got {value!r}")
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * padding:
        raise BadValueError(
            f"kernel extent {span} (kernel {kernel}, dilation {dilation}) is larger than the "
            f"padded input {size + 2 * padding} (size {size}, padding {padding})"
        )
    return (size + 2 * padding - span) // stride + 1


def sliding_windows(
    x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> torch.Tensor:
    """Every window a kernel visits, as a view: (B, C, *spatial) -> (B, C, *out, *kernel).

    Along each spatial axis a window spans d(k - 1) + 1 inputs (``Tensor.unfold``, moving by the
    stride), of which every d-th is a tap of the kernel. Nothing is copied.
    """
    for axis, (k, s, d) in enumerate(zip(kernel, stride, dilation, strict=True)):
        x = x.unfold(2 + axis, d * (k - 1) + 1, s)  # a new last axis: one window's span
        x = x[..., ::d]  # keep the k taps
    return x


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> torch.Tensor:
    """2-D convolution: (B, C_in, H, W) -> (B, C_out, H', W'); what ``F.conv2d`` computes.

    weight: (C_out, C_in / groups, kH, kW), bias: (C_out,).
    y[b, o, h, w] = bias[o] + sum_{c, i, j} weight[o, c, i, j]
                    * x_pad[b, c, s_H h + d_H i, s_W w + d_W j],
    with H' = floor((H + 2p_H - d_H(kH - 1) - 1) / s_H) + 1 and likewise W'.
    Input channels are split into ``groups`` groups; each group's outputs see only its inputs.
    """
    stride, padding, dilation = _check_conv(
        "conv2d", x, weight, bias, stride, padding, dilation, groups
    )
    (p_h, p_w), g = padding, groups
    x = F.pad(x, (p_w, p_w, p_h, p_h))  # (B, C_in, H + 2p_H, W + 2p_W)
    # (B, C_in, H', W', kH, kW): one window per output position
    patches = sliding_windows(x, weight.shape[2:], stride, dilation)
    patches = patches.unflatten(1, (g, -1))  # (B, G, C_in/G, H', W', kH, kW)
    w = weight.unflatten(0, (g, -1))  # (G, C_out/G, C_in/G, kH, kW)
    # multiply each window by each kernel, sum over input channels and kernel offsets
    y = torch.einsum("bgchwij,gocij->bgohw", patches, w)  # (B, G, C_out/G, H', W')
    y = y.flatten(1, 2)  # (B, C_out, H', W')
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def conv3d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> torch.Tensor:
    """3-D convolution over time and space: (B, C_in, T, H, W) -> (B, C_out, T', H', W').

    weight: (C_out, C_in / groups, kT, kH, kW), bias: (C_out,); what ``F.conv3d`` computes.
    y[b, o, t, h, w] = bias[o] + sum_{c, i, j, k} weight[o, c, i, j, k]
                       * x_pad[b, c, s_T t + d_T i, s_H h + d_H j, s_W w + d_W k],
    with T' = floor((T + 2p_T - d_T(kT - 1) - 1) / s_T) + 1 and likewise H', W'.
    Input channels are split into ``groups`` groups; each group's outputs see only its inputs.
    """
    stride, padding, dilation = _check_conv(
        "conv3d", x, weight, bias, stride, padding, dilation, groups
    )
    (p_t, p_h, p_w), g = padding, groups
    x = F.pad(x, (p_w, p_w, p_h, p_h, p_t, p_t))  # (B, C_in, T + 2p_T, H + 2p_H, W + 2p_W)
    # (B, C_in, T', H', W', kT, kH, kW): one window per output position
    patches = sliding_windows(x, weight.shape[2:], stride, dilation)
    patches = patches.unflatten(1, (g, -1))  # (B, G, C_in/G, T', H', W', kT, kH, kW)
    w = weight.unflatten(0, (g, -1))  # (G, C_out/G, C_in/G, kT, kH, kW)
    # multiply each window by each kernel, sum over input channels and kernel offsets
    y = torch.einsum("bgcthwijk,gocijk->bgothw", patches, w)  # (B, G, C_out/G, T', H', W')
    y = y.flatten(1, 2)  # (B, C_out, T', H', W')
    return y if bias is None else y + bias.view(1, -1, 1, 1, 1)


# --- argument checks, shared with pool.py ----------------------------------------------------

_LAYOUTS = {2: "(B, C, H, W)", 3: "(B, C, T, H, W)"}
_AXES = {2: "HW", 3: "THW"}


def _as_tuple(value: IntOrTuple, n: int, what: str, least: int, name: str) -> tuple[int, ...]:
    """An int or a sequence of n ints, each >= least, as a tuple of n ints."""
    values = (value,) * n if is_int(value) else value
    ok = isinstance(values, Sequence) and len(values) == n
    if not ok or not all(is_int(v) for v in values):
        raise BadValueError(f"{name}: {what} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < least for v in values):
        raise BadValueError(f"{name}: {what} must be >= {least}, got {value!r}")
    return tuple(values)


def _check_input(name: str, x: torch.Tensor, n: int) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != n + 2:
        got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise BadValueError(f"{name} expects input {_LAYOUTS[n]}, got {got}")


def _check_fits(
    name: str,
    x: torch.Tensor,
    kernel: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
) -> None:
    """Raise unless every kernel fits in its padded input axis."""
    for axis, size, k, p, d in zip(
        _AXES[len(kernel)], x.shape[2:], kernel, padding, dilation, strict=True
    ):
        span = d * (k - 1) + 1
        if span > size + 2 * p:
            raise BadValueError(
                f"{name}: kernel extent {span} along {axis} (kernel {k}, dilation {d}) is larger "
                f"than the padded input {size + 2 * p} (size {size}, padding {p})"
            )


def _check_conv(
    name: str,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: IntOrTuple,
    padding: IntOrTuple,
    dilation: IntOrTuple,
    groups: int,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Check a convolution's arguments; return stride, padding and dilation as tuples."""
    n = 3 if name == "conv3d" else 2
    _check_input(name, x, n)
    layout = "(C_out, C_in/groups, kT, kH, kW)" if n == 3 else "(C_out, C_in/groups, kH, kW)"
    if not isinstance(weight, torch.Tensor) or weight.ndim != n + 2:
        got = (
            f"shape {tuple(weight.shape)}"
            if isinstance(weight, torch.Tensor)
            else type(weight).__name__
        )
        raise BadValueError(f"{name} expects weight {layout}, got {got}")
    if not is_int(groups) or groups < 1:
        raise BadValueError(f"{name}: groups must be an int >= 1, got {groups!r}")
    c_in, c_out = x.shape[1], weight.shape[0]
    if c_in % groups or c_out % groups:
        raise BadValueError(
            f"{name}: groups={groups} must divide both the input channels ({c_in}) and the "
            f"output channels ({c_out})"
        )
    if weight.shape[1] * groups != c_in:
        raise BadValueError(
            f"{name}: input has {c_in} channels but weight {tuple(weight.shape)} with "
            f"groups={groups} expects {weight.shape[1] * groups}"
        )
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.shape != (c_out,)):
        got = (
            f"shape {tuple(bias.shape)}" if isinstance(bias, torch.Tensor) else type(bias).__name__
        )
        raise BadValueError(
            f"{name} expects bias of shape ({c_out},) (one per output channel), got {got}"
        )
    stride = _as_tuple(stride, n, "stride", 1, name)
    padding = _as_tuple(padding, n, "padding", 0, name)
    dilation = _as_tuple(dilation, n, "dilation", 1, name)
    _check_fits(name, x, tuple(weight.shape[2:]), padding, dilation)
    return stride, padding, dilation
