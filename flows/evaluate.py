"""Evaluation as a flow: a registered model on a split of its token dataset."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.params import EvaluateParams
from flows.runs import run_name_from
from flows.tasks import evaluate_task, home_of


@flow(name="evaluate", flow_run_name=run_name_from("evaluate", "model_uri"),
      description="Evaluate a registered model on a split of its token dataset.")
def evaluate(params: EvaluateParams) -> dict[str, Any]:
    from arlm.registry import resolve_model_for_eval

    from prefect.artifacts import create_markdown_artifact

    from arlm.stages import format_evaluation

    home = home_of(params.home)
    model_dir, dataset_id, run_id = resolve_model_for_eval(params.model_uri, home)
    metrics = evaluate_task(str(model_dir), dataset_id, params.home, split=params.split, mlflow_run_id=run_id)
    create_markdown_artifact(
        f"# {params.model_uri}\n\n- token dataset `{dataset_id}`, split `{params.split}`; MLflow run `{run_id}`\n"
        f"- {format_evaluation(metrics, params.split)}", key="evaluation",
        description=f"{params.model_uri} on {params.split}")
    return metrics
