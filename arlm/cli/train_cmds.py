"""``arlm train`` and ``arlm compare``: the ``train`` and ``compare`` flows from the command line."""

from __future__ import annotations

import argparse
import json

from arlm.cli.pipeline_cmds import add_corpus_options, add_train_options, params_from_args


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train one model (Ray Train) on a token dataset",
                       description="Train KIND[/PRESET] with Ray Train on a token dataset (--dataset-id), "
                                   "or on a corpus ingested and tokenized first. Logged to MLflow.")
    p.add_argument("--dataset-id", default=None, help="token dataset id (see `arlm catalog ls`)")
    p.add_argument("--name", default="arlm-train", help="run name prefix (default %(default)s)")
    add_corpus_options(p)
    add_train_options(p)
    p.set_defaults(func=run_train)

    c = sub.add_parser("compare", help="train several kinds on the same tokens; print a leaderboard",
                       description="Train each model spec under the same budget on the same token "
                                   "dataset and rank them by test bits per byte.")
    c.add_argument("--models", default="ngram,rnn,lstm,gru,lstm-attn,gpt",
                   help="comma-separated KIND[/PRESET] list (default %(default)s)")
    c.add_argument("--dataset-id", default=None, help="token dataset id (default: build from --corpus)")
    c.add_argument("--json", action="store_true", help="print the leaderboard as JSON")
    add_corpus_options(c)
    add_train_options(c)
    c.set_defaults(func=run_compare, model="gpt/tiny")


def preflight_train(params, models: list[str]) -> None:
    """Bad model specs and budgets, and a deleted catalog, fail in a second with one line, before
    Prefect and Ray start."""
    from arlm.catalog import Catalog
    from arlm.home import get_home
    from arlm.stages import make_train_config

    for model in models:
        make_train_config(model, max_seconds=params.max_seconds, max_steps=params.max_steps)
    Catalog.check_not_lost(get_home(params.home).catalog_path)


def start_flow_command(args: argparse.Namespace) -> None:
    """The checks passed: set up the process for running flows (arlm.cli.flow_env)."""
    from arlm.cli.flow_env import prepare_flow_command

    prepare_flow_command(args.debug, args.home)


def run_train(args: argparse.Namespace) -> int:
    from flows.params import TrainFlowParams
    from flows.train import train

    params = params_from_args(TrainFlowParams, args)
    preflight_train(params, [params.model])
    start_flow_command(args)
    out = train(params)
    print(json.dumps(out, indent=2, default=str))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from flows.compare import compare
    from flows.params import CompareParams

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    params = params_from_args(CompareParams, args, models=models)
    preflight_train(params, params.models)
    start_flow_command(args)
    out = compare(params)
    print(json.dumps(out["leaderboard"], indent=2, default=str) if args.json else out["markdown"])
    return 0
