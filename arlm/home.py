"""Where runtime state lives.

The project home (default ``./.arlm``, overridden by ``ARLM_HOME`` or ``--home``) holds::

    lake/            corpus versions as Parquet (one folder per version)
    catalog.duckdb   the DuckDB catalog
    tokenizers/      one folder per tokenizer version (tokenizer.json + meta)
    tokens/          one folder per token dataset version (shards + manifest)
    runs/            training outputs (checkpoints), one folder per run
    ray/             Ray Train storage (RunConfig.storage_path)
    mlflow/          the embedded MLflow store (mlflow.db + artifacts) unless MLFLOW_TRACKING_URI is set
    logs/            logs of the local stack (infra)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "ARLM_HOME"


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def tokenizers(self) -> Path:
        return self.root / "tokenizers"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def ray_storage(self) -> Path:
        return self.root / "ray"

    @property
    def mlflow_dir(self) -> Path:
        return self.root / "mlflow"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def mlflow_tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI`` if set, else a SQLite store under the home."""
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if uri:
            return uri
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> str | None:
        """Artifacts of a SQLite store live in ``artifacts/`` beside its database (the home's by
        default); a tracking server decides its own (None). Never MLflow's default ``./mlruns`` of
        the current directory (``mlflow.set_tracking_uri`` exports ``MLFLOW_TRACKING_URI``, so
        that variable alone does not mean a server)."""
        uri = self.mlflow_tracking_uri
        if uri.startswith("sqlite:///"):
            return (Path(uri[len("sqlite:///") :]).expanduser().resolve().parent / "artifacts").as_uri()
        return None

    def ensure(self) -> Home:
        for p in (
            self.lake,
            self.tokenizers,
            self.tokens,
            self.runs,
            self.ray_storage,
            self.mlflow_dir,
            self.logs,
            self.cache,
        ):
            p.mkdir(parents=True, exist_ok=True)
        return self


def get_home(path: str | os.PathLike | None = None) -> Home:
    """Resolve the project home: explicit ``path``, then ``$ARLM_HOME``, then ``./.arlm``."""
    raw = path or os.environ.get(ENV_HOME) or ".arlm"
    return Home(Path(raw).expanduser().resolve())
