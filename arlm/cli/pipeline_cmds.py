"""``arlm pipeline``: the whole job, run as the Prefect flow ``pipeline``."""

from __future__ import annotations

import argparse
import json
import sys
import time

# options of the generated command lines whose flag is not simply --NAME
ALIASES = {"tokenizer_kind": ["--tokenizer", "--tokenizer-kind"]}


def add_param_options(p: argparse.ArgumentParser, params_cls, *, exclude=()) -> None:
    """The options of a flow-parameter model (``flows.params``), generated from it: the same
    names, defaults and help as the Prefect form; training fields come from ``TrainConfig``."""
    from arlm.options import add_options
    from arlm_flows.params import option_sections

    add_options(p, params_cls, exclude=("home", *exclude), aliases=ALIASES, groups=option_sections())


def params_from_args(model_cls, args: argparse.Namespace, **extra):
    """Build a flow parameter model from CLI args (``arlm.options.params_from_args``)."""
    from arlm.options import params_from_args as build

    return build(model_cls, args, **extra)


def preflight_train(params, models: list[str]) -> None:
    """Bad model specs and budgets, and a deleted catalog, fail in a second with one line, before
    Prefect and Ray start."""
    from arlm.catalog import Catalog
    from arlm.home import get_home

    translation = getattr(params, "task", "language-model") == "translation"
    for model in models:
        cfg = (params.translation_train_config if translation else params.train_config)(model=model).validate()
        if cfg.is_seq2seq and not translation:
            from arlm.errors import ConfigError

            raise ConfigError(
                f"model {model} is a translation (seq2seq) model: add --task translation and a parallel --corpus"
            )
    Catalog.check_not_lost(get_home(params.home).catalog_path)


def start_flow_command(args: argparse.Namespace) -> None:
    """The checks passed: set up the process for running flows (arlm.cli.flow_env)."""
    from arlm.cli.flow_env import prepare_flow_command

    prepare_flow_command(args.debug, args.home)


def preflight_corpus(params) -> None:
    """Resolve the corpus SPEC with its globs (paths exist, a folder has matching files) before
    Prefect and Ray start, so a typo costs a second, not a server start-up, and nothing is written."""
    from arlm.data.sources import plan_source
    from arlm.home import get_home

    if getattr(params, "task", "language-model") == "translation":
        preflight_pairs(params)
        return
    plan_source(params.ingest_config(), get_home(params.home).cache / "downloads")


def preflight_pairs(params) -> None:
    """--task translation: a parallel corpus SPEC whose file or folder exists (or bible-en-es)."""
    from arlm.data.config import IngestConfig
    from arlm.errors import ConfigError, NotFoundError
    from arlm.translation.lake import NAMED_PAIRS
    from arlm.translation.pairs import parse_pairs_spec

    cfg = params.pair_ingest_config()
    if cfg.corpus in NAMED_PAIRS:
        return
    if cfg.corpus == IngestConfig.model_fields["corpus"].default:
        raise ConfigError(
            f"--task translation needs a parallel corpus, not {cfg.corpus!r}: give --corpus bible-en-es, "
            "FILE.tsv (source<TAB>target), FILE.jsonl:SRC,TGT, FILE.csv:SRC,TGT, FILE.parquet:SRC,TGT or a folder "
            "of line-aligned NAME.SRC_LANG/NAME.TGT_LANG files"
        )
    path, _fmt, _cols = parse_pairs_spec(cfg.corpus)
    if not path.exists():
        raise NotFoundError(f"{path}: no such file or folder (--corpus {cfg.corpus})")


def add_parsers(sub) -> None:
    from arlm_flows.params import PipelineParams

    p = sub.add_parser(
        "pipeline",
        help="run the whole pipeline (Prefect flow) on a corpus",
        description="Ingest -> tokenizer -> tokenize -> train (Ray Train) -> evaluate -> "
        "register in MLflow. Runs on Prefect's ephemeral API, or on the "
        "server in PREFECT_API_URL. Every parameter of the Prefect flow "
        "`pipeline` is an option; --config/--set set any of them.",
    )
    add_param_options(p, PipelineParams)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_pipeline)


def training_line(summary: dict) -> str:
    """What the training did: steps, why it stopped (a time cap says so), and a resume."""
    resumed = summary.get("resumed_from_step")
    how = f", resumed from step {resumed}" if resumed is not None else ""
    capped = "  (cut short by the time cap: not reproducible)" if summary.get("stopped_by") == "max_seconds" else ""
    return (
        f"trained:         {summary.get('steps')} steps in {summary.get('wall_seconds') or 0:.0f} s, "
        f"stopped by {summary.get('stopped_by')}{how}; run {summary.get('run_id')}{capped}"
    )


def run_pipeline(args: argparse.Namespace) -> int:
    from arlm_flows.params import PipelineParams

    params = params_from_args(PipelineParams, args)
    preflight_train(params, [params.model])  # bad model, budget or a deleted catalog -> error now
    preflight_corpus(params)
    start_flow_command(args)
    t0 = time.time()
    from arlm_flows.pipeline import pipeline

    out = pipeline(params)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    if out.get("task") == "translation":
        print_translation_result(out, time.time() - t0)
        return 0
    m, reg, tr = out["metrics"], out["registration"], out["train"]
    print()
    print(training_line(tr))
    print(
        f"registered:      {reg['uri']}  (version {reg['version']}, "
        f"{'champion' if reg['promoted'] else 'challenger only: the champion is better'})"
    )
    print(
        f"test bits/byte:  {m['bits_per_byte']:.3f}   unigram of the same test text: "
        f"{m['unigram_bits_per_byte']:.3f}   gzip {m['gzip_bits_per_byte']:.3f}  "
        f"bzip2 {m['bzip2_bits_per_byte']:.3f}  xz {m['xz_bits_per_byte']:.3f}"
    )
    print(f"perplexity:      {m['perplexity']:.1f}   accuracy {m['accuracy']:.3f}")
    print(f"sample:          {out['sample_prompt']}{out['sample']!r}")
    print(f"total time:      {time.time() - t0:.0f} s")
    sys.stdout.flush()
    return 0


def print_translation_result(out: dict, seconds: float) -> None:
    m, reg, tr, cv = out["metrics"], out["registration"], out["train"], out["corpus"]
    print()
    print(training_line(tr))
    print(
        f"registered:      {reg['uri']}  (version {reg['version']}, "
        f"{'champion' if reg['promoted'] else 'challenger only: see the gate decision in `arlm models show`'})"
    )
    print(
        f"test {cv['src_lang']}->{cv['tgt_lang']}:    BLEU {m['bleu']:.2f}  chrF {m['chrf']:.2f}  ROUGE-L {m['rouge_l']:.2f}"
        f"   copy-source baseline: BLEU {m['copy_bleu']:.2f}  chrF {m['copy_chrf']:.2f}"
        f"   ({m.get('n_pairs', '?')} pairs, beam {m.get('num_beams', '?')})"
    )
    print(f"reference loss:  {m['loss']:.3f} nats/token, perplexity {m['perplexity']:.1f}")
    print(f"signature:       {m.get('bleu_signature', '')}")
    for x in m.get("samples", [])[:2]:
        print(f"sample:          {x['source']!r} -> {x['output']!r}")
    print(f"total time:      {seconds:.0f} s")
    sys.stdout.flush()
