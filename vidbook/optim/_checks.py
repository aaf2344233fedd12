"""Hyper-parameter checks shared by the optimizers (the same rules as torch.optim)."""

from __future__ import annotations

import math

from vidbook.checks import is_real
from vidbook.errors import BadValueError


def non_negative(name: str, value: float) -> None:
    """ValueError unless ``value`` is a finite number >= 0 (like torch's "Invalid ... value")."""
    if not is_real(value) or not math.isfinite(value):
        raise BadValueError(f"Invalid {name}: expected a finite number >= 0, got {value!r}")
    if value < 0:
        raise BadValueError(f"Invalid {name}: expected a number >= 0, got {value}")


def fraction(name: str, value: float) -> None:
    """ValueError unless ``0 <= value < 1`` (betas, momentum decay rates)."""
    non_negative(name, value)
    if value >= 1:
        raise BadValueError(f"Invalid {name}: expected a number in [0, 1), got {value}")


def betas_pair(betas: tuple[float, float]) -> None:
    """ValueError unless ``betas`` is two numbers in [0, 1)."""
    if not isinstance(betas, tuple | list) or len(betas) != 2:
        raise BadValueError(f"Invalid betas: expected a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        fraction(f"beta parameter at index {i}", beta)
