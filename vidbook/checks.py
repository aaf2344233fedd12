"""Argument checks shared by the whole package, with one wording for each rule.

Every check raises :class:`vidbook.errors.BadValueError` (a ValueError) whose message names the
argument, what it must be and what came: ``frames must be an int >= 2, got 1``. A bool is never
an int here (``True`` is not 1 frame), and NumPy integers are accepted as ints.
"""

from __future__ import annotations

import math
import numbers

from vidbook.errors import BadValueError


def is_int(value: object) -> bool:
    """True for an int or NumPy integer, False for a bool and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """True for a finite int or float (NumPy's included), False for a bool, nan and inf."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int; BadValueError ``{name} must be an int >= {minimum}, got ...``."""
    if not is_int(value) or value < minimum:
        raise BadValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_int_range(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``; BadValueError ``... must be an int in [low, high]``."""
    if not is_int(value) or not low <= value <= high:
        raise BadValueError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return int(value)


def check_positive(name: str, value: object, unit: str = "") -> float:
    """``value`` as a float > 0; BadValueError ``{name} must be a finite number[ of unit] > 0``."""
    if not is_real(value) or value <= 0:
        what = f"a finite number of {unit}" if unit else "a finite number"
        raise BadValueError(f"{name} must be {what} > 0, got {value!r}")
    return float(value)
