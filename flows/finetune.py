"""The ``finetune`` flow: a registered model (or a Hugging Face folder) trained further on a new corpus
with the base's tokenizer, evaluated beside its base, registered through the gate (arlm.hf.stages)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from arlm_flows.finetune_params import FinetuneParams
from arlm_flows.runs import run_name_from
from arlm_flows.tasks import (
    _logger_progress,
    evaluate_task,
    home_of,
    ingest_cached,
    tokenize_cached,
    train_task,
    transient_only,
)


def ray_options_of(p) -> Any:
    from arlm.training.ray_launcher import RayOptions

    return RayOptions(
        num_workers=p.workers,
        address=p.ray_address,
        max_failures=p.max_failures,
        placement_strategy="SPREAD" if p.spread else "PACK",
    )


@task(name="resolve-base", retries=1, retry_delay_seconds=5, retry_condition_fn=transient_only)
def resolve_base_task(from_uri: str, root: str | None) -> dict[str, Any]:
    from arlm.hf.stages import resolve_base

    base = resolve_base(from_uri, home_of(root))
    return {
        "source": base.source,
        "model_dir": str(base.model_dir),
        "tokenizer_id": base.tokenizer_id,
        "kind": base.kind,
        "config": base.config,
        "name": base.name,
        "version": base.version,
    }


@flow(
    name="finetune",
    flow_run_name=run_name_from("finetune", "from_uri", "name"),
    description="Fine-tune a registered model or a Hugging Face GPT-2 (full or LoRA) on a new corpus with "
    "the base's tokenizer; the gate requires beating the base on the new test split.",
)
def finetune(params: FinetuneParams) -> dict[str, Any]:
    from pathlib import Path

    from arlm.hf.stages import Base, Runners, finetune_stage

    p = params
    root = p.home
    home = home_of(root)
    ray_options = ray_options_of(p)
    ray_options.validate()
    train_cfg = p.train_config()
    runners = Runners(
        ingest=lambda cfg: ingest_cached(cfg, root),
        tokenize=lambda corpus_id, tok_id: tokenize_cached(corpus_id, tok_id, root, p.ray_address),
        train=lambda cfg, ds: train_task(cfg, ds, ray_options, root, run_name=p.name, resume=p.resume),
        evaluate=lambda model_dir, ds, run: evaluate_task(model_dir, ds, root, mlflow_run_id=run),
    )
    b = resolve_base_task(p.from_uri, root)
    base = Base(
        source=b["source"],
        model_dir=Path(b["model_dir"]),
        tokenizer_id=b["tokenizer_id"],
        kind=b["kind"],
        config=b["config"],
        name=b["name"],
        version=b["version"],
    )
    out = finetune_stage(
        p.from_uri,
        p.ingest_config(),
        p.name,
        home,
        train_cfg,
        ray_options,
        runners=runners,
        base=base,
        progress=_logger_progress(),
    )
    create_markdown_artifact(
        out.pop("decision_markdown") or "",
        key="finetune-registration",
        description=f"{p.name} fine-tuned from {out['base']['uri']}",
    )
    return out
