"""activations: ReLU, sigmoid, tanh, GELU and softmax, each from its formula.

Every function works on a tensor of any shape, elementwise (softmax along one axis), and is
written with ``exp``, ``erf`` and arithmetic only. Where the plain formula would overflow
(``exp(1000)`` is inf in any float type), it is rearranged so that only ``exp`` of a number
<= 0 is ever taken: the value is the same, and stays finite for inputs of any size.
"""

from __future__ import annotations

import math

import torch

from vidbook.errors import BadValueError


def relu(x: torch.Tensor) -> torch.Tensor:
    """Rectified linear unit, any shape -> same shape: relu(x) = max(x, 0).

    Its slope is 1 for x > 0 and 0 for x <= 0 (PyTorch's choice at 0, too).
    """
    return torch.where(x > 0, x, torch.zeros_like(x))


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Logistic sigmoid, any shape -> same shape, values in (0, 1).

    sigmoid(x) = 1 / (1 + exp(-x)) = exp(x) / (1 + exp(x)); the first form for x >= 0, the
    second for x < 0, so exp only ever sees -|x| and never overflows.
    """
    e = torch.exp(torch.where(x >= 0, -x, x))  # exp(-|x|), in (0, 1]
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))


def tanh(x: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent, any shape -> same shape, values in (-1, 1).

    tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x)) = (1 - exp(-2x)) / (1 + exp(-2x)),
    an odd function: computed for |x| and given the sign of x, so exp never overflows.
    """
    e = torch.exp(torch.where(x >= 0, -2 * x, 2 * x))  # exp(-2|x|), in (0, 1]
    t = (1 - e) / (1 + e)  # tanh(|x|)
    return torch.where(x >= 0, t, -t)


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """Gaussian error linear unit, any shape -> same shape: x times the chance that a standard
    normal variable is below x.

    gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2)))                       (``"none"``)
            ~ 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))                (``"tanh"``)
    """
    if approximate == "none":
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    if approximate == "tanh":
        return 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    raise BadValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Softmax along ``dim``, any shape -> same shape; the values along ``dim`` are positive
    and sum to 1.

    softmax(x)_i = exp(x_i) / sum_j exp(x_j) = exp(x_i - m) / sum_j exp(x_j - m), m = max_j x_j.
    Subtracting the maximum changes nothing but keeps every exponent <= 0: no overflow.
    """
    m = x.amax(dim=dim, keepdim=True).detach()  # a constant shift: it has no gradient
    e = torch.exp(x - m)  # in (0, 1], and 1 at the maximum
    return e / e.sum(dim=dim, keepdim=True)
