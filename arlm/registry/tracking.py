"""MLflow set-up shared by the registry functions: the home's store, quiet and offline-safe.

MLflow's fluent API (``mlflow.pyfunc.log_model``, ``register_model``) reads a process-global
tracking URI; every registry entry point calls :func:`use_tracking` first so the URI is always the
home's (``Home.mlflow_tracking_uri``: ``$MLFLOW_TRACKING_URI`` or SQLite under the home) or the one
passed explicitly. Experiments created here keep their artifacts under the home too (MLflow's
default for a SQLite store is a folder relative to the current directory).
"""

from __future__ import annotations

import os
from typing import Any

EXPERIMENT = "arlm"


def use_tracking(tracking_uri: str | None = None) -> Any:
    """Point MLflow at ``tracking_uri`` (default: the home's) and return an ``MlflowClient``."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    from arlm.home import get_home

    home = get_home()
    if tracking_uri is None:
        tracking_uri = home.mlflow_tracking_uri
        if tracking_uri.startswith("sqlite:"):
            home.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def ensure_experiment(client: Any, name: str = EXPERIMENT) -> str:
    """The id of experiment ``name``, created with its artifacts under the home if missing."""
    from arlm.home import get_home

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=get_home().mlflow_artifact_root)
    except Exception:  # created meanwhile by another process
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id
