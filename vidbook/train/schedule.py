"""Learning-rate schedules as pure functions of the optimizer step.

Each schedule maps ``(step, total, warmup)`` to a factor in ``[0, 1]`` that multiplies the base
learning rate; ``torch.optim.lr_scheduler.LambdaLR`` applies it once per optimizer step. Steps
count from 0: the optimizer step number ``step`` uses the factor ``schedule(step, total, warmup)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from vidbook.checks import is_int
from vidbook.errors import BadValueError

Schedule = Callable[[int, int, int], float]


def _check_args(step: int, total: int, warmup: int) -> None:
    """Raise ValueError unless ``0 <= step``, ``1 <= total`` and ``0 <= warmup <= total``."""
    for name, value in (("step", step), ("total", total), ("warmup", warmup)):
        if not is_int(value):
            raise BadValueError(f"{name} must be an int, got {value!r}")
    if step < 0:
        raise BadValueError(f"step must be >= 0, got {step}")
    if total < 1:
        raise BadValueError(f"total must be >= 1 (the number of optimizer steps), got {total}")
    if not 0 <= warmup <= total:
        raise BadValueError(f"warmup must be between 0 and total={total}, got {warmup}")


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Linear warm-up from 0 to 1 over ``warmup`` steps, then a cosine from 1 to 0 at ``total``.

    ``warmup_cosine(0, 100, 10) == 0``, ``(10, 100, 10) == 1``, ``(55, 100, 10) == 0.5``,
    ``(100, 100, 10) == 0``; steps past ``total`` stay at 0.
    """
    _check_args(step, total, warmup)
    if step >= total:
        return 0.0
    if step < warmup:
        return step / warmup
    progress = (step - warmup) / (total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_constant(step: int, total: int, warmup: int) -> float:
    """Linear warm-up from 0 to 1 over ``warmup`` steps, then constant 1 (also past ``total``)."""
    _check_args(step, total, warmup)
    if step < warmup:
        return step / warmup
    return 1.0


def warmup_step(step: int, total: int, warmup: int, gamma: float = 0.1) -> float:
    """Linear warm-up, then step decay: the factor drops to ``gamma`` at half of the steps after
    warm-up and to ``gamma**2`` at three quarters (the classic ResNet / C3D recipe, scaled to
    ``total``). ``warmup_step(60, 100, 0) == 0.1``, ``(80, 100, 0) == 0.01``.
    """
    _check_args(step, total, warmup)
    if step < warmup:
        return step / warmup
    progress = (step - warmup) / (total - warmup) if total > warmup else 1.0
    return gamma ** sum(progress >= milestone for milestone in (0.5, 0.75))


def _cos_between(start: float, end: float, fraction: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)


def one_cycle(
    step: int, total: int, warmup: int, div_factor: float = 25.0, final_div_factor: float = 1e4
) -> float:
    """The one-cycle policy (Smith and Topin, 2019) as ``torch.optim.lr_scheduler.OneCycleLR``
    computes it: a cosine rise from ``1 / div_factor`` to 1 over the first ``warmup`` steps
    (``pct_start * total``), then a cosine fall to ``1 / (div_factor * final_div_factor)`` at
    the last step. With ``warmup == 0`` the rise takes 30 % of the steps, torch's default.
    """
    _check_args(step, total, warmup)
    if total < 2:
        raise BadValueError(f"one_cycle needs total >= 2 steps, got {total}")
    start, low = 1.0 / div_factor, 1.0 / (div_factor * final_div_factor)
    peak = (warmup or math.floor(0.3 * total)) - 1  # the step at which the factor is 1
    peak = min(max(peak, 0), total - 2)
    step = min(step, total - 1)
    if step <= peak:
        return _cos_between(start, 1.0, step / peak) if peak > 0 else 1.0
    return _cos_between(1.0, low, (step - peak) / (total - 1 - peak))


SCHEDULES: dict[str, Schedule] = {
    "cosine": warmup_cosine,
    "constant": warmup_constant,
    "step": warmup_step,
    "one_cycle": one_cycle,
}


def get_schedule(name: str) -> Schedule:
    """The schedule function called ``name``; ValueError listing the valid names otherwise."""
    if name not in SCHEDULES:
        raise BadValueError(f"unknown schedule {name!r}; valid schedules are {sorted(SCHEDULES)}")
    return SCHEDULES[name]


def warmup_steps(total: int, warmup_frac: float) -> int:
    """The number of warm-up steps: ``floor(warmup_frac * total)``, always below ``total``."""
    if not is_int(total) or total < 1:
        raise BadValueError(f"total must be an int >= 1, got {total!r}")
    if not 0.0 <= warmup_frac < 1.0:
        raise BadValueError(f"warmup_frac must be in [0, 1), got {warmup_frac!r}")
    return math.floor(warmup_frac * total)


def make_lambda(name: str, total: int, warmup: int) -> Callable[[int], float]:
    """A one-argument ``step -> factor`` function for ``LambdaLR`` from the schedule ``name``."""
    schedule = get_schedule(name)
    _check_args(0, total, warmup)

    def factor(step: int) -> float:
        return schedule(int(step), total, warmup)

    return factor
