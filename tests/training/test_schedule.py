"""The learning-rate schedule under a step budget and under a time budget alone: warm-up and decay
in the same unit, monotone warm-up, no jump at its end, min_lr at the end, never stuck in warm-up."""

from __future__ import annotations

import math

import pytest

from arlm.training.schedule import lr_at, warmup_length

LR, MIN_LR = 1e-3, 1e-4


def steps_schedule(total: int, warmup_steps: int = 100, fraction: float | None = 0.05) -> list[float]:
    return [lr_at(s, LR, MIN_LR, warmup_steps, total, warmup_fraction=fraction) for s in range(total)]


def time_schedule(n_steps: int, warmup_steps: int = 100, fraction: float | None = 0.05) -> list[float]:
    """A time-only budget spent at a steady rate: step s starts at s / n_steps of the time."""
    return [
        lr_at(s, LR, MIN_LR, warmup_steps, None, time_fraction=s / n_steps, warmup_fraction=fraction)
        for s in range(n_steps)
    ]


def check_shape(lrs: list[float], max_jump: float) -> int:
    """Rises monotonically to LR, then falls monotonically to about MIN_LR, with no step larger
    than ``max_jump``; returns the index of the peak."""
    peak = lrs.index(max(lrs))
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1 : peak + 1])), "warm-up is not monotone"
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1 :])), "decay is not monotone"
    assert max(lrs) == pytest.approx(LR, rel=1e-3)
    jumps = [abs(b - a) for a, b in zip(lrs, lrs[1:])]
    assert max(jumps) <= max_jump, (max(jumps), jumps.index(max(jumps)))
    return peak


@pytest.mark.parametrize("total", [10, 130, 1200, 20_000])
def test_step_budget_warms_up_over_a_fraction_then_decays_to_min_lr(total):
    lrs = steps_schedule(total)
    w = warmup_length(100, 0.05, total)
    assert w == min(100, int(0.05 * total))
    if w:
        assert lrs[0] == pytest.approx(LR / w) and lrs[w - 1] == pytest.approx(LR)
    assert lrs[w] == pytest.approx(LR)  # continuous at the end of the warm-up: no jump
    assert lrs[-1] == pytest.approx(MIN_LR)  # the last step is at min_lr
    # the steepest change is the warm-up's slope (or the cosine's, pi/2 x range / span)
    slope = max(LR / max(w, 1), math.pi / 2 * (LR - MIN_LR) / max(total - 1 - w, 1))
    check_shape(lrs, max_jump=slope * 1.0001)


def test_the_issue_130_step_run_has_no_cliff():
    """Before: warm-up counted 100 steps while decay followed elapsed time, so lr fell from 1e-3
    at step 100 to 1.6e-4 at step 110 of a 130-step time-budget run. Now warm-up ends at 5% of
    the time and the cosine spans the rest."""
    lrs = time_schedule(130)
    peak = check_shape(lrs, max_jump=0.16 * LR)
    assert peak <= 8  # out of warm-up within the first ~5% of the run
    assert lrs[100] > lrs[110] > lrs[-1]
    assert lrs[100] - lrs[110] < 0.2 * LR
    assert lrs[-1] < MIN_LR + 0.01 * (LR - MIN_LR)  # essentially annealed at the end


def test_a_slow_short_time_budget_is_never_stuck_in_warm_up():
    """The issue's 60 s run on 2 cores: ~25 steps, warm-up of 100 steps. It peaks by time."""
    lrs = time_schedule(25)
    assert max(lrs) == pytest.approx(LR, rel=0.02) and lrs.index(max(lrs)) <= 2
    assert lrs[-1] < MIN_LR + 0.05 * (LR - MIN_LR)
    # a time fraction past the end is min_lr, never below
    assert lr_at(30, LR, MIN_LR, 100, None, time_fraction=1.3, warmup_fraction=0.05) == pytest.approx(MIN_LR)


def test_a_fast_time_budget_ends_warm_up_by_steps_and_holds_until_the_decay():
    """Steps end the warm-up before 5% of the time: the rate holds at lr until then (no jump),
    then the cosine runs over the remaining 95% of the time."""
    lrs = time_schedule(20_000)  # warm-up by steps ends at step 100 = 0.5% of the time
    assert lrs[99] == pytest.approx(LR) and lrs[500] == pytest.approx(LR) and lrs[999] == pytest.approx(LR)
    check_shape(lrs, max_jump=LR / 100 * 1.0001)
    halfway = int(20_000 * (0.05 + 0.95 / 2))
    assert lrs[halfway] == pytest.approx((LR + MIN_LR) / 2, rel=1e-3)


def test_no_warm_up_asked_and_no_cap():
    # warmup_steps 0: the cosine spans the whole budget, in steps or in time
    assert steps_schedule(11, warmup_steps=0)[0] == pytest.approx(LR)
    assert lr_at(0, LR, MIN_LR, 0, None, time_fraction=0.5, warmup_fraction=0.05) == pytest.approx((LR + MIN_LR) / 2)
    # warmup_fraction None: warmup_steps alone (the old behaviour), capped by the budget
    assert warmup_length(100, None, 1200) == 100 and warmup_length(100, None, 30) == 30
    assert steps_schedule(1200, fraction=None)[99] == pytest.approx(LR)
    # no budget to span (cannot happen in the loop, which requires one): constant after warm-up
    assert lr_at(500, LR, MIN_LR, 100, None) == LR
