"""The translation pipeline's model stages: evaluate a trained seq2seq model on raw test pairs, and
register it behind a champion gate on test BLEU. Like ``arlm.stages``, each takes ids and a
``Home``, returns a JSON-able dict and records what it made in the catalog; nothing here imports
Prefect (MLflow only through ``arlm.registry`` and ``arlm.training.tracking``).

    evaluate_translation_stage(model_dir, dataset_id, home, split="test") -> metrics
        raw pairs of the corpus version's split (``arlm.translation.lake.read_split_pairs``),
        translated with beam search and scored by ``arlm.translation.evaluate.evaluate_pairs``:
        sacreBLEU BLEU/chrF/chrF++ with their signatures, ROUGE-L, reference loss and perplexity,
        the copy-source baseline, degeneracy; logged to the training's MLflow run (numbers as
        ``<split>_<name>`` metrics, signatures as ``<split>_<name>_signature`` tags, the outputs as
        ``evaluations/<split>/translations.tsv``) and recorded in the catalog's ``evaluations``.
    register_translation_stage(train_summary, metrics, model_name, home) -> {name, version, promoted,
        uri, decision_markdown}
        the translator pyfunc logged in the training's run and registered as ``challenger``;
        crowned ``champion`` only when its test BLEU beats the copy-source baseline's and the
        current champion's on the same test pairs (``arlm.registry.gate``, metric ``bleu``).
    evaluate_pairs_file(model_uri, home, pairs_spec) -> report
        ``arlm evaluate --pairs``: a registered translator scored on any pairs SPEC.

The test pairs that make scores comparable are named ``<corpus_id>:<split>`` (``split_id`` in the
metrics; ``...:first-N`` when ``max_pairs`` kept only the first N): BLEU is measured on raw text,
so models with different tokenizers of the same corpus version are compared on the same pairs.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arlm.errors import ConfigError, DataError
from arlm.home import Home

Progress = Callable[[str], None]
SIGNATURE_KEYS = ("bleu_signature", "chrf_signature", "chrf_pp_signature")


def _say(progress: Progress | None, msg: str) -> None:
    (progress or (lambda m: print(m, file=sys.stderr, flush=True)))(msg)


def _catalog(home: Home):
    from arlm.catalog import Catalog

    return Catalog(home.catalog_path)


def _pair_dataset(home: Home, dataset_id: str):
    from arlm.translation.dataset import PairTokenDataset

    return PairTokenDataset.open(home.tokens / dataset_id)


def _tokenizer_dirs(home: Home, ds) -> tuple[Path, Path | None]:
    """(target or joint tokenizer folder, source tokenizer folder or None when joint)."""
    tgt = home.tokenizers / ds.tokenizer_id
    src = None if ds.joint or ds.src_tokenizer_id == ds.tokenizer_id else home.tokenizers / ds.src_tokenizer_id
    return tgt, src


def _check_max_pairs(max_pairs: int | None) -> None:
    if max_pairs is not None and (isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 1):
        raise ConfigError(f"max_pairs must be an integer >= 1 (or None: every pair), got {max_pairs!r}")


def format_translation_evaluation(m: dict[str, Any], split: str = "test") -> str:
    """One line of the figures that matter (the pipeline's progress and closing lines)."""
    return (
        f"{split}: BLEU {m['bleu']:.2f}, chrF {m['chrf']:.2f} (copy-source baseline: BLEU {m['copy_bleu']:.2f}, "
        f"chrF {m['copy_chrf']:.2f}), chrF++ {m['chrf_pp']:.2f}, ROUGE-L {m['rouge_l']:.2f}, loss "
        f"{m['loss']:.3f} nats/token, perplexity {m['perplexity']:.1f}, {int(m['n_pairs']):,} pairs, "
        f"{m['sentences_per_second']:.1f} sentences/s, most common output {100 * m['most_common_share']:.1f}%"
    )


def _translations_tsv(sources: list[str], references: list[str], outputs: list[str]) -> str:
    clean = lambda s: s.replace("\t", " ").replace("\r", " ").replace("\n", " ")  # noqa: E731
    rows = ["source\treference\ttranslation"]
    rows += [f"{clean(s)}\t{clean(r)}\t{clean(o)}" for s, r, o in zip(sources, references, outputs)]
    return "\n".join(rows) + "\n"


def log_translation_metrics(
    tracking_uri: str,
    run_id: str,
    metrics: dict[str, Any],
    split: str,
    translations_tsv: str | None = None,
) -> None:
    """Numbers as ``<split>_<name>`` metrics of MLflow run ``run_id``, the sacreBLEU signatures as
    ``<split>_<name>_signature`` tags (a signature is text, and a tag may be set again by a later
    evaluation where a param may not), the outputs as ``evaluations/<split>/translations.tsv``."""
    from arlm.training.tracking import RunLogger

    logger = RunLogger(tracking_uri, run_id)
    logger.log_metrics({f"{split}_{k}": v for k, v in metrics.items()})
    for key in SIGNATURE_KEYS:
        if metrics.get(key):
            logger.client.set_tag(run_id, f"{split}_{key}", str(metrics[key]))
    if metrics.get("split_id"):
        logger.client.set_tag(run_id, f"{split}_split_id", str(metrics["split_id"]))
    if translations_tsv is not None:
        with tempfile.TemporaryDirectory(prefix="arlm-eval-") as tmp:
            path = Path(tmp) / "translations.tsv"
            path.write_text(translations_tsv, encoding="utf-8")
            logger.log_artifact(path, f"evaluations/{split}")


def evaluate_translation_stage(
    model_dir: str,
    dataset_id: str,
    home: Home,
    *,
    split: str = "test",
    mlflow_run_id: str | None = None,
    num_beams: int = 4,
    max_pairs: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """A translation model on the raw pairs of its corpus version's ``split`` (see the module doc);
    ``max_pairs`` keeps the first N pairs (a quicker, still deterministic, estimate)."""
    from arlm.data import load_corpus_version
    from arlm.registry.resolve import translator_from_dirs
    from arlm.translation.evaluate import evaluate_pairs
    from arlm.translation.lake import read_split_pairs

    _check_max_pairs(max_pairs)
    ds = _pair_dataset(home, dataset_id)
    cv = load_corpus_version(home, ds.corpus_id)
    pairs = read_split_pairs(cv, split)
    if not len(pairs):
        raise ConfigError(f"corpus version {cv.id} has no '{split}' pairs to evaluate on")
    n = len(pairs) if max_pairs is None else min(max_pairs, len(pairs))
    sources, references = list(pairs.src[:n]), list(pairs.tgt[:n])
    tgt_dir, src_dir = _tokenizer_dirs(home, ds)
    translator = translator_from_dirs(Path(model_dir), tgt_dir, src_dir)
    _say(progress, f"[evaluate] translating {n:,} {split} pairs with {num_beams} beam{'s' if num_beams != 1 else ''}")
    scores = evaluate_pairs(
        translator, sources, references, num_beams=num_beams, progress=lambda m: _say(progress, f"[evaluate] {m}")
    )
    metrics: dict[str, Any] = dict(scores)
    metrics["num_params"] = translator.model.num_params()
    metrics["split_id"] = f"{cv.id}:{split}" + (f":first-{n}" if n < len(pairs) else "")
    if mlflow_run_id:
        log_translation_metrics(
            home.mlflow_tracking_uri,
            mlflow_run_id,
            metrics,
            split,
            _translations_tsv(sources, references, scores.hypotheses),
        )
    _catalog(home).record_evaluation(
        model_dir=str(model_dir), dataset_id=dataset_id, split=split, metrics=metrics, mlflow_run_id=mlflow_run_id
    )
    _say(progress, "[evaluate] " + format_translation_evaluation(metrics, split))
    # a few outputs for the flow's report (after logging and recording: they are not figures)
    metrics["samples"] = [
        {"source": s, "reference": r, "output": o} for s, r, o in zip(sources[:3], references[:3], scores.hypotheses)
    ]
    return metrics


def _lineage(home: Home, ds) -> dict[str, str]:
    tags = {
        "arlm.task": "translation",
        "arlm.corpus_version": ds.corpus_id,
        "arlm.tokenizer_version": ds.tokenizer_id,
        "arlm.token_dataset_version": ds.id,
        "arlm.token_dataset_path": str(ds.path),
    }
    if not ds.joint and ds.src_tokenizer_id != ds.tokenizer_id:
        tags["arlm.src_tokenizer_version"] = ds.src_tokenizer_id
    src_lang, tgt_lang = ds.manifest.get("src_lang"), ds.manifest.get("tgt_lang")
    if not (src_lang and tgt_lang):
        try:
            from arlm.data import load_corpus_version

            config = load_corpus_version(home, ds.corpus_id).config or {}
            src_lang, tgt_lang = config.get("src_lang"), config.get("tgt_lang")
        except Exception:  # the languages are a label: their absence fails nothing
            pass
    if src_lang and tgt_lang:
        tags["arlm.language_pair"] = f"{src_lang}-{tgt_lang}"
    return tags


def register_translation_stage(
    train_summary: dict[str, Any],
    metrics: dict[str, Any],
    model_name: str,
    home: Home,
    *,
    split: str = "test",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Log the trained translation model as an MLflow pyfunc (from code) in its training run (its
    target or joint tokenizer, and the source one when separate), register it as ``challenger``, and
    crown it ``champion`` if its test BLEU beats the copy-source baseline and the current champion on
    the same test pairs. ``train_summary``: ``model_dir``, ``dataset_id``, ``run_id``,
    ``mlflow_run_id``, ``model`` (what the training stage returns); ``metrics``: what
    :func:`evaluate_translation_stage` returned on ``split``."""
    from arlm.registry.gate import BLEU, register_with_gate
    from arlm.registry.log import log_model
    from arlm.versioning import git_commit

    if not isinstance(metrics.get("bleu"), (int, float)):
        raise ConfigError("register_translation_stage: metrics have no 'bleu' (evaluate the model first)")
    ds = _pair_dataset(home, train_summary["dataset_id"])
    tgt_dir, src_dir = _tokenizer_dirs(home, ds)
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    tags = {
        **_lineage(home, ds),
        "arlm.git_commit": git_commit(),
        "arlm.run_id": str(train_summary.get("run_id", "")),
        "arlm.model": str(train_summary.get("model", "")),
        **{f"metric.{split}_{k}": f"{float(v):.6g}" for k, v in numbers.items()},
        **{f"arlm.{split}_{k}": str(metrics[k]) for k in SIGNATURE_KEYS if metrics.get(k)},
    }
    mlflow_run_id = train_summary.get("mlflow_run_id")
    info = log_model(
        Path(train_summary["model_dir"]),
        tgt_dir,
        src_tokenizer_dir=src_dir,
        run_id=mlflow_run_id,
        name=model_name,
        metrics={f"{split}_{k}": v for k, v in numbers.items()},
        tags=tags,
        tracking_uri=home.mlflow_tracking_uri,
    )
    test_split_id = str(metrics.get("split_id") or f"{ds.corpus_id}:{split}")
    copy_bleu = metrics.get("copy_bleu")
    decision = register_with_gate(
        info.model_uri,
        model_name,
        float(metrics["bleu"]),
        test_split_id,
        tracking_uri=home.mlflow_tracking_uri,
        tags=tags,
        unigram_bpb=None if copy_bleu is None else float(copy_bleu),
        catalog=home.catalog_path,
        metric=BLEU,
    )
    if mlflow_run_id:
        from arlm.training.tracking import end_run

        end_run(home.mlflow_tracking_uri, mlflow_run_id)
    _catalog(home).record_model(
        model_name,
        int(decision.version),
        str(train_summary.get("run_id", "")),
        f"models:/{model_name}/{decision.version}",
        {k: float(v) for k, v in numbers.items()},
    )
    _say(progress, f"[register] {decision.summary()}")
    return {
        "name": model_name,
        "version": int(decision.version),
        "promoted": bool(decision.promoted),
        "uri": f"models:/{model_name}@champion" if decision.promoted else f"models:/{model_name}/{decision.version}",
        "decision_markdown": decision.markdown(),
    }


def _drop_blank(pairs) -> tuple[list[str], list[str], int]:
    keep = [i for i, (s, t) in enumerate(zip(pairs.src, pairs.tgt)) if s.strip() and t.strip()]
    return [pairs.src[i] for i in keep], [pairs.tgt[i] for i in keep], len(pairs) - len(keep)


def evaluate_pairs_file(
    model_uri: str,
    home: Home,
    pairs_spec: str,
    *,
    num_beams: int = 4,
    max_pairs: int | None = None,
    batch_size: int = 32,
    samples: int = 3,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``arlm evaluate --pairs``: the translation model ``model_uri`` scored on the pairs of
    ``pairs_spec`` (any ``arlm.translation.pairs.read_pairs`` SPEC; pairs with a blank side are
    left out and counted in ``n_skipped_blank``). Returns ``{"title", "model", "source", "metrics",
    "samples"}`` (samples: source, reference, translation), also logged to the model's MLflow run
    (``evaluations/<file name>/``, ``eval_<file name>_*`` metrics) and recorded in the catalog's
    ``evaluations``. A bad file, a language model or an unknown URI raise ``ArlmError`` before
    anything is written."""
    from arlm.registry.evaluate import log_report
    from arlm.registry.resolve import load_translator
    from arlm.translation.evaluate import evaluate_pairs
    from arlm.translation.pairs import parse_pairs_spec, read_pairs
    from arlm.versioning import content_hash

    _check_max_pairs(max_pairs)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        raise ConfigError(f"samples must be an integer >= 0, got {samples!r}")
    pairs = read_pairs(pairs_spec)  # a bad file fails before the model loads
    sources, references, skipped = _drop_blank(pairs)
    if not sources:
        raise DataError(f"{pairs_spec}: every pair has a blank source or target: nothing to evaluate")
    if max_pairs is not None:
        sources, references = sources[:max_pairs], references[:max_pairs]
    uri = home.mlflow_tracking_uri
    translator = load_translator(model_uri, tracking_uri=uri)
    run_id = translator.resolved.run_id
    scores = evaluate_pairs(
        translator, sources, references, num_beams=num_beams, batch_size=batch_size, progress=progress
    )
    metrics: dict[str, Any] = {**scores, "n_skipped_blank": skipped}
    label = parse_pairs_spec(pairs_spec)[0].name
    report = {
        "title": f"{model_uri} on {pairs_spec}",
        "model": model_uri,
        "source": label,
        "metrics": metrics,
        "samples": [],  # the language models' prompt/continuation samples; translations below
        "translations": [
            {"source": s, "reference": r, "translation": o}
            for s, r, o in list(zip(sources, references, scores.hypotheses))[:samples]
        ],
    }
    try:
        log_report(uri, run_id, report, label)
    except Exception as exc:  # the report is returned and printed anyway
        print(f"arlm: warning: evaluation not logged to MLflow ({exc})", file=sys.stderr)
    try:
        dataset_id = f"pairs:{content_hash(sources, references)}"
        _catalog(home).record_evaluation(
            model_uri=model_uri, token_dataset_id=dataset_id, split=label, metrics=metrics, mlflow_run_id=run_id
        )
    except Exception as exc:
        print(f"arlm: warning: evaluation not recorded in the catalog ({exc})", file=sys.stderr)
    return report


__all__ = [
    "evaluate_translation_stage",
    "register_translation_stage",
    "evaluate_pairs_file",
    "format_translation_evaluation",
    "log_translation_metrics",
]
