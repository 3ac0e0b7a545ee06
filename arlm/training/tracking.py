"""MLflow tracking for training runs.

The driver creates the run (:func:`start_run`) and passes its id to the workers; rank 0 alone logs
into it through :class:`RunLogger`, so a 2-worker DDP run writes one set of curves. Everything goes
through ``MlflowClient`` with an explicit tracking URI: no global MLflow state leaks between runs or
tests. MLflow is imported only here, in ``arlm.registry`` and in ``arlm.stages`` (always inside functions).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DEFAULT_EXPERIMENT = "arlm"
_MAX_PARAM_LEN = 6000
# Who is running a run: "host:pid:start_time" (start time from /proc, so a reused pid is no match).
OWNER_TAG = "arlm.owner"


def _client(tracking_uri: str):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=tracking_uri)


def ensure_experiment(tracking_uri: str, name: str = DEFAULT_EXPERIMENT, artifact_location: str | None = None) -> str:
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except Exception:  # created concurrently by another process
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> ``{"a.b": v}`` for MLflow params."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def start_run(
    tracking_uri: str,
    *,
    run_name: str,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    artifact_location: str | None = None,
) -> str:
    """Create an MLflow run (status RUNNING) and return its id."""
    from mlflow.entities import Param

    client = _client(tracking_uri)
    exp_id = ensure_experiment(tracking_uri, experiment, artifact_location)
    run = client.create_run(
        exp_id, run_name=run_name, tags={**{k: str(v) for k, v in (tags or {}).items()}, OWNER_TAG: owner_tag()}
    )
    if params:
        flat = flatten(params)
        batch = [Param(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in sorted(flat.items())]
        batch = [Param(p.key, p.value[:_MAX_PARAM_LEN]) for p in batch]
        for i in range(0, len(batch), 100):
            client.log_batch(run.info.run_id, params=batch[i : i + 100])
    return run.info.run_id


def end_run(tracking_uri: str, run_id: str, status: str = "FINISHED") -> None:
    _client(tracking_uri).set_terminated(run_id, status=status)


def owner_tag(pid: int | None = None) -> str:
    """``host:pid:start_time`` of this process (or ``pid``)."""
    import os
    import socket

    from arlm.infra.procs import start_time_of

    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_time_of(pid) or 0}"


def owner_alive(tag: str | None) -> bool | None:
    """True/False when the owner is known to be alive/dead; None when it cannot be told (no tag,
    or another host)."""
    import socket

    from arlm.infra.procs import is_alive

    if not tag:
        return None
    try:
        host, pid, start = tag.rsplit(":", 2)
        pid_i, start_i = int(pid), int(start)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    return is_alive(pid_i, start_i or None)


def stale_runs(tracking_uri: str, experiment: str | None = None) -> list[Any]:
    """RUNNING runs whose recorded owner process is dead (on this host)."""
    client = _client(tracking_uri)
    exps = [client.get_experiment_by_name(experiment)] if experiment else client.search_experiments()
    ids = [e.experiment_id for e in exps if e is not None]
    if not ids:
        return []
    out = []
    for run in client.search_runs(ids, filter_string="attributes.status = 'RUNNING'", max_results=1000):
        if owner_alive(run.data.tags.get(OWNER_TAG)) is False:
            out.append(run)
    return out


def reclaim_stale_runs(tracking_uri: str, *, dry_run: bool = False) -> list[str]:
    """Mark KILLED each run left RUNNING by a process that died; returns their ids."""
    ids = []
    for run in stale_runs(tracking_uri):
        ids.append(run.info.run_id)
        if not dry_run:
            client = _client(tracking_uri)
            client.set_tag(run.info.run_id, "arlm.killed_owner", run.data.tags.get(OWNER_TAG, ""))
            client.set_terminated(run.info.run_id, status="KILLED")
    return ids


def reopen_run(tracking_uri: str, run_id: str) -> None:
    """Continue an existing run (a resumed training): status RUNNING again, owned by this process."""
    client = _client(tracking_uri)
    client.update_run(run_id, status="RUNNING")
    client.set_tag(run_id, OWNER_TAG, owner_tag())


class RunLogger:
    """Logs metrics/tags/artifacts into an existing run. Cheap to create inside a worker."""

    def __init__(self, tracking_uri: str, run_id: str):
        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.client = _client(tracking_uri)
        self._monitor = None

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        batch = [
            Metric(k, float(v), ts, int(step or 0))
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
        ]
        if batch:
            self.client.log_batch(self.run_id, metrics=batch)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dict(self, obj: Any, name: str) -> None:
        self.client.log_dict(self.run_id, obj, name)

    def start_system_metrics(self, interval_s: float = 5.0) -> None:
        """CPU/memory (and GPU when present) sampled into the run by MLflow's own monitor."""
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
        except ImportError:  # psutil missing: system metrics are optional
            return
        self._monitor = SystemMetricsMonitor(self.run_id, sampling_interval=interval_s, tracking_uri=self.tracking_uri)
        self._monitor.start()

    def stop_system_metrics(self) -> None:
        if self._monitor is not None:
            self._monitor.finish()
            self._monitor = None


def loss_curve_png(history: Iterable[Mapping[str, Any]], path: Path, title: str = "") -> Path:
    """Train (and validation) loss against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(history)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    tr = [(r["step"], r["train_loss"]) for r in rows if r.get("train_loss") is not None]
    va = [(r["step"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    if tr:
        ax.plot(*zip(*tr), label="train loss", lw=1)
    if va:
        ax.plot(*zip(*va), "o-", label="validation loss", lw=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
