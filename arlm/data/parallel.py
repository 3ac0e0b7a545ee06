"""Run ``process_unit`` over the units: in-process, on a local process pool, or as Ray tasks.

Results come back in unit order (so dedup keeps the first occurrence and the output is
deterministic) through a bounded window of in-flight units (twice the workers), so finished
results never pile up in memory. A result carries its documents as compressed Parquet bytes,
so nothing but those bytes is written by the ingest process: on Ray the lake need not be
shared, only the inputs must be readable from every node (a shared filesystem, or URLs/HF
datasets fetched first). Ray is used only when the caller is already connected to a cluster
(``ray.is_initialized()``), names one with ``ray_address``, or asks with ``executor="ray"``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from arlm.data.readers import process_unit
from arlm.data.units import Job, Unit, UnitResult
from arlm.errors import ArlmError

INLINE_BELOW_BYTES = 4 << 20


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def choose_backend(
    units: list[Unit], workers: int | None, ray_address: str | None, executor: str = "auto"
) -> tuple[str, int]:
    """('inline'|'pool'|'ray', n_workers) for this work."""
    if executor == "ray" or (executor == "auto" and (ray_address or _ray_connected())):
        return "ray", workers or 0
    n = default_workers() if workers is None else workers
    total = sum(u.n_bytes for u in units)
    if n <= 1 or len(units) <= 1 or (workers is None and total < INLINE_BELOW_BYTES):
        return "inline", 1
    return "pool", min(n, len(units))


def _ray_connected() -> bool:
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def map_units(
    units: list[Unit], job: Job, workers: int | None = None, ray_address: str | None = None, executor: str = "auto"
) -> Iterator[UnitResult]:
    backend, n = choose_backend(units, workers, ray_address, executor)
    if backend == "inline":
        for unit in units:
            yield process_unit(unit, job)
    elif backend == "pool":
        yield from _map_pool(units, job, n)
    else:
        yield from _map_ray(units, job, ray_address, n)


def _map_pool(units: list[Unit], job: Job, n: int) -> Iterator[UnitResult]:
    # spawn, not fork: the caller may hold threads (Prefect, Ray, a web server).
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        window: deque = deque()
        try:
            for unit in units:
                window.append(pool.submit(process_unit, unit, job))
                if len(window) >= 2 * n:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        except BrokenProcessPool:
            raise ArlmError(
                "ingest: a reader process died (out of memory, killed, or a script calling ingest "
                "without `if __name__ == '__main__':`; workers=1 reads in-process)"
            ) from None
        finally:
            for f in window:
                f.cancel()


def _map_ray(units: list[Unit], job: Job, address: str | None, n: int) -> Iterator[UnitResult]:
    import ray

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    remote = ray.remote(num_cpus=1, max_retries=2)(process_unit)
    limit = 2 * (n or max(1, int(ray.cluster_resources().get("CPU", 1))))
    window: deque = deque()
    for unit in units:
        window.append(remote.remote(unit, job))
        if len(window) >= limit:
            yield ray.get(window.popleft())
    while window:
        yield ray.get(window.popleft())
