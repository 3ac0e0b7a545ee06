"""Learning rate: linear warm-up from 0 to ``lr``, then cosine decay to ``min_lr`` at the end of the
budget. Warm-up and decay are both measured in the budget's own unit, so neither outruns the other.

* Step budget (``total_steps`` known: ``max_steps``, or the steps ``max_tokens`` implies; a
  ``max_seconds`` cap on top changes nothing here): warm-up lasts
  ``W = min(warmup_steps, floor(warmup_fraction * total_steps))`` steps, step ``W - 1`` is at ``lr``,
  step ``W`` too (the top of the cosine), and the last step, ``total_steps - 1``, is at ``min_lr``.
  The rate is a pure function of the step, so the schedule needs no state of its own in a
  checkpoint and a resumed run follows it exactly.
* Time budget alone (``total_steps`` None, ``time_fraction`` = share of ``max_seconds`` used):
  warm-up ends at the first of ``warmup_steps`` steps and ``warmup_fraction`` of the time (a short
  or slow run is never stuck in warm-up); the cosine then runs over the remaining time, from
  ``warmup_fraction`` to the end. If the steps end the warm-up first, the rate holds at ``lr`` until
  ``warmup_fraction`` of the time has passed, so it never jumps. The rate is a function of the step
  and of the elapsed time, which depends on the machine: time-budget runs are not reproducible.

``warmup_fraction`` None means no cap: warm-up is ``warmup_steps`` steps, and under a time budget
the cosine follows the whole fraction of time used (the behaviour before the cap existed).
"""

from __future__ import annotations

import math


def warmup_length(warmup_steps: int, warmup_fraction: float | None, total_steps: int) -> int:
    """Warm-up steps under a step budget: ``warmup_steps``, at most ``warmup_fraction`` of it."""
    if warmup_fraction is None:
        return min(warmup_steps, total_steps)
    return min(warmup_steps, int(warmup_fraction * total_steps))


def _cosine(progress: float, lr: float, min_lr: float) -> float:
    progress = min(max(progress, 0.0), 1.0)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def lr_at(
    step: int,
    lr: float,
    min_lr: float,
    warmup_steps: int,
    total_steps: int | None,
    time_fraction: float | None = None,
    warmup_fraction: float | None = None,
) -> float:
    """Learning rate of optimizer step ``step`` (0-based); see the module docstring."""
    if total_steps is not None:
        w = warmup_length(warmup_steps, warmup_fraction, total_steps)
        if step < w:
            return lr * (step + 1) / w
        span = total_steps - 1 - w
        return _cosine((step - w) / span if span > 0 else 1.0, lr, min_lr)
    if time_fraction is None:  # no budget to span: constant after the warm-up
        return lr * min(1.0, (step + 1) / warmup_steps) if warmup_steps else lr
    if warmup_fraction is None:
        if warmup_steps and step < warmup_steps:
            return lr * (step + 1) / warmup_steps
        return _cosine(time_fraction, lr, min_lr)
    if not warmup_steps or not warmup_fraction:  # no warm-up: the cosine spans all the time
        return _cosine(time_fraction, lr, min_lr)
    warm = max((step + 1) / warmup_steps, time_fraction / warmup_fraction)
    if warm < 1.0:
        return lr * warm
    return _cosine((time_fraction - warmup_fraction) / (1.0 - warmup_fraction), lr, min_lr)
