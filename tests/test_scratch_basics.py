"""vidbook.scratch.activations and .losses equal PyTorch's: values, gradients, stability."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from oracle import assert_close, assert_same_function

from vidbook.scratch.activations import gelu, relu, sigmoid, softmax, tanh
from vidbook.scratch.losses import cross_entropy, log_softmax, mse_loss

DTYPES = [torch.float64, torch.float32]
SHAPES = [(7,), (3, 5), (2, 3, 4, 5)]


def randn(*shape: int, dtype: torch.dtype, seed: int, scale: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, dtype=dtype, generator=g)


ACTIVATIONS = {
    "relu": (relu, torch.relu),
    "sigmoid": (sigmoid, torch.sigmoid),
    "tanh": (tanh, torch.tanh),
    "gelu": (gelu, F.gelu),
    "gelu_tanh": (lambda x: gelu(x, approximate="tanh"), lambda x: F.gelu(x, approximate="tanh")),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_equals_torch(name, shape, dtype):
    ours, theirs = ACTIVATIONS[name]
    x = randn(*shape, dtype=dtype, seed=len(shape))
    assert_same_function(name, ours, theirs, [x])


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "gelu", "gelu_tanh"])
def test_activation_at_zero_and_far_out(name):
    """Slopes at 0 (relu: 0, like torch) and finite values and slopes at +-1000."""
    ours, theirs = ACTIVATIONS[name]
    x = torch.tensor([-1000.0, -40.0, -1e-3, 0.0, 1e-3, 40.0, 1000.0], dtype=torch.float64)
    assert_same_function(name, ours, theirs, [x])
    y = x.clone().requires_grad_()
    ours(y).sum().backward()
    assert torch.isfinite(y.grad).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax_equal_torch(dim, dtype):
    x = randn(3, 4, 5, dtype=dtype, seed=dim + 3)
    assert_same_function("softmax", lambda a: softmax(a, dim), lambda a: torch.softmax(a, dim), [x])
    assert_same_function(
        "log_softmax", lambda a: log_softmax(a, dim), lambda a: F.log_softmax(a, dim), [x]
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_softmax_is_stable_for_huge_logits(dtype):
    x = torch.tensor([[1000.0, -1000.0, 999.0], [-1000.0, -1000.0, -999.0]], dtype=dtype)
    p, log_p = softmax(x, dim=1), log_softmax(x, dim=1)
    assert torch.isfinite(p).all() and torch.isfinite(log_p).all()
    assert_same_function("softmax", lambda a: softmax(a, 1), lambda a: torch.softmax(a, 1), [x])
    assert_same_function(
        "log_softmax", lambda a: log_softmax(a, 1), lambda a: F.log_softmax(a, 1), [x]
    )
    assert (p.sum(dim=1) - 1).abs().max() <= 4 * torch.finfo(dtype).eps


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_equals_torch(reduction, dtype):
    pred, target = randn(4, 3, 5, dtype=dtype, seed=1), randn(4, 3, 5, dtype=dtype, seed=2)
    assert_same_function(
        "mse_loss",
        lambda a, b: mse_loss(a, b, reduction),
        lambda a, b: F.mse_loss(a, b, reduction=reduction),
        [pred, target],
    )


# (logits shape, target shape): a class per clip, per frame (B, K, T), per pixel (B, K, H, W).
CE_SHAPES = [((6, 5), (6,)), ((3, 4, 7), (3, 7)), ((2, 3, 4, 5), (2, 4, 5))]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shapes", CE_SHAPES, ids=str)
def test_cross_entropy_equals_torch(shapes, reduction, dtype):
    (logits_shape, target_shape), k = shapes, shapes[0][1]
    logits = randn(*logits_shape, dtype=dtype, seed=len(target_shape))
    target = torch.randint(0, k, target_shape, generator=torch.Generator().manual_seed(3))
    assert_same_function(
        "cross_entropy",
        lambda a, t: cross_entropy(a, t, reduction),
        lambda a, t: F.cross_entropy(a, t, reduction=reduction),
        [logits, target],
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    logits = torch.tensor(
        [[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -1000.0]],
        dtype=dtype,
    )
    target = torch.tensor([1, 2, 0])  # wrong by 2000, wrong by 1, a three-way tie
    loss = cross_entropy(logits, target, reduction="none")
    assert torch.isfinite(loss).all()
    assert_close(loss, F.cross_entropy(logits, target, reduction="none"), "cross_entropy")
    tol = 2000 * torch.finfo(dtype).eps  # rounding at the logits' size, 1000
    assert abs(loss[0].item() - 2000.0) < tol
    assert abs(loss[2].item() - math.log(3)) < tol
    assert_same_function(
        "cross_entropy",
        lambda a, t: cross_entropy(a, t),
        lambda a, t: F.cross_entropy(a, t),
        [logits, target],
    )


# --- bad input: one test per message --------------------------------------------------------


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match=r"gelu: approximate must be 'none' or 'tanh', got 'erf'"):
        gelu(torch.zeros(3), approximate="erf")


def test_losses_reject_an_unknown_reduction():
    with pytest.raises(
        ValueError,
        match=r"mse_loss: reduction must be one of \('mean', 'sum', 'none'\), got 'avg'",
    ):
        mse_loss(torch.zeros(3), torch.zeros(3), reduction="avg")
    with pytest.raises(ValueError, match=r"cross_entropy: reduction must be one of .* got 'max'"):
        cross_entropy(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), reduction="max")


def test_mse_loss_rejects_shapes_that_differ():
    with pytest.raises(
        ValueError,
        match=r"mse_loss expects pred and target of the same shape, got \(4, 1\) and \(4,\)",
    ):
        mse_loss(torch.zeros(4, 1), torch.zeros(4))


def test_cross_entropy_rejects_logits_without_a_class_axis():
    with pytest.raises(
        ValueError, match=r"cross_entropy expects logits \(B, K\) or \(B, K, \*\), got shape \(5,\)"
    ):
        cross_entropy(torch.zeros(5), torch.tensor(1))


def test_cross_entropy_rejects_a_target_of_the_wrong_shape():
    with pytest.raises(
        ValueError,
        match=r"cross_entropy expects target of shape \(2, 7\) \(logits \(2, 4, 7\) without the "
        r"class axis\), got \(2, 4\)",
    ):
        cross_entropy(torch.zeros(2, 4, 7), torch.zeros(2, 4, dtype=torch.long))


def test_cross_entropy_rejects_float_targets():
    with pytest.raises(
        ValueError,
        match=r"cross_entropy expects integer class indices as target, got dtype torch.float32",
    ):
        cross_entropy(torch.zeros(2, 3), torch.zeros(2))


def test_cross_entropy_rejects_a_class_out_of_range():
    with pytest.raises(
        ValueError,
        match=r"cross_entropy: target classes must lie in \[0, 2\] for 3 classes, "
        r"got values from 0 to 3",
    ):
        cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3]))
