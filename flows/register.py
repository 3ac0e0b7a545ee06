"""Registration as a flow: evaluate a finished run, then the champion gate."""

from __future__ import annotations

from typing import Any

from prefect import flow

from arlm_flows.params import RegisterParams
from arlm_flows.runs import run_name_from
from arlm_flows.tasks import evaluate_task, home_of, register_task


@flow(
    name="register",
    flow_run_name=run_name_from("register", "run_id", "name"),
    description="Evaluate a finished training run and register it through the champion gate.",
)
def register(params: RegisterParams) -> dict[str, Any]:
    from arlm.versioning import read_json

    home = home_of(params.home)
    summary = read_json(home.runs / params.run_id / "summary.json")
    metrics = evaluate_task(
        summary["model_dir"], summary["dataset_id"], params.home, mlflow_run_id=summary["mlflow_run_id"]
    )
    return register_task(summary, metrics, params.name, params.home)
