"""The pipeline's stages: each a plain function from a typed config (and its inputs' ids) to a
versioned artifact, recorded in the catalog.

Stages pass ids, not objects: every input is loaded from the project home by its id, so a stage
can run in another process (a Prefect task, a worker) and its arguments serialize as JSON. The
library functions they call write content-addressed, atomically renamed folders and reuse an
existing one, so calling a stage again with the same inputs does no work. Nothing here imports
Prefect; ``flows/`` wraps these functions in tasks.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from arlm.defaults import DEFAULT_RESUME, RESUME_MODES
from arlm.errors import ConfigError
from arlm.home import Home
from arlm.versioning import content_hash, git_commit

Progress = Callable[[str], None]


def _say(progress: Progress | None, msg: str) -> None:
    (progress or (lambda m: print(m, file=sys.stderr, flush=True)))(msg)


def _catalog(home: Home):
    from arlm.catalog import Catalog

    return Catalog(home.catalog_path)


# --------------------------------------------------------------------------------------------
# ingest -> tokenizer -> token dataset
# --------------------------------------------------------------------------------------------
def ingest_stage(cfg, home: Home, progress: Progress | None = None) -> dict[str, Any]:
    """Corpus SPEC -> corpus version (Parquet in the lake + catalog rows)."""
    from arlm.data.ingest import ingest

    home.ensure()
    cv = ingest(cfg, home)
    _catalog(home).record_corpus_version(cv)
    verb = "unchanged, reusing" if getattr(cv, "reused", False) else "ingested"
    _say(progress, f"[ingest] {verb} corpus version {cv.id} ({_split_summary(cv.stats)})")
    return {"corpus_id": cv.id, "path": str(cv.path), "reused": bool(getattr(cv, "reused", False)), "stats": cv.stats}


def _split_summary(stats: dict[str, Any]) -> str:
    splits = stats.get("splits", {}) if isinstance(stats, dict) else {}
    parts = [f"{name}: {s.get('n_docs', '?')} docs, {s.get('n_bytes', 0) / 1e6:.2f} MB" for name, s in splits.items()]
    return "; ".join(parts) or "no split stats"


def tokenizer_stage(cfg, corpus_id: str, home: Home, progress: Progress | None = None) -> dict[str, Any]:
    """Corpus version -> tokenizer version (trained on the train split)."""
    from arlm.data import load_corpus_version
    from arlm.tokenizers import build_tokenizer

    cv = load_corpus_version(home, corpus_id)
    art = build_tokenizer(cfg, cv, home.tokenizers)
    _catalog(home).record_tokenizer(art.id, corpus_id, art.kind, art.vocab_size, art.path, art.meta)
    verb = "reusing" if getattr(art, "reused", False) else "built"
    _say(progress, f"[tokenizer] {verb} {art.kind} tokenizer {art.id} (vocab {art.vocab_size})")
    return {
        "tokenizer_id": art.id,
        "path": str(art.path),
        "vocab_size": art.vocab_size,
        "reused": bool(getattr(art, "reused", False)),
    }


def tokenize_stage(corpus_id: str, tokenizer_id: str, home: Home, progress: Progress | None = None) -> dict[str, Any]:
    """Corpus version + tokenizer -> token dataset (memory-mappable shards + manifest)."""
    from arlm.data import load_corpus_version
    from arlm.tokenizers import TokenizerArtifact, tokenize

    cv = load_corpus_version(home, corpus_id)
    art = TokenizerArtifact.open(home.tokenizers / tokenizer_id)
    ds = tokenize(cv, art, home.tokens)
    _catalog(home).record_token_dataset(ds.id, tokenizer_id, corpus_id, ds.path, ds.manifest)
    counts = ", ".join(f"{s}: {ds.n_tokens(s):,}" for s in ds.manifest["splits"])
    verb = "reusing" if getattr(ds, "reused", False) else "wrote"
    _say(progress, f"[tokenize] {verb} token dataset {ds.id} (tokens {counts})")
    return {"dataset_id": ds.id, "path": str(ds.path), "reused": bool(getattr(ds, "reused", False))}


# --------------------------------------------------------------------------------------------
# train -> evaluate -> register
# --------------------------------------------------------------------------------------------
def _dataset_lineage(home: Home, dataset_id: str) -> dict[str, str]:
    from arlm.training.sampler import open_token_data

    ds = open_token_data(home.tokens / dataset_id)
    lineage = {
        "arlm.corpus_version": ds.manifest.get("corpus_id", ""),
        "arlm.tokenizer_version": ds.manifest.get("tokenizer_id", ""),
        "arlm.token_dataset_version": dataset_id,
    }
    if ds.manifest.get("task") == "translation":  # sentence pairs: the source side's tokenizer too
        lineage["arlm.task"] = "translation"
        lineage["arlm.src_tokenizer_version"] = ds.manifest.get("src_tokenizer_id", "")
    return lineage


RUN_FILE = "run.json"  # written when a run starts: its MLflow run, config and dataset
SUMMARY_FILE = "summary.json"  # written when it is done: a run folder without one is unfinished


def run_base_id(run_name: str, train_cfg, dataset_id: str) -> str:
    """The run id that the same (name, train config, token dataset) always gets: rerunning a
    command finds its interrupted run under it. Later runs of a finished one add ``-2``, ``-3``..."""
    return f"{run_name}-{content_hash(train_cfg, dataset_id)[:10]}"


class _RunDir:
    """A claimed run folder: an exclusive ``flock`` on ``.lock`` held while this process trains
    in it, released by the kernel when the process ends, even under SIGKILL, so a live run is
    never resumed by a second one and a dead one always can be."""

    def __init__(self, path: Path, fd: int, resumed: bool):
        self.path, self.fd, self.resumed = path, fd, resumed

    @property
    def run_id(self) -> str:
        return self.path.name

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _try_lock(path: Path) -> int:
    import fcntl

    fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return -1
    return fd


def claim_run_dir(runs: Path, base: str, resume: str) -> _RunDir:
    """``resume="auto"``: the first of ``base``, ``base-2``, ... that is unfinished (no
    summary.json) and not held by a live process is resumed; otherwise the first free name starts
    afresh. ``"never"``: always the first free name. A finished run is never touched again: its
    rerun is a new run beside it (under a step budget it ends with the same weights)."""
    if resume not in RESUME_MODES:
        raise ConfigError(f"--resume must be one of {', '.join(RESUME_MODES)}, got {resume!r}")
    runs.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        path = runs / (base if i == 1 else f"{base}-{i}")
        try:
            path.mkdir()
        except FileExistsError:
            if resume == "auto" and not (path / SUMMARY_FILE).exists():
                fd = _try_lock(path)
                if fd >= 0:
                    if not (path / SUMMARY_FILE).exists():  # finished while we looked
                        return _RunDir(path, fd, resumed=True)
                    os.close(fd)
            continue
        fd = _try_lock(path)
        if fd >= 0:
            return _RunDir(path, fd, resumed=False)
    raise ConfigError(f"{runs}: too many runs named {base}-N; remove old ones")


def _checkpoint_step(out_dir: Path) -> int | None:
    """The step of the run's latest checkpoint (unverified: the loop verifies it), or None."""
    import json

    for name in ("latest", "latest.prev"):
        state = out_dir / "checkpoints" / name / "train_state.json"
        try:
            return int(json.loads(state.read_text())["step"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def _reopen_mlflow_run(tracking_uri: str, mlflow_run_id: str) -> bool:
    """Mark an interrupted run RUNNING again (owned by this process); False if it is gone from
    the tracking store or deleted (the caller then starts a new run linked to it by a tag)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from arlm.training.tracking import reopen_run

    try:
        if mlflow.MlflowClient(tracking_uri=tracking_uri).get_run(mlflow_run_id).info.lifecycle_stage != "active":
            return False
        reopen_run(tracking_uri, mlflow_run_id)
    except MlflowException:
        return False
    return True


def train_stage(
    train_cfg,
    dataset_id: str,
    home: Home,
    ray_options,
    *,
    run_name: str = "train",
    progress: Progress | None = None,
    extra_tags: dict[str, str] | None = None,
    resume: str = DEFAULT_RESUME,
) -> dict[str, Any]:
    """Token dataset -> trained model (run folder with checkpoints) + an MLflow run.

    Neural kinds train under Ray Train (``ray_options.num_workers`` DDP workers); kinds trained by
    counting (n-gram) run the same ``train`` function under Ray with one worker.

    The run folder is ``<home>/runs/<run_name>-<hash of config and dataset>`` (see
    :func:`claim_run_dir`). With ``resume="auto"`` an unfinished one (killed, interrupted) is
    continued from its latest checkpoint in the same folder and the same MLflow run (kept in
    ``run.json``; a new run tagged ``arlm.resumed_from_mlflow_run`` if that one is gone); under
    a step budget the result is bit for bit the uninterrupted one. ``resume="never"`` starts
    afresh in a new folder.
    """
    from arlm.models.registry import model_class
    from arlm.training.ray_launcher import RayOptions
    from arlm.training.sampler import open_token_data

    ds_path = home.tokens / dataset_id
    open_token_data(ds_path)  # a missing or damaged dataset fails here, before any run folder
    counting = not train_cfg.is_seq2seq and not model_class(train_cfg.kind).trainable
    if counting and ray_options.num_workers != 1:
        ray_options = RayOptions(**{**asdict(ray_options), "num_workers": 1})  # counting: one worker
    ray_options.validate()
    train_cfg.validate(ds_path, world_size=ray_options.num_workers)  # before any worker starts

    _catalog(home).require()  # a deleted catalog fails now, not after the training
    claimed = claim_run_dir(home.runs, run_base_id(run_name, train_cfg, dataset_id), resume)
    try:
        return _train_in(
            claimed,
            train_cfg,
            dataset_id,
            ds_path,
            home,
            ray_options,
            run_name=run_name,
            progress=progress,
            extra_tags=extra_tags,
        )
    finally:
        claimed.release()


def _train_in(
    claimed: _RunDir,
    train_cfg,
    dataset_id: str,
    ds_path: Path,
    home: Home,
    ray_options,
    *,
    run_name: str,
    progress: Progress | None,
    extra_tags: dict[str, str] | None,
) -> dict[str, Any]:
    import json

    from arlm.training.ray_launcher import RESULT_FILE, config_to_dict, train_with_ray
    from arlm.training.tracking import RunLogger, end_run, loss_curve_png, start_run
    from arlm.versioning import atomic_write_json

    run_id, out_dir = claimed.run_id, claimed.path
    tags = {
        **_dataset_lineage(home, dataset_id),
        "arlm.model": train_cfg.model,
        "arlm.run_id": run_id,
        "arlm.git_commit": git_commit(),
        "arlm.num_workers": str(ray_options.num_workers),
        **(extra_tags or {}),
    }
    params = {"train": config_to_dict(train_cfg), "num_workers": ray_options.num_workers, "dataset_id": dataset_id}
    tracking_uri = home.mlflow_tracking_uri
    run_file = out_dir / RUN_FILE
    previous: dict[str, Any] = {}
    if claimed.resumed and run_file.is_file():
        try:
            previous = json.loads(run_file.read_text())
        except (OSError, ValueError):
            previous = {}
    mlflow_run_id = previous.get("mlflow_run_id")
    if mlflow_run_id and not _reopen_mlflow_run(tracking_uri, mlflow_run_id):
        tags["arlm.resumed_from_mlflow_run"] = mlflow_run_id
        mlflow_run_id = None
    if not mlflow_run_id:
        mlflow_run_id = start_run(
            tracking_uri, run_name=run_id, params=params, tags=tags, artifact_location=home.mlflow_artifact_root
        )
    atomic_write_json(
        run_file,
        {
            "run_id": run_id,
            "mlflow_run_id": mlflow_run_id,
            "run_name": run_name,
            "dataset_id": dataset_id,
            "train": config_to_dict(train_cfg),
            "started": previous.get("started", time.time()),
            "attempts": int(previous.get("attempts", 0)) + 1,
        },
    )
    step = None
    if claimed.resumed:
        (out_dir / RESULT_FILE).unlink(missing_ok=True)  # the new attempt writes its own
        step = _checkpoint_step(out_dir)
        where = f"from step {step}" if step is not None else "from step 0 (it had no checkpoint yet)"
        _say(progress, f"[train] resuming run {run_id} {where}; MLflow run {mlflow_run_id}")
    _say(
        progress,
        f"[train] {train_cfg.model} ({train_cfg.optimizer}) on {ray_options.num_workers} Ray worker(s); "
        f"run {run_id}; MLflow run {mlflow_run_id}",
    )
    try:
        launch = train_with_ray(
            train_cfg,
            ds_path,
            out_dir,
            options=ray_options,
            storage_path=home.ray_storage,
            run_name=run_id,
            tracking_uri=tracking_uri,
            mlflow_run_id=mlflow_run_id,
        )
    except BaseException:
        end_run(tracking_uri, mlflow_run_id, status="FAILED")
        raise
    res = launch.result
    logger = RunLogger(tracking_uri, mlflow_run_id)
    logger.log_metrics(
        {
            "restarts": launch.restarts,
            "train_wall_seconds": launch.wall_seconds,
            "best_val_loss": res.get("best_val_loss") or float("nan"),
        },
        res.get("steps", 0),
    )
    history = res.get("history") or []
    train_losses = [h["train_loss"] for h in history if h.get("train_loss") is not None]
    if history:
        png = loss_curve_png(history, out_dir / "loss_curve.png", title=f"{train_cfg.model} ({run_id})")
        logger.log_artifact(png)
    model_dir = Path(res.get("best_checkpoint") or res.get("latest_checkpoint") or out_dir / "checkpoints" / "latest")
    if getattr(train_cfg, "lora_rank", None):  # LoRA checkpoints hold adapters: register the merged model
        from arlm.hf.adapters import merge_checkpoint

        model_dir = merge_checkpoint(model_dir, out_dir / "merged")
    summary = {
        "run_id": run_id,
        "out_dir": str(out_dir),
        "mlflow_run_id": mlflow_run_id,
        "model_dir": str(model_dir),
        "dataset_id": dataset_id,
        "model": train_cfg.model,
        "restarts": launch.restarts,
        "wall_seconds": launch.wall_seconds,
        "steps": res.get("steps"),
        "tokens": res.get("tokens"),
        "first_train_loss": train_losses[0] if train_losses else None,
        "final_train_loss": train_losses[-1] if train_losses else None,
        "best_val_loss": res.get("best_val_loss"),
        "num_params": res.get("num_params"),
        "tokens_per_second": (res.get("tokens") or 0) / max(res.get("elapsed_s") or 0.0, 1e-9),
        "stopped_by": res.get("stopped_by"),
        "params": params,
    }
    summary["resumed_from_step"] = (step or 0) if claimed.resumed else None
    atomic_write_json(out_dir / SUMMARY_FILE, summary)
    _catalog(home).record_run(
        run_id,
        dataset_id,
        train_cfg.model,
        params,
        {k: v for k, v in summary.items() if isinstance(v, (int, float))},
        mlflow_run_id,
    )
    _say(
        progress,
        f"[train] done: {summary['steps']} steps in {launch.wall_seconds:.0f} s "
        f"(stopped by {summary['stopped_by']}), best val loss {summary['best_val_loss']}, "
        f"restarts {launch.restarts}",
    )
    return summary


def evaluate_stage(
    model_dir: str,
    dataset_id: str,
    home: Home,
    *,
    split: str = "test",
    mlflow_run_id: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """A model on a token dataset split: loss, perplexity, bits per byte, accuracy, and baselines
    (unigram model of the same tokens, gzip/bzip2/xz of the same bytes)."""
    from arlm.evaluation import compression_baselines, evaluate_tokens, unigram_bits_per_byte
    from arlm.models import load_model
    from arlm.tokenizers import TokenDataset

    ds = TokenDataset.open(home.tokens / dataset_id)
    if split not in ds.manifest["splits"] or ds.n_tokens(split) < 2:
        raise ConfigError(f"token dataset {dataset_id} has no usable '{split}' split")
    model = load_model(Path(model_dir))
    tokens = ds.tokens(split)
    n_bytes = ds.n_bytes(split)
    # every token scored, the first from the end-of-text that precedes each document
    metrics = evaluate_tokens(
        model, tokens, n_bytes, block_size=model.config.block_size, batch_size=16, bos_id=int(ds.manifest["eot_id"])
    )
    metrics["num_params"] = model.num_params()
    metrics["unigram_bits_per_byte"] = unigram_bits_per_byte(ds.tokens("train"), tokens, ds.vocab_size, n_bytes)
    from arlm.data import load_corpus_version, split_bytes

    raw = split_bytes(load_corpus_version(home, ds.manifest["corpus_id"]), split)
    for name, bpb in compression_baselines(raw).items():
        metrics[f"{name}_bits_per_byte"] = bpb
    metrics = {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in metrics.items()}
    if mlflow_run_id:
        from arlm.training.tracking import RunLogger

        RunLogger(home.mlflow_tracking_uri, mlflow_run_id).log_metrics({f"{split}_{k}": v for k, v in metrics.items()})
    _catalog(home).record_evaluation(
        model_dir=str(model_dir), dataset_id=dataset_id, split=split, metrics=metrics, mlflow_run_id=mlflow_run_id
    )
    _say(progress, "[evaluate] " + format_evaluation(metrics, split))
    return metrics


def format_evaluation(m: dict[str, Any], split: str = "test") -> str:
    return (
        f"{split}: loss {m['loss']:.3f} nats/token, perplexity {m['perplexity']:.1f}, "
        f"{m['bits_per_byte']:.3f} bits/byte (unigram {m['unigram_bits_per_byte']:.3f}, "
        f"gzip {m['gzip_bits_per_byte']:.3f}, bzip2 {m['bzip2_bits_per_byte']:.3f}, "
        f"xz {m['xz_bits_per_byte']:.3f}), accuracy {m['accuracy']:.3f}"
    )


def evaluate_model(
    model_uri: str,
    home: Home,
    *,
    split: str | None = None,
    text_file: str | Path | None = None,
    samples: int = 3,
    batch_size: int = 16,
) -> dict[str, Any]:
    """The report of a registered model (``arlm evaluate`` and the ``evaluate`` flow) on
    ``text_file`` (tokenized by the model's own tokenizer) or on ``split`` (default "test") of its
    token dataset (:func:`evaluate_stage`): ``{"title", "model", "source", "metrics", "samples"}``,
    also logged to the model's MLflow run (``evaluations/<label>/``, ``eval_<label>_*`` metrics) and
    recorded in the catalog's ``evaluations``. Bad files and unknown URIs raise ``ArlmError``
    before anything is written."""
    from arlm.evaluation.text import evaluate_text, read_text_file, sample_continuations, sample_prompts
    from arlm.registry.evaluate import log_report, split_prompts
    from arlm.registry.resolve import load_generator

    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        raise ConfigError(f"samples must be an integer >= 0, got {samples!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch size must be an integer >= 1, got {batch_size!r}")
    uri = home.mlflow_tracking_uri
    if text_file is not None:
        from arlm.versioning import sha256_file

        text = read_text_file(text_file)  # a bad file fails before the model loads
        gen = load_generator(model_uri, tracking_uri=uri)
        run_id = gen.resolved.run_id
        metrics = evaluate_text(gen, text, batch_size=batch_size)
        prompts = sample_prompts(text, samples)
        label, title = Path(text_file).name, f"{model_uri} on {text_file}"
        dataset_id = f"file:{sha256_file(text_file)[:16]}"
    else:
        from arlm.generation.text import TextGenerator
        from arlm.registry.resolve import resolve_model_for_eval
        from arlm.tokenizers import TokenDataset

        split = split or "test"
        model_dir, dataset_id, run_id = resolve_model_for_eval(model_uri, home, uri)
        # logs the split's metrics to the run and records the catalog row
        metrics = evaluate_stage(
            str(model_dir), dataset_id, home, split=split, mlflow_run_id=run_id, progress=lambda msg: None
        )
        # the model folder just fetched, with the tokenizer its token dataset was made with
        tokenizer_id = TokenDataset.open(home.tokens / dataset_id).tokenizer_id
        gen = TextGenerator.from_dirs(model_dir, home.tokenizers / tokenizer_id)
        prompts = split_prompts(home, dataset_id, split, gen, samples)
        label, title = split, f"{model_uri} on {dataset_id}:{split}"
    report = {
        "title": title,
        "model": model_uri,
        "source": label,
        "metrics": metrics,
        "samples": sample_continuations(gen, prompts[:samples]) if samples > 0 else [],
    }
    try:
        log_report(uri, run_id, report, label)
    except Exception as exc:  # the report is returned and printed anyway
        print(f"arlm: warning: evaluation not logged to MLflow ({exc})", file=sys.stderr)
    if text_file is not None:  # evaluate_stage recorded the split case already
        try:
            _catalog(home).record_evaluation(
                model_uri=model_uri, token_dataset_id=dataset_id, split=label, metrics=metrics, mlflow_run_id=run_id
            )
        except Exception as exc:
            print(f"arlm: warning: evaluation not recorded in the catalog ({exc})", file=sys.stderr)
    return report


def register_stage(
    train_summary: dict[str, Any],
    metrics: dict[str, Any],
    model_name: str,
    home: Home,
    *,
    split: str = "test",
    progress: Progress | None = None,
    base: tuple[str, float] | None = None,
    extra_tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Log the trained model as an MLflow pyfunc (from code) in its training run, register it as
    ``challenger``, and promote it to ``champion`` if it beats the current one (the gate).
    ``base``: (label, test bits per byte on the same split) of the model a fine-tuned one started
    from, which it must beat too; ``extra_tags`` go on the logged model and the version."""
    from arlm.registry import log_model, register_with_gate
    from arlm.tokenizers import TokenDataset
    from arlm.training.tracking import end_run

    ds = TokenDataset.open(home.tokens / train_summary["dataset_id"])
    lineage = _dataset_lineage(home, train_summary["dataset_id"])
    tokenizer_dir = home.tokenizers / lineage["arlm.tokenizer_version"]
    tags = {
        **lineage,
        "arlm.git_commit": git_commit(),
        "arlm.run_id": train_summary["run_id"],
        "arlm.token_dataset_path": str(ds.path),
        "arlm.model": train_summary["model"],
        **{f"metric.{split}_{k}": f"{v:.6g}" for k, v in metrics.items() if isinstance(v, float)},
        **(extra_tags or {}),
    }
    info = log_model(
        Path(train_summary["model_dir"]),
        tokenizer_dir,
        run_id=train_summary["mlflow_run_id"],
        name=model_name,
        metrics={f"{split}_{k}": v for k, v in metrics.items()},
        tags=tags,
        tracking_uri=home.mlflow_tracking_uri,
        description=None,
    )
    test_split_id = f"{lineage['arlm.token_dataset_version']}:{split}"
    decision = register_with_gate(
        info.model_uri,
        model_name,
        metrics["bits_per_byte"],
        test_split_id,
        tracking_uri=home.mlflow_tracking_uri,
        tags=tags,
        unigram_bpb=metrics.get("unigram_bits_per_byte"),
        catalog=home.catalog_path,
        base=base,
    )
    end_run(home.mlflow_tracking_uri, train_summary["mlflow_run_id"])
    _catalog(home).record_model(
        model_name,
        int(decision.version),
        train_summary["run_id"],
        f"models:/{model_name}/{decision.version}",
        {k: v for k, v in metrics.items() if isinstance(v, float)},
    )
    _say(progress, f"[register] {decision.summary()}")
    return {
        "name": model_name,
        "version": int(decision.version),
        "promoted": bool(decision.promoted),
        "uri": f"models:/{model_name}@champion" if decision.promoted else f"models:/{model_name}/{decision.version}",
        "decision_markdown": decision.markdown(),
    }


# --------------------------------------------------------------------------------------------
# helpers shared by flows and the CLI
# --------------------------------------------------------------------------------------------
def sample_generation(
    model_dir: str | Path, tokenizer_dir: str | Path, prompt: str, max_new_tokens: int = 40, seed: int = 0
) -> str:
    """A short sampled continuation for the end-of-pipeline report (temperature 0.8, top-k 40,
    seeded: the same model gives the same sample; greedy decoding of a small model loops)."""
    from arlm.generation import GenerationConfig, generate
    from arlm.models import load_model
    from arlm.tokenizers import load_tokenizer

    model = load_model(Path(model_dir))
    tok = load_tokenizer(Path(tokenizer_dir))
    ids = tok.encode(prompt)
    limit = model.max_context
    if limit is not None and len(ids) > limit:  # the window slides; say that the prompt was cut
        _say(None, f"[sample] prompt of {len(ids)} tokens cut to the model's context of {limit}")
    out = generate(
        model,
        [ids],
        GenerationConfig(max_new_tokens=max_new_tokens, temperature=0.8, top_k=40, seed=seed),
        on_notice=lambda m: None,
    )
    return tok.decode(out[0])
