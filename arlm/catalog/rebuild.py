"""``arlm catalog rebuild``: the catalog reconstructed from what the home and MLflow still hold.

Everything the stages record can be read back from where the artifacts live:

- corpus versions (with their corpus, Parquet files and source files): ``lake/<id>/corpus.json`` and
  ``sources.json``;
- tokenizers: ``tokenizers/<id>/tokenizer_meta.json``;
- token datasets: ``tokens/<id>/manifest.json`` (language-model and translation pair datasets);
- training runs: ``runs/<run_id>/summary.json`` (config from its ``params``, else from the MLflow
  run's parameters, else from ``run.json``), and the pipeline's test evaluation from the MLflow
  run's ``test_*`` metrics (a language model's bits per byte beside its unigram baseline, or a
  translation model's BLEU beside its copy-source baseline, with the sacreBLEU signatures and the
  test pairs' id from the run's ``test_*`` tags);
- registered models and their aliases: MLflow's registry (read with
  :mod:`arlm.registry.sqlite_registry` for the embedded store), a version's metrics from its run
  (the split its gate was measured on: tag ``arlm.test_split_id``, ``<data id>:<split>`` or, for
  translation models scored on the first N test pairs, ``<corpus id>:<split>:first-N``).

Every row goes through the same ``Catalog.record_*`` upserts as the stages, so the rebuilt rows
equal the recorded ones. Nothing is deleted: rebuilding an existing catalog fills what is missing
and refreshes the rest (aliases are replaced by MLflow's, which is the source of truth).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arlm.catalog.catalog import Catalog
from arlm.versioning import read_json

EVAL_SPLIT = "test"  # the split the pipeline's evaluate stage scores and logs as ``test_*``


@dataclass
class RebuildReport:
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # "what: why", one per artifact not recorded

    def add(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    def summary(self) -> str:
        order = (
            "corpus_versions",
            "tokenizers",
            "token_datasets",
            "training_runs",
            "evaluations",
            "models",
            "model_aliases",
        )
        parts = [f"{self.counts.get(k, 0)} {k}" for k in order]
        tail = f"; {len(self.skipped)} skipped" if self.skipped else ""
        return "rebuilt " + ", ".join(parts) + tail


def _unflatten(params: dict[str, str]) -> dict[str, Any]:
    """MLflow run params (``a.b`` keys, JSON-encoded non-string values) back to the nested dict."""
    out: dict[str, Any] = {}
    for key, raw in params.items():
        try:
            value = json.loads(raw)
        except (TypeError, ValueError):
            value = raw
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _subdirs(folder: Path) -> list[Path]:
    from arlm.versioning import TMP_MARK

    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and TMP_MARK not in p.name)


def rebuild_catalog(home: Any, *, progress: Callable[[str], None] | None = None) -> RebuildReport:
    """Record every artifact of ``home`` (a ``Home``) and every registered model of its MLflow
    store into ``home.catalog_path`` (created if missing). Artifacts that cannot be read are listed
    in the report's ``skipped``; they do not stop the others."""
    say = progress or (lambda msg: print(msg, file=sys.stderr))
    cat = Catalog(home.catalog_path, create=True)
    report = RebuildReport()

    def attempt(what: str, fn: Callable[[], None], kind: str) -> None:
        try:
            fn()
            report.add(kind)
        except Exception as exc:  # one unreadable folder must not stop the rebuild
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            report.skipped.append(f"{what}: {first}")
            say(f"[rebuild] skipped {what}: {first}")

    from arlm.data import load_corpus_version

    for d in _subdirs(home.lake):
        if (d / "corpus.json").is_file():
            attempt(
                f"corpus version {d.name}",
                lambda d=d: cat.record_corpus_version(load_corpus_version(home, d.name)),
                "corpus_versions",
            )

    from arlm.tokenizers import TokenDataset, TokenizerArtifact

    for d in _subdirs(home.tokenizers):
        if (d / "tokenizer_meta.json").is_file():

            def tok(d=d) -> None:
                art = TokenizerArtifact.open(d)
                cat.record_tokenizer(art.id, art.corpus_id, art.kind, art.vocab_size, art.path, art.meta)

            attempt(f"tokenizer {d.name}", tok, "tokenizers")

    for d in _subdirs(home.tokens):
        if (d / "manifest.json").is_file():

            def tokens(d=d) -> None:
                from arlm.translation.dataset import PairTokenDataset, is_pair_dataset

                ds = PairTokenDataset.open(d) if is_pair_dataset(d) else TokenDataset.open(d)
                cat.record_token_dataset(ds.id, ds.tokenizer_id, ds.corpus_id, ds.path, ds.manifest)

            attempt(f"token dataset {d.name}", tokens, "token_datasets")

    client = _mlflow_client(home)
    for d in _subdirs(home.runs):
        if (d / "summary.json").is_file():
            attempt(f"run {d.name}", lambda d=d: _record_run(cat, client, d, report), "training_runs")

    if client is not None:
        _record_models(cat, client, home.mlflow_tracking_uri, report, attempt)
    return report


def _mlflow_client(home: Any) -> Any | None:
    """A registry/tracking client of the home's MLflow store, or None when there is none."""
    uri = home.mlflow_tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).exists():
        return None
    from arlm.registry.tracking import use_tracking

    return use_tracking(uri)


def _run_data(client: Any, mlflow_run_id: str | None) -> Any | None:
    if client is None or not mlflow_run_id:
        return None
    try:
        return client.get_run(mlflow_run_id).data
    except Exception:  # run deleted, or another store
        return None


def _split_of(split_id: str | None) -> str:
    """The split named by a gate's test split id: ``<data id>:<split>`` (language models,
    translation models), ``<corpus id>:<split>:first-N`` (a translation model scored on the first N
    pairs of its split); ``test`` when there is none."""
    parts = (split_id or "").split(":")
    if len(parts) > 2 and parts[-1].startswith("first-"):
        parts = parts[:-1]
    return parts[-1] or EVAL_SPLIT


def _split_metrics(metrics: dict[str, float], split: str) -> dict[str, float]:
    prefix = f"{split}_"
    return {k[len(prefix) :]: float(v) for k, v in metrics.items() if k.startswith(prefix)}


def _record_run(cat: Catalog, client: Any, folder: Path, report: RebuildReport) -> None:
    """A training run from ``summary.json`` (as ``train_stage`` recorded it), and its test evaluation."""
    summary = read_json(folder / "summary.json")
    run_id = summary.get("run_id") or folder.name
    mlflow_run_id = summary.get("mlflow_run_id")
    data = _run_data(client, mlflow_run_id)
    params = summary.get("params")
    if params is None and data is not None and data.params:
        params = _unflatten(dict(data.params))
    if params is None and (folder / "run.json").is_file():  # MLflow run gone: what the run folder says
        started = read_json(folder / "run.json")
        params = {"train": started.get("train", {}), "dataset_id": started.get("dataset_id")}
    metrics = {k: v for k, v in summary.items() if isinstance(v, (int, float))}  # as train_stage records
    cat.record_run(run_id, summary.get("dataset_id"), summary.get("model"), params or {}, metrics, mlflow_run_id)
    if data is None:
        return
    evaluation = _split_metrics(dict(data.metrics), EVAL_SPLIT)
    # the evaluate stage's figures (its unigram baseline tells them from anything else logged as test_*)
    lm = "bits_per_byte" in evaluation and "unigram_bits_per_byte" in evaluation
    # the translation evaluate stage's (its copy-source baseline); its texts were logged as test_* tags
    translation = "bleu" in evaluation and "copy_bleu" in evaluation
    if translation:
        evaluation.update(_split_texts(dict(data.tags or {}), EVAL_SPLIT))
    if (lm or translation) and summary.get("model_dir"):
        cat.record_evaluation(
            model_dir=str(summary["model_dir"]),
            dataset_id=summary.get("dataset_id"),
            split=EVAL_SPLIT,
            metrics=evaluation,
            mlflow_run_id=mlflow_run_id,
        )
        report.add("evaluations")


def _split_texts(tags: dict[str, str], split: str) -> dict[str, str]:
    """What the translation evaluate stage logs as ``<split>_*`` run tags (it records them among its
    metrics): the sacreBLEU signatures and the test pairs' ``split_id``."""
    from arlm.translation.model_stages import SIGNATURE_KEYS

    keys = (*SIGNATURE_KEYS, "split_id")
    return {k: tags[f"{split}_{k}"] for k in keys if tags.get(f"{split}_{k}")}


def _record_models(cat: Catalog, client: Any, tracking_uri: str, report: RebuildReport, attempt: Callable) -> None:
    """Every registered version (run id from tag ``arlm.run_id``, metrics of its test split from
    its MLflow run) and every alias, as ``register_stage``, ``register_translation_stage`` and
    the gate record them."""
    from arlm.registry.gate import SPLIT_TAG
    from arlm.registry.sqlite_registry import registry_client

    registry = registry_client(tracking_uri)
    for m in registry.search_registered_models():
        for mv in registry.search_model_versions(f"name='{m.name}'"):

            def one(m=m, mv=mv) -> None:
                tags = dict(mv.tags or {})
                split = _split_of(tags.get(SPLIT_TAG))
                data = _run_data(client, mv.run_id)
                metrics = _split_metrics(dict(data.metrics), split) if data is not None else {}
                cat.record_model(
                    m.name, int(mv.version), tags.get("arlm.run_id"), f"models:/{m.name}/{mv.version}", metrics
                )
                _record_origin(cat, m.name, int(mv.version), tags)

            attempt(f"model {m.name} v{mv.version}", one, "models")
        with cat._connect() as con:  # MLflow's aliases replace the recorded ones of this model
            con.execute("DELETE FROM model_aliases WHERE name = ?", [m.name])
        for alias, version in sorted((m.aliases or {}).items()):
            attempt(
                f"alias {m.name}@{alias}",
                lambda m=m, alias=alias, version=version: cat.record_model_alias(m.name, alias, int(version)),
                "model_aliases",
            )


def _record_origin(cat: Catalog, name: str, version: int, tags: dict[str, str]) -> None:
    """``model_origins`` of an imported or fine-tuned version, from the tags ``arlm.hf.stages`` puts
    on it (``arlm.origin``, ``arlm.source``..., ``arlm.base_model`` = models:/BASE/N)."""
    origin = tags.get("arlm.origin")
    if origin == "import":
        cat.record_model_origin(
            name,
            version,
            "import",
            source=tags.get("arlm.source"),
            source_sha256=tags.get("arlm.source_sha256"),
            details={
                "architecture": tags.get("arlm.source_architecture"),
                "tokenizer_id": tags.get("arlm.tokenizer_version"),
            },
        )
    elif origin == "finetune":
        base = tags.get("arlm.base_model") or ""
        base_name = base_version = None
        if base.startswith("models:/") and base.rpartition("/")[2].isdigit():
            base_name, _, base_version = base[len("models:/") :].rpartition("/")
        cat.record_model_origin(
            name,
            version,
            "finetune",
            source=base,
            base_name=base_name or None,
            base_version=int(base_version) if base_version else None,
            method=tags.get("arlm.finetune_method"),
            details={
                **_base_figure(tags),
                "lora_rank": int(tags["arlm.lora_rank"]) if tags.get("arlm.lora_rank") else None,
            },
        )


def _base_figure(tags: dict[str, str]) -> dict[str, str | None]:
    """The base model's test figure the gate compared a fine-tuned version with (tag
    ``arlm.gate.base_<short>`` of the version's gate metric): ``base_test_bits_per_byte`` for a
    language model, ``base_test_<metric>`` (``base_test_bleu``) for another metric."""
    from arlm.registry.gate import BITS_PER_BYTE, GATE_METRICS, METRIC_TAG

    metric = GATE_METRICS.get(tags.get(METRIC_TAG) or BITS_PER_BYTE.name, BITS_PER_BYTE)
    return {f"base_test_{metric.name}": tags.get(f"arlm.gate.base_{metric.short}")}
