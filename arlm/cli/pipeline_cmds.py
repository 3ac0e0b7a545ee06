"""``arlm pipeline``: the whole job, run as the Prefect flow ``pipeline``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from arlm.defaults import (DEFAULT_MODEL, DEFAULT_OPTIMIZER, DEFAULT_PIPELINE_LR, DEFAULT_PIPELINE_STEPS, DEFAULT_RESUME,
                           DEFAULT_SEED, RESUME_MODES)
from arlm.errors import ConfigError


def _steps(text: str) -> int | None:
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of steps or 'none', got {text!r}") from None


def add_train_options(p: argparse.ArgumentParser, *, model_default: str = DEFAULT_MODEL) -> None:
    """Options shared by ``pipeline``, ``train`` and ``compare``; defaults from ``arlm.defaults``."""
    p.add_argument("--model", default=model_default, help="model KIND[/PRESET] (default %(default)s)")
    p.add_argument("--max-steps", type=_steps, default=DEFAULT_PIPELINE_STEPS,
                   help="step budget per model (default %(default)s): the same command gives the same "
                        "model bit for bit; 'none' leaves --max-seconds alone")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="optional wall-time cap per model in seconds (whichever ends first; the result "
                        "says 'stopped by max_seconds')")
    p.add_argument("--resume", choices=list(RESUME_MODES), default=DEFAULT_RESUME,
                   help="auto (default): rerunning the same command continues its interrupted training "
                        "from the last checkpoint; never: train afresh in a new run folder")
    p.add_argument("--workers", type=int, default=1, help="Ray Train workers, DDP (default 1)")
    p.add_argument("--ray-address", default=None, help="existing Ray cluster (default: start a local Ray)")
    p.add_argument("--batch-size", type=int, default=None, help="global batch size (default: preset's)")
    p.add_argument("--block-size", type=int, default=None, help="context length (default: preset's)")
    p.add_argument("--lr", dest="learning_rate", type=float, default=DEFAULT_PIPELINE_LR,
                   help="peak learning rate (default %(default)s)")
    p.add_argument("--optimizer", choices=["adamw", "muon"], default=DEFAULT_OPTIMIZER,
                   help="muon (default): orthogonalised momentum for the attention/MLP matrices, AdamW for "
                        "the rest; or adamw for everything")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help="seed of initialisation, data order and dropout (default %(default)s)")
    p.add_argument("--max-failures", type=int, default=2, help="worker-group restarts allowed (default 2)")
    p.add_argument("--spread", action="store_true",
                   help="place Ray workers on different nodes (placement strategy SPREAD)")


def add_source_options(p: argparse.ArgumentParser) -> None:
    """Which corpus, how it is split and which of its files and bytes are kept (shared by
    ``arlm ingest``, ``arlm pipeline``, ``arlm train`` and ``arlm compare``)."""
    p.add_argument("--corpus", default="stdlib-docs",
                   help="stdlib-docs | stdlib-code | FILE | FOLDER | FILE.jsonl[:COLUMN] | FILE.csv[:COLUMN] "
                        "| FILE.parquet[:COLUMN] (COLUMN defaults to 'text') | https://URL[#sha256=HEX] "
                        "| hf:NAME[:COLUMN] | a named corpus (HOME/corpora/NAME.json, "
                        "data_catalog/corpora/NAME.json) (default: stdlib-docs)")
    p.add_argument("--val-fraction", type=float, default=0.05,
                   help="share of documents for validation (0: no validation split)")
    p.add_argument("--test-fraction", type=float, default=0.05,
                   help="share of documents for test (0: no test split)")
    p.add_argument("--encoding", default="utf-8", metavar="NAME|auto",
                   help="text encoding of the input: utf-8 (default; a UTF-8/16/32 byte order mark is "
                        "honoured), a Python codec name (latin-1, cp1252, utf-16...), or auto "
                        "(charset-normalizer guesses each file that is not valid UTF-8)")
    p.add_argument("--encoding-errors", choices=["strict", "replace", "skip"], default="replace",
                   help="bytes invalid in the encoding: fail naming the file, replace with U+FFFD "
                        "(default; the files are named on stderr), or skip the file")
    p.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="folder sources: keep only relative paths matching GLOB (repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="folder sources: drop relative paths matching GLOB (repeatable)")


def add_corpus_options(p: argparse.ArgumentParser) -> None:
    """Where the tokens come from: a corpus SPEC, its splits, and the tokenizer to build."""
    add_source_options(p)
    p.add_argument("--tokenizer", dest="tokenizer_kind", choices=["bpe", "char", "bytes"], default="bpe",
                   help="tokenizer kind (default bpe)")
    p.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary size (default 4096)")


def params_from_args(model_cls, args: argparse.Namespace, **extra):
    """Build a flow parameter model from CLI args; pydantic errors become one-line ConfigErrors."""
    from pydantic import ValidationError

    fields = {k: getattr(args, k) for k in model_cls.model_fields if hasattr(args, k)}
    fields.update(extra)
    fields["home"] = getattr(args, "home", None)
    try:
        return model_cls(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # a check across fields (e.g. no budget at all)
            raise ConfigError(str(err["msg"]).removeprefix("Value error, ")) from None
        loc = "--" + "-".join(str(x) for x in err["loc"]).replace("_", "-")
        got = repr(err.get("input"))
        got = got if len(got) <= 60 else got[:57] + "..."
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{loc}: {msg} (got {got})") from None


def preflight_corpus(params) -> None:
    """Resolve the corpus SPEC with its globs (paths exist, a folder has matching files) before
    Prefect and Ray start, so a typo costs a second, not a server start-up, and nothing is written."""
    from arlm.data.sources import plan_source
    from arlm.home import get_home

    plan_source(params.ingest_config(), get_home(params.home).cache / "downloads")


def add_parsers(sub) -> None:
    p = sub.add_parser("pipeline", help="run the whole pipeline (Prefect flow) on a corpus",
                       description="Ingest -> tokenizer -> tokenize -> train (Ray Train) -> evaluate -> "
                                   "register in MLflow. Runs on Prefect's ephemeral API, or on the "
                                   "server in PREFECT_API_URL.")
    add_corpus_options(p)
    p.add_argument("--name", default="arlm-gpt", help="registered model name (default %(default)s)")
    add_train_options(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_pipeline)


def training_line(summary: dict) -> str:
    """What the training did: steps, why it stopped (a time cap says so), and a resume."""
    resumed = summary.get("resumed_from_step")
    how = f", resumed from step {resumed}" if resumed is not None else ""
    capped = "  (cut short by the time cap: not reproducible)" if summary.get("stopped_by") == "max_seconds" else ""
    return (f"trained:         {summary.get('steps')} steps in {summary.get('wall_seconds') or 0:.0f} s, "
            f"stopped by {summary.get('stopped_by')}{how}; run {summary.get('run_id')}{capped}")


def run_pipeline(args: argparse.Namespace) -> int:
    from flows.params import PipelineParams

    params = params_from_args(PipelineParams, args)
    from arlm.cli.train_cmds import preflight_train, start_flow_command

    preflight_train(params, [params.model])  # bad model, budget or a deleted catalog -> error now
    preflight_corpus(params)
    start_flow_command(args)
    t0 = time.time()
    from flows.pipeline import pipeline

    out = pipeline(params)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    m, reg, tr = out["metrics"], out["registration"], out["train"]
    print()
    print(training_line(tr))
    print(f"registered:      {reg['uri']}  (version {reg['version']}, "
          f"{'champion' if reg['promoted'] else 'challenger only: the champion is better'})")
    print(f"test bits/byte:  {m['bits_per_byte']:.3f}   unigram of the same test text: "
          f"{m['unigram_bits_per_byte']:.3f}   gzip {m['gzip_bits_per_byte']:.3f}  "
          f"bzip2 {m['bzip2_bits_per_byte']:.3f}  xz {m['xz_bits_per_byte']:.3f}")
    print(f"perplexity:      {m['perplexity']:.1f}   accuracy {m['accuracy']:.3f}")
    print(f"sample:          {out['sample_prompt']}{out['sample']!r}")
    print(f"total time:      {time.time() - t0:.0f} s")
    sys.stdout.flush()
    return 0
