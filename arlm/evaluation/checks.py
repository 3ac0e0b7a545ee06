"""Checks on evaluation results, free of heavy imports (the catalog uses them too)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from arlm.errors import DataError


def non_finite_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of ``metrics`` that are NaN or infinite."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(float(value)):
            out[key] = float(value)
    return out


def check_finite_metrics(metrics: Mapping[str, Any], where: str = "evaluation") -> Mapping[str, Any]:
    """``metrics`` unchanged if every number in it is finite; else a one-line ``DataError``.

    A NaN or infinite loss means broken weights (or a diverged model), never a result worth storing.
    """
    bad = non_finite_metrics(metrics)
    if bad:
        listed = ", ".join(f"{k}={v}" for k, v in sorted(bad.items())[:4])
        raise DataError(
            f"{where}: non-finite metrics ({listed}): the model's weights are broken "
            "(corrupted file or diverged training); nothing recorded"
        )
    return metrics
