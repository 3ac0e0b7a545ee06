"""The main job: corpus -> tokenizer -> tokens -> Ray Train -> evaluation -> MLflow registry."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from arlm_flows.params import PipelineParams
from arlm_flows.runs import run_name_from
from arlm_flows.tasks import (
    evaluate_task,
    home_of,
    ingest_cached,
    register_task,
    tokenize_cached,
    tokenizer_cached,
    train_task,
)

SAMPLE_PROMPT = "Return the"


def ray_options_from(p) -> Any:
    from arlm.training.ray_launcher import RayOptions

    return RayOptions(
        num_workers=p.workers,
        address=p.ray_address,
        max_failures=p.max_failures,
        placement_strategy="SPREAD" if p.spread else "PACK",
    )


def train_config_from(p) -> Any:
    """The validated TrainConfig of flow parameters (a bad model spec fails here, before any work)."""
    if getattr(p, "task", "language-model") == "translation":
        return p.translation_train_config().validate()
    return p.train_config().validate()


def prepare_tokens(p, root: str | None) -> tuple[dict, dict, dict]:
    """ingest -> tokenizer -> tokenize, shared by the pipeline and the train and compare flows
    (task=translation: the pair stages, ``arlm_flows.translation.prepare_pairs``)."""
    if getattr(p, "task", "language-model") == "translation":
        from arlm_flows.translation import prepare_pairs

        return prepare_pairs(p, root)
    cv = ingest_cached(p.ingest_config(), root)
    tok = tokenizer_cached(p.tokenizer_config(), cv["corpus_id"], root)
    ds = tokenize_cached(cv["corpus_id"], tok["tokenizer_id"], root, p.ray_address)
    return cv, tok, ds


@flow(
    name="pipeline",
    flow_run_name=run_name_from("pipeline", "corpus", "model"),
    description="Ingest a corpus, build a tokenizer, tokenize, train with Ray Train, evaluate, "
    "and register the model in MLflow (alias challenger; champion if it wins the gate). "
    "task=translation: a parallel corpus, a seq2seq model, BLEU/chrF on the test pairs, a BLEU gate.",
)
def pipeline(params: PipelineParams = PipelineParams()) -> dict[str, Any]:
    p = params
    root = p.home
    home = home_of(root)
    # Reject a config that cannot work before any data is touched.
    train_cfg = train_config_from(p)
    ray_options = ray_options_from(p)
    ray_options.validate()
    if p.task == "translation":
        from arlm_flows.translation import translation_pipeline

        return translation_pipeline(p, train_cfg, ray_options)
    if train_cfg.is_seq2seq:
        from arlm.errors import ConfigError

        raise ConfigError(f"model {train_cfg.model} is a translation model: run it with task=translation")
    cv, tok, ds = prepare_tokens(p, root)
    summary = train_task(
        train_cfg, ds["dataset_id"], ray_options, root, run_name=p.name, resume=getattr(p, "resume", None)
    )
    metrics = evaluate_task(summary["model_dir"], ds["dataset_id"], root, mlflow_run_id=summary["mlflow_run_id"])
    reg = register_task(summary, metrics, p.name, root)
    from arlm.stages import sample_generation

    sample = sample_generation(summary["model_dir"], tok["path"], SAMPLE_PROMPT)
    create_markdown_artifact(
        "\n".join(
            [
                f"# {p.name} version {reg['version']}",
                f"- model URI: `{reg['uri']}`",
                f"- corpus version `{cv['corpus_id']}`, tokenizer `{tok['tokenizer_id']}`, tokens `{ds['dataset_id']}`",
                f"- MLflow run `{summary['mlflow_run_id']}` (tracking URI `{home.mlflow_tracking_uri}`)",
                f"- test bits/byte **{metrics['bits_per_byte']:.3f}** (unigram {metrics['unigram_bits_per_byte']:.3f}, "
                f"gzip {metrics['gzip_bits_per_byte']:.3f}, bzip2 {metrics['bzip2_bits_per_byte']:.3f}, xz {metrics['xz_bits_per_byte']:.3f})",
                f"- sample: `{SAMPLE_PROMPT}{sample}`",
            ]
        ),
        key="pipeline-summary",
        description="Registered model and its evaluation",
    )
    return {
        "corpus": cv,
        "tokenizer": tok,
        "dataset": ds,
        "train": summary,
        "metrics": metrics,
        "registration": {k: v for k, v in reg.items() if k != "decision_markdown"},
        "sample_prompt": SAMPLE_PROMPT,
        "sample": sample,
    }
