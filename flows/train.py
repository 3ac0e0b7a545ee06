"""Training as a flow: one model on a token dataset under Ray Train, logged to MLflow."""

from __future__ import annotations

from typing import Any

from prefect import flow

from arlm_flows.params import TrainFlowParams
from arlm_flows.pipeline import prepare_tokens, ray_options_from, train_config_from
from arlm_flows.runs import run_name_from
from arlm_flows.tasks import train_task


@flow(
    name="train",
    flow_run_name=run_name_from("train", "model"),
    description="Train one model on a token dataset with Ray Train (logged to MLflow).",
)
def train(params: TrainFlowParams = TrainFlowParams()) -> dict[str, Any]:
    train_cfg, ray_options = train_config_from(params), ray_options_from(params)
    dataset_id = params.dataset_id or prepare_tokens(params, params.home)[2]["dataset_id"]
    return train_task(
        train_cfg, dataset_id, ray_options, params.home, run_name=params.name, resume=getattr(params, "resume", None)
    )
