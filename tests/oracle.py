"""Oracle comparisons: a from-scratch block against PyTorch's, values and gradients.

``assert_close(got, want, what)`` checks the relative error against the tolerance of the dtype
(float64: 1e-10, float32: 1e-5) and records the largest error seen per block and dtype; the
session writes them to ``_build/oracle-errors.json`` (see conftest.py) for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
LARGEST_ERROR: dict[str, dict[str, float]] = {}  # block -> dtype name -> largest relative error


def rel_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want| (absolute error when ``want`` is all zeros)."""
    if got.shape != want.shape:
        raise AssertionError(f"shape {tuple(got.shape)} != expected {tuple(want.shape)}")
    diff = (got.detach() - want.detach()).abs().max().item() if got.numel() else 0.0
    scale = want.detach().abs().max().item() if want.numel() else 0.0
    return diff / scale if scale > 0 else diff


def assert_close(got: torch.Tensor, want: torch.Tensor, block: str, what: str = "value") -> float:
    """Fail when the relative error exceeds the dtype's tolerance; record it under ``block``."""
    err = rel_error(got, want)
    dtype = str(want.dtype).removeprefix("torch.")
    seen = LARGEST_ERROR.setdefault(block, {})
    seen[dtype] = max(seen.get(dtype, 0.0), err)
    tol = TOLERANCE[want.dtype]
    assert err <= tol, f"{block} {what} ({dtype}): relative error {err:.3e} > {tol:g}"
    return err


def assert_same_function(
    block: str,
    ours: Callable[..., torch.Tensor],
    theirs: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor],
    params: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
    seed: int = 0,
) -> None:
    """``ours(*inputs)`` equals ``theirs(*inputs)``, and so do the gradients of a random linear
    function of the output with respect to every floating-point input and to each parameter pair
    ``(ours_param, theirs_param)``."""
    leaves = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
    leaves_t = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
    out, out_t = ours(*leaves), theirs(*leaves_t)
    assert_close(out, out_t, block)
    weight = torch.randn(
        out_t.shape, dtype=out_t.dtype, generator=torch.Generator().manual_seed(seed)
    )
    (out * weight).sum().backward()
    (out_t * weight).sum().backward()
    for i, (a, b) in enumerate(zip(leaves, leaves_t, strict=True)):
        if b.grad is not None:
            assert_close(a.grad, b.grad, block, f"gradient of input {i}")
    for i, (p, q) in enumerate(params):
        assert_close(p.grad, q.grad, block, f"gradient of parameter {i}")
