"""vidbook.scratch.conv and .pool equal PyTorch's convolution and pooling: values and gradients."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from oracle import assert_same_function

from vidbook.scratch.conv import conv2d, conv3d, conv_output_size
from vidbook.scratch.pool import avg_pool2d, avg_pool3d, max_pool2d, max_pool3d

DTYPES = [torch.float64, torch.float32]


def randn(*shape: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def no_ties(*shape: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Distinct values in [-0.5, 0.5): every window has one maximum, so its gradient is unique."""
    n = torch.Size(shape).numel()
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return (perm.to(dtype) / n - 0.5).reshape(shape)


# (input shape, weight shape, stride, padding, dilation, groups); T != H != W throughout.
CONV3D_SETTINGS = [
    ((2, 3, 5, 6, 7), (4, 3, 3, 3, 3), 1, 0, 1, 1),
    ((2, 3, 5, 6, 7), (4, 3, 3, 3, 3), 1, 1, 1, 1),  # "same" size: C3D's convolution
    ((1, 2, 6, 7, 8), (3, 2, 2, 3, 1), (2, 1, 3), (1, 0, 0), 1, 1),  # non-cubic kernel
    ((2, 2, 7, 6, 9), (2, 2, 3, 2, 3), (1, 2, 2), (2, 1, 1), (2, 1, 3), 1),  # dilation
    ((1, 4, 4, 5, 6), (6, 2, 1, 3, 3), 1, (0, 1, 1), 1, 2),  # groups: a (2+1)D spatial step
    ((1, 4, 5, 4, 3), (4, 1, 3, 1, 1), (2, 1, 1), (1, 0, 0), 1, 4),  # depthwise, in time only
]
CONV2D_SETTINGS = [
    ((2, 3, 6, 7), (4, 3, 3, 3), 1, 0, 1, 1),
    ((2, 3, 6, 7), (4, 3, 3, 3), 2, 1, 1, 1),
    ((1, 2, 8, 9), (3, 2, 2, 4), (2, 3), (1, 2), 1, 1),
    ((2, 2, 9, 8), (2, 2, 3, 2), (1, 2), (2, 0), (3, 2), 1),
    ((1, 6, 5, 7), (4, 3, 3, 1), 1, (1, 0), 1, 2),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("setting", range(len(CONV3D_SETTINGS)))
def test_conv3d_equals_torch(setting, dtype):
    x_shape, w_shape, stride, padding, dilation, groups = CONV3D_SETTINGS[setting]
    x, w = randn(*x_shape, dtype=dtype, seed=setting), randn(*w_shape, dtype=dtype, seed=99)
    b = randn(w_shape[0], dtype=dtype, seed=7)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert_same_function(
        "conv3d", lambda *a: conv3d(*a, **kw), lambda *a: F.conv3d(*a, **kw), [x, w, b]
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("setting", range(len(CONV2D_SETTINGS)))
def test_conv2d_equals_torch(setting, dtype):
    x_shape, w_shape, stride, padding, dilation, groups = CONV2D_SETTINGS[setting]
    x, w = randn(*x_shape, dtype=dtype, seed=setting), randn(*w_shape, dtype=dtype, seed=99)
    b = randn(w_shape[0], dtype=dtype, seed=7)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert_same_function(
        "conv2d", lambda *a: conv2d(*a, **kw), lambda *a: F.conv2d(*a, **kw), [x, w, b]
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_conv_without_bias_equals_torch(dtype):
    x, w = randn(2, 3, 4, 5, 6, dtype=dtype, seed=1), randn(2, 3, 2, 2, 2, dtype=dtype, seed=2)
    assert_same_function("conv3d", conv3d, F.conv3d, [x, w])
    assert_same_function("conv2d", conv2d, F.conv2d, [x[:, :, 0], w[:, :, 0]])


def test_conv_output_size_matches_torch_shapes():
    """The output-size formula against the shape F.conv3d returns, over a grid of settings."""
    checked = 0
    for n, k, s, p, d in itertools.product((1, 4, 7), (1, 2, 3), (1, 2, 3), (0, 1, 2), (1, 2)):
        x, w = torch.zeros(1, 1, n, n + 1, n + 2), torch.zeros(1, 1, k, k, k)
        if d * (k - 1) + 1 > n + 2 * p:  # no room for the kernel along T: both refuse
            with pytest.raises(RuntimeError):
                F.conv3d(x, w, stride=s, padding=p, dilation=d)
            with pytest.raises(ValueError, match="larger than the padded input"):
                conv_output_size(n, k, s, p, d)
            continue
        want = F.conv3d(x, w, stride=s, padding=p, dilation=d).shape[2:]
        assert tuple(want) == tuple(conv_output_size(m, k, s, p, d) for m in (n, n + 1, n + 2))
        checked += 1
    assert checked > 100


def test_conv_is_a_cross_correlation_with_kernel_offsets():
    """A one-hot kernel at offset (i, j, k) shifts the input: y[t, h, w] = x[t+i, h+j, w+k]."""
    x = torch.arange(4 * 5 * 6, dtype=torch.float64).reshape(1, 1, 4, 5, 6)
    w = torch.zeros(1, 1, 2, 3, 3, dtype=torch.float64)
    w[0, 0, 1, 2, 0] = 1.0  # offset (i, j, k) = (1, 2, 0)
    y = conv3d(x, w)  # (1, 1, 3, 3, 4)
    assert torch.equal(y[0, 0], x[0, 0, 1:4, 2:5, 0:4])


# (input shape, kernel_size, stride, padding[, dilation for max]); T != H != W throughout.
POOL3D_SETTINGS = [
    ((2, 3, 4, 6, 8), 2, None, 0),
    ((2, 3, 5, 6, 7), (1, 2, 2), None, 0),  # space only, as in C3D's first pooling
    ((1, 2, 5, 7, 6), 3, (1, 2, 2), 1),
    ((1, 2, 6, 5, 7), (2, 3, 4), (2, 1, 3), (1, 1, 2)),
]
POOL2D_SETTINGS = [
    ((2, 3, 6, 8), 2, None, 0),
    ((1, 2, 7, 6), 3, 2, 1),
    ((2, 2, 7, 9), (2, 4), (1, 3), (1, 2)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("setting", range(len(POOL3D_SETTINGS)))
def test_pool3d_equals_torch(setting, dtype):
    shape, kernel, stride, padding = POOL3D_SETTINGS[setting]
    x = no_ties(*shape, dtype=dtype, seed=setting)
    args = (kernel, stride, padding)
    assert_same_function(
        "max_pool3d", lambda a: max_pool3d(a, *args), lambda a: F.max_pool3d(a, *args), [x]
    )
    assert_same_function(
        "avg_pool3d", lambda a: avg_pool3d(a, *args), lambda a: F.avg_pool3d(a, *args), [x]
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("setting", range(len(POOL2D_SETTINGS)))
def test_pool2d_equals_torch(setting, dtype):
    shape, kernel, stride, padding = POOL2D_SETTINGS[setting]
    x = no_ties(*shape, dtype=dtype, seed=setting)
    args = (kernel, stride, padding)
    assert_same_function(
        "max_pool2d", lambda a: max_pool2d(a, *args), lambda a: F.max_pool2d(a, *args), [x]
    )
    assert_same_function(
        "avg_pool2d", lambda a: avg_pool2d(a, *args), lambda a: F.avg_pool2d(a, *args), [x]
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dilated_max_pool_equals_torch(dtype):
    x = no_ties(1, 2, 7, 8, 9, dtype=dtype, seed=5)
    args = ((2, 2, 3), (1, 2, 2), (1, 0, 1), (2, 3, 1))  # kernel, stride, padding, dilation
    assert_same_function(
        "max_pool3d", lambda a: max_pool3d(a, *args), lambda a: F.max_pool3d(a, *args), [x]
    )
    assert_same_function(
        "max_pool2d",
        lambda a: max_pool2d(a, *(v[1:] for v in args)),
        lambda a: F.max_pool2d(a, *(v[1:] for v in args)),
        [x[:, :, 0]],
    )


def test_max_pool_never_picks_padding():
    x = -torch.rand(1, 1, 3, 4, 5) - 1  # all negative: zero padding would win, -inf cannot
    y = max_pool3d(x, 3, stride=1, padding=1)
    assert y.max() < -1
    assert torch.equal(y, F.max_pool3d(x, 3, stride=1, padding=1))


# --- bad input: one test per message --------------------------------------------------------


def test_conv3d_rejects_a_4d_input():
    with pytest.raises(
        ValueError, match=r"conv3d expects input \(B, C, T, H, W\), got shape \(2, 3, 8, 8\)"
    ):
        conv3d(torch.zeros(2, 3, 8, 8), torch.zeros(4, 3, 3, 3, 3))


def test_conv2d_rejects_a_5d_input():
    with pytest.raises(
        ValueError, match=r"conv2d expects input \(B, C, H, W\), got shape \(2, 3, 4, 8, 8\)"
    ):
        conv2d(torch.zeros(2, 3, 4, 8, 8), torch.zeros(4, 3, 3, 3))


def test_conv3d_rejects_a_weight_of_the_wrong_rank():
    with pytest.raises(
        ValueError,
        match=r"conv3d expects weight \(C_out, C_in/groups, kT, kH, kW\), got shape \(4, 3, 3, 3\)",
    ):
        conv3d(torch.zeros(2, 3, 4, 8, 8), torch.zeros(4, 3, 3, 3))


def test_conv3d_rejects_a_channel_mismatch():
    with pytest.raises(
        ValueError,
        match=r"conv3d: input has 3 channels but weight \(8, 4, 3, 3, 3\) with groups=1 expects 4",
    ):
        conv3d(torch.zeros(2, 3, 4, 8, 8), torch.zeros(8, 4, 3, 3, 3))


def test_conv_rejects_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match=r"groups=2 must divide both the input channels \(3\)"):
        conv2d(torch.zeros(1, 3, 8, 8), torch.zeros(4, 1, 3, 3), groups=2)


def test_conv_rejects_a_bias_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"conv2d expects bias of shape \(4,\).*got shape \(3,\)"):
        conv2d(torch.zeros(1, 3, 8, 8), torch.zeros(4, 3, 3, 3), torch.zeros(3))


def test_conv_rejects_a_kernel_larger_than_the_padded_input():
    with pytest.raises(
        ValueError,
        match=r"conv3d: kernel extent 5 along T \(kernel 3, dilation 2\) is larger than the "
        r"padded input 4 \(size 2, padding 1\)",
    ):
        conv3d(torch.zeros(1, 1, 2, 8, 8), torch.zeros(1, 1, 3, 3, 3), padding=1, dilation=2)


def test_conv_rejects_a_bad_stride_padding_or_dilation():
    x, w = torch.zeros(1, 1, 4, 8, 8), torch.zeros(1, 1, 3, 3, 3)
    with pytest.raises(ValueError, match=r"conv3d: stride must be >= 1, got \(1, 0, 1\)"):
        conv3d(x, w, stride=(1, 0, 1))
    with pytest.raises(ValueError, match=r"conv3d: padding must be an int or a tuple of 3 ints"):
        conv3d(x, w, padding=(1, 1))
    with pytest.raises(ValueError, match=r"conv3d: dilation must be >= 1, got 0"):
        conv3d(x, w, dilation=0)


def test_conv_output_size_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"stride must be an int >= 1, got 0"):
        conv_output_size(8, 3, stride=0)


def test_pool_rejects_the_wrong_rank():
    with pytest.raises(
        ValueError, match=r"max_pool3d expects input \(B, C, T, H, W\), got shape \(2, 3, 8, 8\)"
    ):
        max_pool3d(torch.zeros(2, 3, 8, 8), 2)
    with pytest.raises(ValueError, match=r"avg_pool2d expects input \(B, C, H, W\), got shape"):
        avg_pool2d(torch.zeros(3, 8), 2)


def test_pool_rejects_padding_over_half_the_kernel():
    with pytest.raises(
        ValueError,
        match=r"avg_pool3d: padding must be at most half the kernel size, got padding "
        r"\(2, 2, 2\) for kernel_size \(3, 3, 3\)",
    ):
        avg_pool3d(torch.zeros(1, 1, 8, 8, 8), 3, padding=2)


def test_pool_rejects_a_kernel_larger_than_the_input():
    with pytest.raises(
        ValueError, match=r"max_pool2d: kernel extent 4 along W .* padded input 3 \(size 3"
    ):
        max_pool2d(torch.zeros(1, 1, 8, 3), 4)
