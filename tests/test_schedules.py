"""Step decay and one-cycle schedules; one-cycle equals torch's OneCycleLR."""

from __future__ import annotations

import itertools

import pytest
import torch

from vidbook.train.schedule import get_schedule, make_lambda, one_cycle, warmup_step


def test_step_decay_drops_at_half_and_three_quarters_after_warmup():
    assert [warmup_step(s, 100, 0) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    # with 20 warm-up steps the 80 remaining steps drop at 20 + 40 and 20 + 60
    assert warmup_step(10, 100, 20) == pytest.approx(0.5)
    assert warmup_step(59, 100, 20) == 1.0 and warmup_step(60, 100, 20) == pytest.approx(0.1)
    assert warmup_step(80, 100, 20) == pytest.approx(0.01)
    assert get_schedule("step") is warmup_step


@pytest.mark.parametrize("total, pct_start", [(100, 0.3), (40, 0.25), (10, 0.5), (64, 0.125)])
def test_one_cycle_equals_torch_one_cycle_lr(total, pct_start):
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=1.0)
    torch_schedule = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=2.0, total_steps=total, pct_start=pct_start, cycle_momentum=False
    )
    theirs = []
    for step in range(total):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        if step < total - 1:
            torch_schedule.step()
    warmup = round(pct_start * total)
    ours = [2.0 * one_cycle(step, total, warmup) for step in range(total)]
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)


def test_one_cycle_shape_and_errors():
    values = [one_cycle(s, 100, 0) for s in range(100)]
    peak = values.index(max(values))
    assert peak == 29 and values[peak] == pytest.approx(1.0)  # 30 % rise by default
    assert values[0] == pytest.approx(1 / 25) and values[-1] == pytest.approx(1 / 25e4)
    assert all(a <= b for a, b in itertools.pairwise(values[: peak + 1]))
    assert all(a >= b for a, b in itertools.pairwise(values[peak:]))
    assert make_lambda("one_cycle", 100, 0)(29) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="total >= 2"):
        one_cycle(0, 1, 0)
    with pytest.raises(ValueError, match="warmup must be between 0 and total=10"):
        one_cycle(0, 10, 11)
