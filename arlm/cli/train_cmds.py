"""``arlm train`` and ``arlm compare``: the ``train`` and ``compare`` flows from the command line."""

from __future__ import annotations

import argparse
import json

from arlm.cli.pipeline_cmds import add_param_options, params_from_args


def add_parsers(sub) -> None:
    from arlm_flows.params import CompareParams, TrainFlowParams

    p = sub.add_parser("train", help="train one model (Ray Train) on a token dataset",
                       description="Train KIND[/PRESET] with Ray Train on a token dataset (--dataset-id), "
                                   "or on a corpus ingested and tokenized first. Logged to MLflow. Every "
                                   "parameter of the Prefect flow `train` is an option.")
    add_param_options(p, TrainFlowParams)
    p.set_defaults(func=run_train)

    c = sub.add_parser("compare", help="train several kinds on the same tokens; print a leaderboard",
                       description="Train each model spec under the same budget on the same token "
                                   "dataset and rank them by test bits per byte.")
    c.add_argument("--models", default=argparse.SUPPRESS, dest="models", metavar="SPEC,SPEC...",
                   type=lambda text: [m.strip() for m in text.split(",") if m.strip()],
                   help="comma-separated KIND[/PRESET] list (default: "
                        f"{','.join(CompareParams.model_fields['models'].default)})")
    c.add_argument("--json", action="store_true", help="print the leaderboard as JSON")
    add_param_options(c, CompareParams, exclude=("model", "models"))
    c.set_defaults(func=run_compare)


def preflight_train(params, models: list[str]) -> None:
    """Bad model specs and budgets, and a deleted catalog, fail in a second with one line, before
    Prefect and Ray start."""
    from arlm.catalog import Catalog
    from arlm.home import get_home

    for model in models:
        params.train_config(model=model).validate()
    Catalog.check_not_lost(get_home(params.home).catalog_path)


def start_flow_command(args: argparse.Namespace) -> None:
    """The checks passed: set up the process for running flows (arlm.cli.flow_env)."""
    from arlm.cli.flow_env import prepare_flow_command

    prepare_flow_command(args.debug, args.home)


def run_train(args: argparse.Namespace) -> int:
    from arlm_flows.params import TrainFlowParams
    from arlm_flows.train import train

    params = params_from_args(TrainFlowParams, args)
    preflight_train(params, [params.model])
    start_flow_command(args)
    out = train(params)
    print(json.dumps(out, indent=2, default=str))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from arlm_flows.compare import compare
    from arlm_flows.params import CompareParams

    params = params_from_args(CompareParams, args)
    preflight_train(params, params.models)
    start_flow_command(args)
    out = compare(params)
    print(json.dumps(out["leaderboard"], indent=2, default=str) if args.json else out["markdown"])
    return 0
