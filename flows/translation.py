"""``pipeline`` with ``task="translation"``: parallel corpus -> tokenizer(s) -> pair tokens -> Ray
Train (a seq2seq kind, the same loop and train task as language models) -> BLEU/chrF/ROUGE-L on
the test pairs -> MLflow registration gated on test BLEU.

The data stages reuse their content-addressed folders themselves (a rerun does no work), so these
tasks need no Prefect cache; training goes through the language models' ``train_task`` (one
training at a time, resume of an interrupted run).
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact

from arlm_flows.tasks import _logger_progress, home_of, train_task, transient_only


@task(name="ingest-pairs", retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=transient_only)
def ingest_pairs_task(cfg, home_root: str | None = None) -> dict[str, Any]:
    from arlm.translation.data_stages import ingest_pairs_stage

    return ingest_pairs_stage(cfg, home_of(home_root), progress=_logger_progress())


@task(name="build-pair-tokenizer")
def pair_tokenizer_task(cfg, corpus_id: str, sides: str, home_root: str | None = None) -> dict[str, Any]:
    from arlm.translation.data_stages import pair_tokenizer_stage

    return pair_tokenizer_stage(cfg, corpus_id, home_of(home_root), tokenizer_sides=sides, progress=_logger_progress())


@task(name="tokenize-pairs")
def tokenize_pairs_task(
    corpus_id: str, src_tokenizer_id: str, tokenizer_id: str, home_root: str | None = None
) -> dict[str, Any]:
    from arlm.translation.data_stages import tokenize_pairs_stage

    return tokenize_pairs_stage(
        corpus_id, src_tokenizer_id, tokenizer_id, home_of(home_root), progress=_logger_progress()
    )


@task(name="evaluate-translation", retries=1, retry_delay_seconds=5, retry_condition_fn=transient_only)
def evaluate_translation_task(
    model_dir: str,
    dataset_id: str,
    home_root: str | None = None,
    mlflow_run_id: str | None = None,
    num_beams: int = 4,
    max_pairs: int | None = None,
) -> dict[str, Any]:
    from arlm.translation.model_stages import evaluate_translation_stage

    return evaluate_translation_stage(
        model_dir,
        dataset_id,
        home_of(home_root),
        mlflow_run_id=mlflow_run_id,
        num_beams=num_beams,
        max_pairs=max_pairs,
        progress=_logger_progress(),
    )


@task(name="register-translation", retries=2, retry_delay_seconds=[5, 20], retry_condition_fn=transient_only)
def register_translation_task(
    train_summary: dict[str, Any], metrics: dict[str, Any], model_name: str, home_root: str | None = None
) -> dict[str, Any]:
    from arlm.translation.model_stages import register_translation_stage

    out = register_translation_stage(
        train_summary, metrics, model_name, home_of(home_root), progress=_logger_progress()
    )
    create_markdown_artifact(
        out["decision_markdown"], key="registration", description=f"{model_name} version {out['version']}"
    )
    return out


def prepare_pairs(p, root: str | None) -> tuple[dict, dict, dict]:
    """ingest pairs -> tokenizer(s) -> pair tokens (``p``: flow parameters with task=translation)."""
    cv = ingest_pairs_task(p.pair_ingest_config(), root)
    tok = pair_tokenizer_task(p.tokenizer_config(), cv["corpus_id"], p.tokenizer_sides, root)
    ds = tokenize_pairs_task(cv["corpus_id"], tok["src_tokenizer_id"], tok["tokenizer_id"], root)
    return cv, tok, ds


def translation_pipeline(p, train_cfg, ray_options) -> dict[str, Any]:
    """The body of ``pipeline`` for ``task="translation"`` (``p``: PipelineParams)."""
    root = p.home
    home = home_of(root)
    cv, tok, ds = prepare_pairs(p, root)
    summary = train_task(
        train_cfg, ds["dataset_id"], ray_options, root, run_name=p.model_name, resume=getattr(p, "resume", None)
    )
    metrics = evaluate_translation_task(
        summary["model_dir"],
        ds["dataset_id"],
        root,
        mlflow_run_id=summary["mlflow_run_id"],
        num_beams=p.eval_num_beams,
        max_pairs=p.eval_max_pairs,
    )
    reg = register_translation_task(summary, metrics, p.model_name, root)
    samples = [(x["source"], x["output"]) for x in metrics.get("samples", [])]
    create_markdown_artifact(
        "\n".join(
            [
                f"# {p.model_name} version {reg['version']} ({cv['src_lang']} -> {cv['tgt_lang']})",
                f"- model URI: `{reg['uri']}`",
                f"- corpus version `{cv['corpus_id']}`, tokenizer `{tok['tokenizer_id']}`, pairs `{ds['dataset_id']}`",
                f"- MLflow run `{summary['mlflow_run_id']}` (tracking URI `{home.mlflow_tracking_uri}`)",
                f"- test BLEU **{metrics['bleu']:.2f}**, chrF {metrics['chrf']:.2f} "
                f"(copy-source baseline: BLEU {metrics['copy_bleu']:.2f}, chrF {metrics['copy_chrf']:.2f})",
                f"- `{metrics.get('bleu_signature', '')}`",
                *[f"- `{s}` -> `{o}`" for s, o in samples],
            ]
        ),
        key="pipeline-summary",
        description="Registered translator and its evaluation",
    )
    return {
        "task": "translation",
        "corpus": cv,
        "tokenizer": tok,
        "dataset": ds,
        "train": summary,
        "metrics": metrics,
        "registration": {k: v for k, v in reg.items() if k != "decision_markdown"},
    }
