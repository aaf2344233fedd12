"""Claims about training outcomes, checked with a margin, and the seed sweep that measures it.

A chapter that trains a model says what came out ("c3d learns the motion classes: validation
accuracy >= 0.9"). Such a claim must hold on any reader's machine, not only on ours: another
processor rounds differently, another thread count sums in another order, and a training run
ends a little differently. ``claim(name, value, op, bound)`` checks one such statement, like
``assert``, and records its *margin* (how far the value is on the right side of the bound) when
the environment variable ``VIDBOOK_CLAIMS_LOG`` names a file. ``make claims`` runs the chapters
again and again — other seeds, one thread and two — and prints the worst margin of every claim
(``scripts/claims.py``).

``VIDBOOK_SEED_OFFSET=k`` makes ``perturb_seeds`` (called by ``vidbook.setup_notebook``) shift
every seed a chapter sets — ``torch.manual_seed``, ``torch.Generator().manual_seed``,
``random.seed``, ``numpy.random.seed`` — by ``k``: the same chapter, other initial weights,
other batch orders. The clips of the world do not change (they come from SynthActions' own
counter-based hash).
"""

from __future__ import annotations

import json
import math
import operator
import os
import random
from pathlib import Path

import numpy as np
import torch

from vidbook.checks import is_int
from vidbook.errors import BadValueError

LOG_ENV = "VIDBOOK_CLAIMS_LOG"
SEED_OFFSET_ENV = "VIDBOOK_SEED_OFFSET"
_OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def margin(value: float, op: str, bound: float) -> float:
    """How far ``value`` lies on the right side of ``bound`` for ``op`` (negative: wrong side)."""
    if op not in _OPERATORS:
        raise BadValueError(f"op must be one of {', '.join(_OPERATORS)}, got {op!r}")
    return float(value - bound) if op in (">", ">=") else float(bound - value)


def claim(name: str, value: float, op: str, bound: float, source: str | None = None) -> None:
    """Check ``value op bound`` (``op`` one of ``>``, ``>=``, ``<``, ``<=``) like ``assert``.

    Raises AssertionError naming the claim, the value and the bound when it does not hold (or
    when ``value`` is nan). Returns nothing (a notebook cell that ends with a claim shows no
    output); with ``VIDBOOK_CLAIMS_LOG`` set, appends ``{name, value, op, bound, margin, source,
    seed_offset, threads}`` to that file (the margin as :func:`margin` computes it).
    """
    if not isinstance(name, str) or not name:
        raise BadValueError(f"name must be a non-empty string, got {name!r}")
    value, bound = float(value), float(bound)
    gap = margin(value, op, bound)
    holds = bool(_OPERATORS[op](value, bound)) and not math.isnan(value)
    log = os.environ.get(LOG_ENV)
    if log:
        record = {
            "name": name,
            "source": source or os.environ.get("VIDBOOK_CLAIMS_SOURCE", ""),
            "value": value,
            "op": op,
            "bound": bound,
            "margin": gap if not math.isnan(value) else float("-inf"),
            "holds": holds,
            "seed_offset": seed_offset(),
            "threads": torch.get_num_threads(),
        }
        with Path(log).open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    if not holds:
        raise AssertionError(f"claim failed: {name}: {value:.6g} {op} {bound:.6g} does not hold")


def seed_offset() -> int:
    """The shift ``VIDBOOK_SEED_OFFSET`` asks for (0 when unset)."""
    raw = os.environ.get(SEED_OFFSET_ENV, "").strip()
    if not raw:
        return 0
    try:
        offset = int(raw)
    except ValueError:
        offset = -1
    if offset < 0:
        raise BadValueError(f"{SEED_OFFSET_ENV} must be an int >= 0, got {raw!r}")
    return offset


class _ShiftedGenerator(torch.Generator):
    """A ``torch.Generator`` whose ``manual_seed(s)`` seeds with ``s + offset``."""

    offset = 0

    def manual_seed(self, seed: int) -> torch.Generator:  # type: ignore[override]
        return super().manual_seed(int(seed) + self.offset)


def perturb_seeds(offset: int | None = None) -> int:
    """Shift every seed set from now on in this process by ``offset`` (default: from
    ``VIDBOOK_SEED_OFFSET``); 0 leaves everything as it is. Returns the offset."""
    offset = seed_offset() if offset is None else offset
    if not is_int(offset) or offset < 0:
        raise BadValueError(f"offset must be an int >= 0, got {offset!r}")
    if offset == 0 or getattr(torch.manual_seed, "_vidbook_offset", None) == offset:
        return offset
    original = getattr(torch.manual_seed, "_vidbook_original", torch.manual_seed)
    original_random = getattr(random.seed, "_vidbook_original", random.seed)
    original_numpy = getattr(np.random.seed, "_vidbook_original", np.random.seed)
    base_generator = getattr(torch.Generator, "_vidbook_original", torch.Generator)

    def manual_seed(seed: int) -> torch.Generator:
        return original(int(seed) + offset)

    def random_seed(seed=None, *args, **kwargs) -> None:
        return original_random(
            seed if not isinstance(seed, int) else seed + offset, *args, **kwargs
        )

    def numpy_seed(seed=None) -> None:
        return original_numpy(None if seed is None else (int(seed) + offset) % 2**32)

    generator = type("Generator", (_ShiftedGenerator,), {"offset": offset})
    generator._vidbook_original = base_generator
    for patched, orig in (
        (manual_seed, original),
        (random_seed, original_random),
        (numpy_seed, original_numpy),
    ):
        patched._vidbook_original = orig
        patched._vidbook_offset = offset
    torch.manual_seed, torch.random.manual_seed = manual_seed, manual_seed
    random.seed, np.random.seed = random_seed, numpy_seed
    torch.Generator = generator
    return offset


__all__ = ["LOG_ENV", "SEED_OFFSET_ENV", "claim", "margin", "perturb_seeds", "seed_offset"]
