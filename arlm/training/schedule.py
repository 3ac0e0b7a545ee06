"""Learning rate: linear warmup from 0, then cosine decay to ``min_lr``.

A pure function of progress so the schedule needs no state of its own in a checkpoint: under a
step/token budget progress is the step; under a time budget alone it is the fraction of
``max_seconds`` used (the only way to anneal fully within a wall-clock budget).
"""

from __future__ import annotations

import math


def lr_at(step: int, lr: float, min_lr: float, warmup_steps: int, total_steps: int | None,
          time_fraction: float | None = None) -> float:
    """Learning rate of optimizer step ``step`` (0-based)."""
    if warmup_steps and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if total_steps is not None:
        span = max(1, total_steps - warmup_steps)
        progress = (step - warmup_steps) / span
    elif time_fraction is not None:
        progress = time_fraction
    else:
        return lr
    progress = min(max(progress, 0.0), 1.0)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)
