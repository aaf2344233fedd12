"""pool: max and average pooling from the formula, over the same sliding windows as conv.

Pooling slides a kernel over every channel separately and keeps one number per window:

    max:      y[b, c, t, h, w] = max  over (i, j, k) of x_pad[b, c, s_T t + i, s_H h + j, s_W w + k]
    average:  y[b, c, t, h, w] = mean over (i, j, k) of x_pad[b, c, s_T t + i, s_H h + j, s_W w + k]

The stride defaults to the kernel size (windows side by side, no overlap), so a 2x2x2 pool
halves time, height and width. Max pooling pads with -inf (a padded cell never wins); average
pooling pads with zeros and divides by the full kernel volume, padded cells included (PyTorch's
default, ``count_include_pad=True``). Output sizes follow ``conv_output_size``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vidbook.errors import BadValueError
from vidbook.scratch.conv import IntOrTuple, _as_tuple, _check_fits, _check_input, sliding_windows


def max_pool2d(
    x: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H', W'): the largest value in each window; as ``F.max_pool2d``.

    y[b, c, h, w] = max_{i, j} x_pad[b, c, s_H h + d_H i, s_W w + d_W j], x padded with -inf.
    """
    kernel, stride, (p_h, p_w), dilation = _check_pool(
        "max_pool2d", x, kernel_size, stride, padding, dilation, n=2
    )
    x = F.pad(x, (p_w, p_w, p_h, p_h), value=-math.inf)  # (B, C, H + 2p_H, W + 2p_W)
    windows = sliding_windows(x, kernel, stride, dilation)  # (B, C, H', W', kH, kW)
    return windows.flatten(-2).amax(dim=-1)  # (B, C, H', W')


def max_pool3d(
    x: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T', H', W'): the largest value in each window; as ``F.max_pool3d``.

    y[b, c, t, h, w] = max_{i, j, k} x_pad[b, c, s_T t + d_T i, s_H h + d_H j, s_W w + d_W k],
    x padded with -inf.
    """
    kernel, stride, (p_t, p_h, p_w), dilation = _check_pool(
        "max_pool3d", x, kernel_size, stride, padding, dilation, n=3
    )
    x = F.pad(x, (p_w, p_w, p_h, p_h, p_t, p_t), value=-math.inf)  # (B, C, T + 2p_T, ...)
    windows = sliding_windows(x, kernel, stride, dilation)  # (B, C, T', H', W', kT, kH, kW)
    return windows.flatten(-3).amax(dim=-1)  # (B, C, T', H', W')


def avg_pool2d(
    x: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H', W'): the mean of each window; as ``F.avg_pool2d``.

    y[b, c, h, w] = (1 / (kH kW)) sum_{i, j} x_pad[b, c, s_H h + i, s_W w + j], x padded with 0.
    """
    kernel, stride, (p_h, p_w), dilation = _check_pool(
        "avg_pool2d", x, kernel_size, stride, padding, 1, n=2
    )
    x = F.pad(x, (p_w, p_w, p_h, p_h))  # (B, C, H + 2p_H, W + 2p_W), zeros
    windows = sliding_windows(x, kernel, stride, dilation)  # (B, C, H', W', kH, kW)
    return windows.flatten(-2).mean(dim=-1)  # (B, C, H', W'): padded zeros count too


def avg_pool3d(
    x: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T', H', W'): the mean of each window; as ``F.avg_pool3d``.

    y[b, c, t, h, w] = (1 / (kT kH kW)) sum_{i, j, k} x_pad[b, c, s_T t + i, s_H h + j, s_W w + k],
    x padded with 0.
    """
    kernel, stride, (p_t, p_h, p_w), dilation = _check_pool(
        "avg_pool3d", x, kernel_size, stride, padding, 1, n=3
    )
    x = F.pad(x, (p_w, p_w, p_h, p_h, p_t, p_t))  # (B, C, T + 2p_T, H + 2p_H, W + 2p_W), zeros
    windows = sliding_windows(x, kernel, stride, dilation)  # (B, C, T', H', W', kT, kH, kW)
    return windows.flatten(-3).mean(dim=-1)  # (B, C, T', H', W'): padded zeros count too


def _check_pool(
    name: str,
    x: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    padding: IntOrTuple,
    dilation: IntOrTuple,
    n: int,
) -> tuple[tuple[int, ...], ...]:
    """Check a pooling's arguments; return kernel, stride, padding and dilation as tuples."""
    _check_input(name, x, n)
    kernel = _as_tuple(kernel_size, n, "kernel_size", 1, name)
    stride = kernel if stride is None else _as_tuple(stride, n, "stride", 1, name)
    padding = _as_tuple(padding, n, "padding", 0, name)
    dilation = _as_tuple(dilation, n, "dilation", 1, name)
    if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        # Then no window is padding alone (PyTorch's rule too).
        raise BadValueError(
            f"{name}: padding must be at most half the kernel size, got padding {padding} "
            f"for kernel_size {kernel}"
        )
    _check_fits(name, x, kernel, padding, dilation)
    return kernel, stride, padding, dilation
