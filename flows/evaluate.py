"""Evaluation as a flow: a registered model on a split of its token dataset."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from arlm_flows.params import EvaluateParams
from arlm_flows.runs import run_name_from
from arlm_flows.tasks import home_of, transient_only


@task(name="evaluate-model", retries=1, retry_delay_seconds=5, retry_condition_fn=transient_only)
def evaluate_model_task(params: EvaluateParams) -> dict[str, Any]:
    from arlm.stages import evaluate_model

    return evaluate_model(params.model_uri, home_of(params.home), split=params.split, samples=params.samples)


@flow(
    name="evaluate",
    flow_run_name=run_name_from("evaluate", "model_uri"),
    description="Evaluate a registered model on a split of its token dataset: metrics beside "
    "gzip/bzip2/xz, sample continuations; report logged to MLflow and the catalog.",
)
def evaluate(params: EvaluateParams) -> dict[str, Any]:
    from arlm.evaluation.report import format_report

    report = evaluate_model_task(params)
    create_markdown_artifact(
        f"```\n{format_report(report['metrics'], report['title'], report['samples'])}\n```",
        key="evaluation",
        description=report["title"],
    )
    return report
