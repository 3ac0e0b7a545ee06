"""Readable flow-run names built from the run's parameters."""

from __future__ import annotations

import re
from collections.abc import Callable


def run_name_from(prefix: str, *fields: str) -> Callable[[], str]:
    """``prefix-value-value``; a field given as ``"a|b"`` takes the first of a, b that is set."""

    def name() -> str:
        from prefect.runtime import flow_run

        params = flow_run.parameters.get("params") or {}
        get = params.get if isinstance(params, dict) else (lambda k, d=None: getattr(params, k, d))
        bits = []
        for spec in fields:
            f, v = next(((k, get(k)) for k in spec.split("|") if get(k)), (spec, None))
            if v:
                v = str(v).rstrip("/").split("/")[-1] if f == "corpus" else str(v)
                bits.append(re.sub(r"[^A-Za-z0-9_.-]+", "-", v)[:40])
        return "-".join([prefix, *bits])

    return name
