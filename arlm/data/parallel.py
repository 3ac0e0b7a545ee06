"""Run ``process_unit`` over the units: in-process, on a local process pool, or as Ray tasks.

Results come back in unit order (so dedup keeps the first occurrence and the output is
deterministic) through a bounded window of in-flight units, so a slow writer never lets finished
results pile up in memory. Ray is used only when the caller is already connected to a cluster
(``ray.is_initialized()``) or names one with ``ray_address``; Ray tasks read the same paths, so
on a multi-node cluster the inputs must be on a shared filesystem.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator

from arlm.data.cleaning import Policy
from arlm.data.readers import process_unit
from arlm.data.units import Unit, UnitResult
from arlm.errors import ArlmError

INLINE_BELOW_BYTES = 4 << 20


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def choose_backend(units: list[Unit], workers: int | None, ray_address: str | None) -> tuple[str, int]:
    """('inline'|'pool'|'ray', n_workers) for this work."""
    if ray_address or _ray_connected():
        return "ray", workers or 0
    n = default_workers() if workers is None else workers
    total = sum(u.n_bytes for u in units)
    if n <= 1 or len(units) <= 1 or (workers is None and total < INLINE_BELOW_BYTES):
        return "inline", 1
    return "pool", min(n, len(units))


def _ray_connected() -> bool:
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def map_units(units: list[Unit], policy: Policy, workers: int | None = None,
              ray_address: str | None = None) -> Iterator[UnitResult]:
    backend, n = choose_backend(units, workers, ray_address)
    if backend == "inline":
        for unit in units:
            yield process_unit(unit, policy)
    elif backend == "pool":
        yield from _map_pool(units, policy, n)
    else:
        yield from _map_ray(units, policy, ray_address, n)


def _map_pool(units: list[Unit], policy: Policy, n: int) -> Iterator[UnitResult]:
    # spawn, not fork: the caller may hold threads (Prefect, Ray, the lake writer).
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        window: deque = deque()
        try:
            for unit in units:
                window.append(pool.submit(process_unit, unit, policy))
                if len(window) >= 2 * n:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        except BrokenProcessPool:
            raise ArlmError(
                "ingest: a reader process died (out of memory, killed, or a script calling ingest "
                "without `if __name__ == '__main__':`; workers=1 reads in-process)") from None
        finally:
            for f in window:
                f.cancel()


def _map_ray(units: list[Unit], policy: Policy, address: str | None, n: int) -> Iterator[UnitResult]:
    import ray

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    remote = ray.remote(num_cpus=1, max_retries=2)(process_unit)
    limit = 2 * (n or max(1, int(ray.cluster_resources().get("CPU", 1))))
    window: deque = deque()
    for unit in units:
        window.append(remote.remote(unit, policy))
        if len(window) >= limit:
            yield ray.get(window.popleft())
    while window:
        yield ray.get(window.popleft())
