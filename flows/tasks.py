"""Prefect tasks around ``arlm.stages``: retries, caching, concurrency and artifacts live here,
the work itself in the stage functions.

Caching: the ingest/tokenizer/tokenize tasks are keyed on the hash of their config, their inputs'
versions and a cheap fingerprint of the source files, plus the list of artifacts present in the
home, so a rerun with unchanged inputs is a cache hit (Prefect logs "Cached"), and deleting an
artifact invalidates the key instead of handing back an id that no longer exists. Results are
stored as JSON, never pickles.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from arlm import stages
from arlm.home import Home, get_home
from arlm.versioning import content_hash

TRAINING_CONCURRENCY = "arlm-training"
CACHE_EXPIRATION = timedelta(days=30)


def home_of(params_home: str | None) -> Home:
    return get_home(params_home).ensure()


def _logger_progress():
    try:
        log = get_run_logger()
        return log.info
    except Exception:  # outside a run context (direct calls in tests)
        return lambda m: print(m, file=sys.stderr, flush=True)


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" not in p.name) if folder.exists() else []


def source_fingerprint(spec: str) -> Any:
    """Cheap stand-in for the source manifest: sizes and mtimes of local files, the Python build
    for stdlib corpora, the spec itself otherwise (URLs carry their sha256, hf: names their data)."""
    if spec.startswith("stdlib-"):
        import sysconfig

        return [spec, sys.version, sysconfig.get_paths()["stdlib"]]
    path = Path(spec.rsplit(":", 1)[0] if ":" in spec and not Path(spec).exists() else spec)
    if path.is_file():
        st = path.stat()
        return [spec, st.st_size, st.st_mtime_ns]
    if path.is_dir():
        rows = []
        for root, _dirs, files in os.walk(path, followlinks=False):
            for f in files:
                try:
                    st = os.stat(os.path.join(root, f))
                except OSError:
                    continue
                rows.append((os.path.relpath(os.path.join(root, f), path), st.st_size, st.st_mtime_ns))
        return [spec, sorted(rows)]
    return [spec]


def _ingest_key(ctx, parameters: dict[str, Any]) -> str:
    cfg = parameters["cfg"]
    home = home_of(parameters.get("home_root"))
    return "ingest-" + content_hash(cfg.model_dump(), source_fingerprint(cfg.corpus), str(home.root),
                                    _listing(home.lake))


def _tokenizer_key(ctx, parameters: dict[str, Any]) -> str:
    home = home_of(parameters.get("home_root"))
    return "tokenizer-" + content_hash(parameters["cfg"].model_dump(), parameters["corpus_id"],
                                       str(home.root), _listing(home.tokenizers))


def _tokenize_key(ctx, parameters: dict[str, Any]) -> str:
    home = home_of(parameters.get("home_root"))
    return "tokenize-" + content_hash(parameters["corpus_id"], parameters["tokenizer_id"],
                                      str(home.root), _listing(home.tokens))


_cached = dict(persist_result=True, result_serializer="json", cache_expiration=CACHE_EXPIRATION)


def transient_only(task, task_run, state) -> bool:
    """Retry only what may pass on a second try: never a user error (bad path, bad config)."""
    from arlm.errors import ArlmError

    try:
        state.result()
    except ArlmError:
        return False
    except Exception:
        return True
    return True


@task(name="ingest", cache_key_fn=_ingest_key, retries=2, retry_delay_seconds=[5, 30],
      retry_condition_fn=transient_only, **_cached)
def ingest_task(cfg, home_root: str | None = None) -> dict[str, Any]:
    from arlm.data import load_corpus_version, report_markdown

    home = home_of(home_root)
    out = stages.ingest_stage(cfg, home, progress=_logger_progress())
    create_markdown_artifact(report_markdown(load_corpus_version(home, out["corpus_id"])), key="data-report",
                             description=f"Corpus version {out['corpus_id']}")
    return out


@task(name="build-tokenizer", cache_key_fn=_tokenizer_key, **_cached)
def tokenizer_task(cfg, corpus_id: str, home_root: str | None = None) -> dict[str, Any]:
    return stages.tokenizer_stage(cfg, corpus_id, home_of(home_root), progress=_logger_progress())


@task(name="tokenize", cache_key_fn=_tokenize_key, **_cached)
def tokenize_task(corpus_id: str, tokenizer_id: str, home_root: str | None = None) -> dict[str, Any]:
    return stages.tokenize_stage(corpus_id, tokenizer_id, home_of(home_root), progress=_logger_progress())


def _ensure_concurrency_limit(name: str, limit: int = 1) -> None:
    """Create the global concurrency limit on first use so two trainings never share a GPU."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except Exception:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            except Exception:  # created concurrently
                pass


@task(name="train", task_run_name="train-{train_cfg.model}")
def train_task(train_cfg, dataset_id: str, ray_options, home_root: str | None = None,
               run_name: str = "train") -> dict[str, Any]:
    from prefect.concurrency.sync import concurrency

    _ensure_concurrency_limit(TRAINING_CONCURRENCY)
    with concurrency(TRAINING_CONCURRENCY, occupy=1, strict=False):
        return stages.train_stage(train_cfg, dataset_id, home_of(home_root), ray_options,
                                  run_name=run_name, progress=_logger_progress())


@task(name="evaluate", retries=1, retry_delay_seconds=5, retry_condition_fn=transient_only)
def evaluate_task(model_dir: str, dataset_id: str, home_root: str | None = None, split: str = "test",
                  mlflow_run_id: str | None = None) -> dict[str, Any]:
    return stages.evaluate_stage(model_dir, dataset_id, home_of(home_root), split=split,
                                 mlflow_run_id=mlflow_run_id, progress=_logger_progress())


@task(name="register", retries=2, retry_delay_seconds=[5, 20], retry_condition_fn=transient_only)
def register_task(train_summary: dict[str, Any], metrics: dict[str, Any], model_name: str,
                  home_root: str | None = None) -> dict[str, Any]:
    out = stages.register_stage(train_summary, metrics, model_name, home_of(home_root),
                                progress=_logger_progress())
    create_markdown_artifact(out["decision_markdown"], key="registration",
                             description=f"{model_name} version {out['version']}")
    return out
