"""``arlm pipeline``: the whole job, run as the Prefect flow ``pipeline``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from arlm.errors import ConfigError


def add_train_options(p: argparse.ArgumentParser, *, model_default: str = "gpt/tiny") -> None:
    """Options shared by ``pipeline``, ``train`` and ``compare``."""
    p.add_argument("--model", default=model_default, help="model KIND[/PRESET] (default %(default)s)")
    p.add_argument("--max-seconds", type=float, default=240.0,
                   help="training wall-time budget in seconds (default %(default)s)")
    p.add_argument("--max-steps", type=int, default=None, help="optional step budget")
    p.add_argument("--workers", type=int, default=1, help="Ray Train workers, DDP (default 1)")
    p.add_argument("--ray-address", default=None, help="existing Ray cluster (default: start a local Ray)")
    p.add_argument("--batch-size", type=int, default=None, help="global batch size (default: preset's)")
    p.add_argument("--block-size", type=int, default=None, help="context length (default: preset's)")
    p.add_argument("--lr", dest="learning_rate", type=float, default=None, help="peak learning rate")
    p.add_argument("--optimizer", choices=["adamw", "muon"], default="muon",
                   help="muon (default): orthogonalised momentum for the attention/MLP matrices, AdamW for "
                        "the rest; or adamw for everything")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-failures", type=int, default=2, help="worker-group restarts allowed (default 2)")
    p.add_argument("--spread", action="store_true",
                   help="place Ray workers on different nodes (placement strategy SPREAD)")


def add_source_options(p: argparse.ArgumentParser) -> None:
    """Which corpus, how it is split and which of its files and bytes are kept (shared by
    ``arlm ingest``, ``arlm pipeline``, ``arlm train`` and ``arlm compare``)."""
    p.add_argument("--corpus", default="stdlib-docs",
                   help="stdlib-docs | stdlib-code | FILE | FOLDER | FILE.jsonl:COLUMN | FILE.csv:COLUMN "
                        "| FILE.parquet:COLUMN | https://URL[#sha256=HEX] | hf:NAME[:COLUMN] "
                        "| a named corpus (HOME/corpora/NAME.json, data_catalog/corpora/NAME.json) "
                        "(default: stdlib-docs)")
    p.add_argument("--val-fraction", type=float, default=0.05, help="share of documents for validation")
    p.add_argument("--test-fraction", type=float, default=0.05, help="share of documents for test")
    p.add_argument("--encoding-errors", choices=["strict", "replace", "skip"], default="replace",
                   help="invalid UTF-8: fail naming the file, replace with U+FFFD (default), or skip the file")
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
        loc = "--" + "-".join(str(x) for x in err["loc"]).replace("_", "-")
        raise ConfigError(f"{loc}: {err['msg']} (got {err.get('input')!r})") from None


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


def run_pipeline(args: argparse.Namespace) -> int:
    from flows.params import PipelineParams

    params = params_from_args(PipelineParams, args)
    from arlm.stages import make_train_config

    make_train_config(params.model, max_seconds=params.max_seconds)  # unknown model -> error now
    preflight_corpus(params)
    t0 = time.time()
    from flows.pipeline import pipeline

    out = pipeline(params)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    m, reg = out["metrics"], out["registration"]
    print()
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
