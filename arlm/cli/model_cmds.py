"""``arlm generate``, ``arlm evaluate`` and ``arlm models list|show|promote|rollback``.

MODEL is any URI ``arlm.registry.load_generator`` resolves: ``models:/NAME@champion``,
``models:/NAME/3``, ``runs:/RUN_ID/NAME`` or a local MLflow model folder.
``evaluate --split`` needs the model's token dataset: registration tags the version with
``arlm.token_dataset_version`` (the id under the home's ``tokens/``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from arlm.defaults import DEFAULT_MODEL_NAME

# what `arlm pipeline` registers by default (its --name), crowned by the gate
DEFAULT_MODEL_URI = f"models:/{DEFAULT_MODEL_NAME}@champion"
MODEL_HELP = (
    "model URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/NAME or an MLflow model "
    "folder (default %(default)s: the champion of the model `arlm pipeline` registers)"
)


def add_parsers(sub) -> None:
    g = sub.add_parser(
        "generate",
        help="continue a prompt with a registered model (streams tokens)",
        description="Continue PROMPT with a model; tokens are printed as they come. "
        "Greedy by default; --temperature/--top-k/--top-p switch on sampling.",
    )
    g.add_argument("prompt", metavar="PROMPT", help="text to continue")
    g.add_argument("--model", default=DEFAULT_MODEL_URI, help=MODEL_HELP)
    g.add_argument("--max-new-tokens", type=int, default=64, help="tokens to generate (default %(default)s)")
    g.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="sampling temperature > 0 (0: greedy; default: greedy unless --top-k/--top-p)",
    )
    g.add_argument("--top-k", type=int, default=None, help="sample among the K most likely tokens")
    g.add_argument("--top-p", type=float, default=None, help="sample from the smallest set with mass P (0, 1]")
    g.add_argument("--num-beams", type=int, default=1, help="beam search width (default 1: no beams)")
    g.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")
    g.add_argument(
        "--stop", action="append", default=[], metavar="STRING", help="stop when this string is generated (repeatable)"
    )
    g.add_argument("--no-cache", action="store_true", help="recompute the full forward pass per token (slow reference)")
    g.set_defaults(func=run_generate)

    e = sub.add_parser(
        "evaluate",
        help="bits per byte, perplexity, accuracy of a model beside gzip/bzip2/xz",
        description="Evaluate a model on a split of its token dataset (default: test) or on "
        "any UTF-8 text file, tokenized by the model's own tokenizer.",
    )
    e.add_argument("--model", default=DEFAULT_MODEL_URI, help=MODEL_HELP)
    src = e.add_mutually_exclusive_group()
    src.add_argument("--split", default=None, help="split of the model's token dataset (default: test)")
    src.add_argument("--text-file", type=Path, default=None, help="a UTF-8 text file to evaluate on")
    e.add_argument(
        "--samples", type=int, default=3, help=f"sample continuations to show, 1 to {MAX_SAMPLES} (default 3)"
    )
    e.add_argument("--batch-size", type=int, default=16, help="windows per forward pass (default 16)")
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    e.set_defaults(func=run_evaluate)

    m = sub.add_parser("models", help="registered models and their champion/challenger aliases")
    msub = m.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True
    ps = msub.add_parser(
        "presets",
        help="model kinds and presets with their sizes",
        description="Every KIND/PRESET that --model accepts, with parameters and forward "
        "FLOPs per token at a vocabulary size (KIND alone means KIND/tiny).",
    )
    ps.add_argument("--vocab-size", type=int, default=4096, help="vocabulary to size the models at (default 4096)")
    ps.add_argument("--json", action="store_true", help="print the table as JSON")
    ps.set_defaults(func=run_models_presets)
    ls = msub.add_parser("list", help="registered models with versions and aliases")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_models_list)
    sh = msub.add_parser("show", help="versions of one model with aliases, gate decisions and tags")
    sh.add_argument("name")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=run_models_show)
    pr = msub.add_parser("promote", help="make VERSION the champion by hand")
    pr.add_argument("name")
    pr.add_argument("version")
    pr.set_defaults(func=run_models_promote)
    rb = msub.add_parser("rollback", help="give the champion alias back to the previous champion")
    rb.add_argument("name")
    rb.set_defaults(func=run_models_rollback)


# -- generate ------------------------------------------------------------------------------------
def generation_config(args: argparse.Namespace):
    from arlm.generation import GenerationConfig

    kwargs: dict[str, Any] = dict(
        max_new_tokens=args.max_new_tokens,
        num_beams=args.num_beams,
        seed=args.seed,
        stop=tuple(args.stop),
        use_cache=not args.no_cache,
    )
    for name in ("temperature", "top_k", "top_p"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    return GenerationConfig(**kwargs)


def run_generate(args: argparse.Namespace) -> int:
    from arlm.registry import load_generator

    cfg = generation_config(args)  # bad options fail before the model loads
    gen = load_generator(args.model)
    out = sys.stdout
    out.write(args.prompt)
    out.flush()

    def stream(row: int, piece: str) -> None:
        out.write(piece)
        out.flush()

    def notice(line: str) -> None:  # e.g. a prompt cut to the model's context
        print(f"arlm: note: {line}", file=sys.stderr, flush=True)

    if cfg.stop:  # a stop string is only known once complete: print the cut text at the end
        out.write(gen.generate([args.prompt], cfg, on_notice=notice)[0])
    else:
        gen.generate([args.prompt], cfg, on_text=stream, on_notice=notice)
    out.write("\n")
    return 0


# -- evaluate ------------------------------------------------------------------------------------
MAX_SAMPLES = 100


def check_evaluate_args(args: argparse.Namespace) -> None:
    """Numbers of ``arlm evaluate`` checked before anything loads (one-line errors, exit 2)."""
    from arlm.errors import ConfigError

    if not 1 <= args.samples <= MAX_SAMPLES:
        raise ConfigError(f"--samples must be between 1 and {MAX_SAMPLES}, got {args.samples}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")


def run_evaluate(args: argparse.Namespace) -> int:
    check_evaluate_args(args)
    from arlm.evaluation.report import format_report
    from arlm.home import get_home
    from arlm.stages import evaluate_model

    report = evaluate_model(
        args.model,
        get_home(args.home),
        split=args.split,
        text_file=args.text_file,
        samples=args.samples,
        batch_size=args.batch_size,
    )
    print(
        json.dumps(report, indent=2, default=str)
        if args.json
        else format_report(report["metrics"], report["title"], report["samples"])
    )
    return 0


# -- models --------------------------------------------------------------------------------------
def run_models_list(args: argparse.Namespace) -> int:
    from arlm.registry import list_models

    rows = list_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no registered models")
        return 0
    print(f"{'name':<24}{'versions':>9}{'latest':>8}  {'champion bpb':>12}  aliases")
    for r in rows:
        bpb = "-" if r["champion_test_bpb"] is None else f"{r['champion_test_bpb']:.4f}"
        aliases = ", ".join(f"@{a}=v{v}" for a, v in sorted(r["aliases"].items())) or "-"
        print(f"{r['name']:<24}{r['n_versions']:>9}{r['latest_version'] or '-':>8}  {bpb:>12}  {aliases}")
    return 0


def run_models_show(args: argparse.Namespace) -> int:
    from arlm.registry import show_model

    info = show_model(args.name)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{info['name']}  aliases: " + (", ".join(f"@{a}=v{v}" for a, v in sorted(info["aliases"].items())) or "-"))
    print(f"champion history: {info['champion_history']}")
    for v in info["versions"]:
        t = v["tags"]
        print(
            f"  v{v['version']:<4} {','.join(v['aliases']) or '-':<22} test bpb {t.get('arlm.test_bpb', '-'):<22} "
            f"gate: {t.get('arlm.gate.decision', '-')} ({t.get('arlm.gate.reason', '')})"
        )
    return 0


def run_models_promote(args: argparse.Namespace) -> int:
    from arlm.registry import promote

    previous = promote(args.name, args.version)
    print(f"{args.name}: champion is now v{args.version} (was {'v' + previous if previous else 'none'})")
    return 0


def run_models_rollback(args: argparse.Namespace) -> int:
    from arlm.registry import rollback

    old, new = rollback(args.name)
    print(f"{args.name}: champion rolled back from v{old} to v{new}")
    return 0


def run_models_presets(args: argparse.Namespace) -> int:
    from arlm.errors import ConfigError
    from arlm.models.registry import preset_table

    if args.vocab_size < 2:
        raise ConfigError(f"--vocab-size: must be at least 2, got {args.vocab_size}")
    from arlm.training.config import TrainConfig

    rows = preset_table(args.vocab_size)
    default = TrainConfig().model
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<18} {'params':>13} {'MFLOPs/token':>13} {'context':>8}  config")
    for r in rows:
        cfg = ", ".join(f"{k}={v}" for k, v in r["config"].items() if k != "block_size")
        params = "counts" if r["params"] is None else f"{r['params']:,}"
        flops = "-" if r["flops_per_token"] is None else f"{r['flops_per_token'] / 1e6:.2f}"
        print(
            f"{r['model'] + (' *' if r['model'] == default else ''):<18} {params:>13} {flops:>13} "
            f"{r['block_size']:>8}  {cfg}"
        )
    print(f"(sizes at a vocabulary of {args.vocab_size:,}; * the pipeline's default model; KIND alone is KIND/tiny)")
    return 0
