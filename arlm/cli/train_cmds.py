"""``arlm train`` and ``arlm compare``: the ``train`` and ``compare`` flows from the command line."""

from __future__ import annotations

import argparse
import json

from arlm.cli.pipeline_cmds import add_param_options, params_from_args, preflight_train, start_flow_command


def add_parsers(sub) -> None:
    from arlm_flows.params import CompareParams, TrainFlowParams

    p = sub.add_parser(
        "train",
        help="train one model (Ray Train) on a token dataset",
        description="Train KIND[/PRESET] with Ray Train on a token dataset (--dataset-id), "
        "or on a corpus ingested and tokenized first. Logged to MLflow. Every "
        "parameter of the Prefect flow `train` is an option.",
    )
    add_param_options(p, TrainFlowParams)
    p.set_defaults(func=run_train)

    c = sub.add_parser(
        "compare",
        help="train several kinds on the same tokens; print a leaderboard",
        description="Train each model spec under the same budget on the same token "
        "dataset and rank them by test bits per byte.",
    )
    c.add_argument(
        "--models",
        default=argparse.SUPPRESS,
        dest="models",
        metavar="SPEC,SPEC...",
        type=lambda text: [m.strip() for m in text.split(",") if m.strip()],
        help=f"comma-separated KIND[/PRESET] list (default: {','.join(CompareParams.model_fields['models'].default)})",
    )
    c.add_argument("--json", action="store_true", help="print the leaderboard as JSON")
    add_param_options(c, CompareParams, exclude=("model", "models"))
    c.set_defaults(func=run_compare)


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
