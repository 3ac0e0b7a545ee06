"""Prefect tasks around ``arlm.stages``: retries, caching, concurrency and artifacts live here,
the work itself in the stage functions.

Caching: the ingest task is keyed on the corpus version id (the data layer's hash of the source
manifest and cleaning config), the tokenizer/tokenize tasks on their config and inputs' versions;
each key also says whether the artifact is still in the home, so a rerun with unchanged inputs is a
cache hit (Prefect logs "Cached") and deleting an artifact invalidates the key instead of handing
back an id that no longer exists. Results are
stored as JSON, never pickles.
"""

from __future__ import annotations

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


# Each stage's artifact id, computed without doing the work: the cache key, and the folder whose
# presence decides whether a cached result may be used.
def ingest_target(cfg, home: Home) -> Path:
    from arlm.data.ingest import version_id_for
    from arlm.data.sources import plan_source

    return home.lake / version_id_for(cfg, plan_source(cfg, home.cache / "downloads"))


def tokenizer_target(cfg, corpus_id: str, home: Home) -> Path:
    from types import SimpleNamespace

    from arlm.tokenizers import tokenizer_id

    return home.tokenizers / tokenizer_id(cfg, SimpleNamespace(id=corpus_id))


def tokenize_target(corpus_id: str, tokenizer_id: str, home: Home) -> Path:
    from arlm.tokenizers.dataset import DEFAULT_SHARD_TOKENS, token_dataset_id

    return home.tokens / token_dataset_id(corpus_id, tokenizer_id, DEFAULT_SHARD_TOKENS)


def _key(stage: str, target: Path, home: Home) -> str:
    return f"{stage}-{target.name}-{content_hash(str(home.root), length=8)}"


def _ingest_key(ctx, parameters: dict[str, Any]) -> str:
    home = home_of(parameters.get("home_root"))
    return _key("ingest", ingest_target(parameters["cfg"], home), home)


def _tokenizer_key(ctx, parameters: dict[str, Any]) -> str:
    home = home_of(parameters.get("home_root"))
    return _key("tokenizer", tokenizer_target(parameters["cfg"], parameters["corpus_id"], home), home)


def _tokenize_key(ctx, parameters: dict[str, Any]) -> str:
    home = home_of(parameters.get("home_root"))
    return _key("tokenize", tokenize_target(parameters["corpus_id"], parameters["tokenizer_id"], home), home)


def run_cached(task_fn, target: Path, *args: Any) -> Any:
    """Call a cached task; if its artifact is gone from the home (deleted by hand), refresh the
    cache instead of handing back the id of something that no longer exists."""
    fn = task_fn if target.is_dir() else task_fn.with_options(refresh_cache=True)
    return fn(*args)


_cached = dict(persist_result=True, result_serializer="json", cache_expiration=CACHE_EXPIRATION)


def transient_only(task, task_run, state) -> bool:
    """Retry only what may pass on a second try (network, locks, I/O hiccups: OSError and its
    kin), never a user error (bad path, bad config: ArlmError) or a bug."""
    from arlm.errors import ArlmError

    try:
        state.result()
    except ArlmError:
        return False
    except (OSError, TimeoutError, ConnectionError):
        return True
    except Exception:
        return False
    return False


@task(
    name="ingest",
    cache_key_fn=_ingest_key,
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=transient_only,
    **_cached,
)
def ingest_task(cfg, home_root: str | None = None) -> dict[str, Any]:
    from arlm.data import load_corpus_version, report_markdown

    home = home_of(home_root)
    out = stages.ingest_stage(cfg, home, progress=_logger_progress())
    create_markdown_artifact(
        report_markdown(load_corpus_version(home, out["corpus_id"])),
        key="data-report",
        description=f"Corpus version {out['corpus_id']}",
    )
    return out


@task(name="build-tokenizer", cache_key_fn=_tokenizer_key, **_cached)
def tokenizer_task(cfg, corpus_id: str, home_root: str | None = None) -> dict[str, Any]:
    return stages.tokenizer_stage(cfg, corpus_id, home_of(home_root), progress=_logger_progress())


@task(name="tokenize", cache_key_fn=_tokenize_key, **_cached)
def tokenize_task(
    corpus_id: str, tokenizer_id: str, home_root: str | None = None, ray_address: str | None = None
) -> dict[str, Any]:
    if ray_address:  # encode as Ray tasks on the cluster's nodes (the ids are the same either way)
        from arlm.training.ray_launcher import ensure_ray

        ensure_ray(ray_address)
    return stages.tokenize_stage(corpus_id, tokenizer_id, home_of(home_root), progress=_logger_progress())


def _ensure_concurrency_limit(name: str, limit: int = 1) -> None:
    """Create the global concurrency limit on first use so two trainings never share a GPU."""
    from arlm.infra.slots import ensure_limit

    ensure_limit(name, limit)


@task(name="train", task_run_name="train-{train_cfg.model}")
def train_task(
    train_cfg,
    dataset_id: str,
    ray_options,
    home_root: str | None = None,
    run_name: str = "train",
    resume: str | None = None,
) -> dict[str, Any]:
    from arlm.infra.slots import hold
    from arlm.training.tracking import reclaim_stale_runs

    progress = _logger_progress()
    home = home_of(home_root)
    for rid in reclaim_stale_runs(home.mlflow_tracking_uri):  # left RUNNING by a killed process
        progress(f"[train] MLflow run {rid} was left RUNNING by a process that died: marked KILLED")
    extra = {} if resume is None else {"resume": resume}
    # One training at a time: a 60 s lease renewed while this process lives, so a killed holder
    # blocks nobody for long; while waiting, who holds it is printed (arlm.infra.slots).
    with hold(TRAINING_CONCURRENCY, say=progress, label=f"{run_name} {train_cfg.model}"):
        return stages.train_stage(
            train_cfg, dataset_id, home, ray_options, run_name=run_name, progress=progress, **extra
        )


@task(name="evaluate", retries=1, retry_delay_seconds=5, retry_condition_fn=transient_only)
def evaluate_task(
    model_dir: str, dataset_id: str, home_root: str | None = None, split: str = "test", mlflow_run_id: str | None = None
) -> dict[str, Any]:
    return stages.evaluate_stage(
        model_dir, dataset_id, home_of(home_root), split=split, mlflow_run_id=mlflow_run_id, progress=_logger_progress()
    )


@task(name="register", retries=2, retry_delay_seconds=[5, 20], retry_condition_fn=transient_only)
def register_task(
    train_summary: dict[str, Any], metrics: dict[str, Any], model_name: str, home_root: str | None = None
) -> dict[str, Any]:
    out = stages.register_stage(train_summary, metrics, model_name, home_of(home_root), progress=_logger_progress())
    create_markdown_artifact(
        out["decision_markdown"], key="registration", description=f"{model_name} version {out['version']}"
    )
    return out


def ingest_cached(cfg, root: str | None) -> dict[str, Any]:
    return run_cached(ingest_task, ingest_target(cfg, home_of(root)), cfg, root)


def tokenizer_cached(cfg, corpus_id: str, root: str | None) -> dict[str, Any]:
    return run_cached(tokenizer_task, tokenizer_target(cfg, corpus_id, home_of(root)), cfg, corpus_id, root)


def tokenize_cached(
    corpus_id: str, tokenizer_id: str, root: str | None, ray_address: str | None = None
) -> dict[str, Any]:
    return run_cached(
        tokenize_task,
        tokenize_target(corpus_id, tokenizer_id, home_of(root)),
        corpus_id,
        tokenizer_id,
        root,
        ray_address,
    )
