"""``arlm generate``, ``arlm translate``, ``arlm evaluate`` and ``arlm models list|show|promote|rollback``.

MODEL is any URI ``arlm.registry.load_generator`` (language models) or
``arlm.registry.resolve.load_translator`` (translation models) resolves: ``models:/NAME@champion``,
``models:/NAME/3``, ``runs:/RUN_ID/NAME`` or a local MLflow model folder. Each command takes one
family and refuses the other in one line that names the command to use.
``evaluate --split`` needs the model's token dataset: registration tags the version with
``arlm.token_dataset_version`` (the id under the home's ``tokens/``); ``evaluate --pairs FILE``
scores a translation model on any pairs SPEC.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from arlm.defaults import DEFAULT_MODEL_NAME, DEFAULT_TRANSLATION_MODEL_NAME

# what `arlm pipeline` registers by default (its --name), crowned by the gate
DEFAULT_MODEL_URI = f"models:/{DEFAULT_MODEL_NAME}@champion"
MODEL_HELP = (
    "model URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/NAME or an MLflow model "
    "folder (default %(default)s: the champion of the model `arlm pipeline` registers)"
)
DEFAULT_TRANSLATION_MODEL_URI = f"models:/{DEFAULT_TRANSLATION_MODEL_NAME}@champion"
TRANSLATION_MODEL_HELP = (
    "translation model URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/NAME or an MLflow "
    "model folder (default %(default)s: the champion of `arlm pipeline --task translation`, "
    "which registers under that name when not given --name)"
)
PROGRESS_LINES = 100  # an --input-file longer than this reports progress on stderr


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

    t = sub.add_parser(
        "translate",
        help="translate text with a registered translation model",
        description="Translate TEXT (or every line of --input-file) with a translation model "
        "(transformer-seq2seq, lstm-attn-seq2seq); beam search with 4 beams by default. A source "
        "longer than the model's limit (max_source_len tokens with its end token) is refused, naming "
        "the limit (and the file's line), unless --truncate keeps its first tokens.",
    )
    t.add_argument("text", nargs="?", default=None, metavar="TEXT", help="the text to translate (or --input-file)")
    t.add_argument("--model", default=DEFAULT_TRANSLATION_MODEL_URI, help=TRANSLATION_MODEL_HELP)
    t.add_argument(
        "--input-file",
        default=None,
        metavar="FILE",
        help="translate FILE (UTF-8) line by line to standard output, one translation a line (a blank "
        "line stays blank, a line break inside a translation becomes a space; '-': standard input); "
        "progress goes to standard error for long files",
    )
    t.add_argument(
        "--num-beams", type=int, default=4, help="beam search width (1: greedy decoding; default %(default)s)"
    )
    t.add_argument(
        "--length-penalty",
        type=float,
        default=1.0,
        help="beam scores are log-probabilities / length**P (0: raw sum, favours short outputs; default %(default)s)",
    )
    t.add_argument(
        "--max-len-a",
        type=float,
        default=1.5,
        help="an output has at most A x source tokens + B tokens (default A=%(default)s)",
    )
    t.add_argument("--max-len-b", type=int, default=10, help="the B of --max-len-a (default %(default)s)")
    t.add_argument(
        "--truncate",
        action="store_true",
        help="keep the first tokens of a source longer than the model's limit (default: refuse it)",
    )
    t.add_argument("--batch-size", type=int, default=32, help="sources decoded together (default %(default)s)")
    t.set_defaults(func=run_translate)

    e = sub.add_parser(
        "evaluate",
        help="a language model's bits per byte beside gzip/bzip2/xz, or a translator's BLEU/chrF on pairs",
        description="Evaluate a language model on a split of its token dataset (default: test) or on "
        "any UTF-8 text file, tokenized by the model's own tokenizer; or, with --pairs, a translation "
        "model on sentence pairs: sacreBLEU BLEU, chrF and chrF++ (with their signatures), ROUGE-L, "
        "loss and perplexity per reference token, and the copy-source baseline (the untranslated "
        "sources scored).",
    )
    e.add_argument("--model", default=DEFAULT_MODEL_URI, help=MODEL_HELP)
    src = e.add_mutually_exclusive_group()
    src.add_argument("--split", default=None, help="split of the model's token dataset (default: test)")
    src.add_argument("--text-file", type=Path, default=None, help="a UTF-8 text file to evaluate on")
    src.add_argument(
        "--pairs",
        default=None,
        metavar="SPEC",
        help="sentence pairs to score a translation model on: FILE.tsv (source<TAB>target), "
        "FILE.tsv:SRC,TGT (header row), FILE.jsonl:SRC,TGT, FILE.csv:SRC,TGT, FILE.parquet:SRC,TGT or "
        "a folder of line-aligned NAME.SRC_LANG/NAME.TGT_LANG files (pairs with a blank side are skipped)",
    )
    e.add_argument(
        "--samples",
        type=int,
        default=3,
        help=f"sample continuations (translations with --pairs) to show, 1 to {MAX_SAMPLES} (default 3)",
    )
    e.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="windows per forward pass (default 16); with --pairs, sources decoded together (default 32)",
    )
    e.add_argument("--num-beams", type=int, default=None, help="with --pairs: beam search width (1: greedy; default 4)")
    e.add_argument(
        "--max-pairs", type=int, default=None, help="with --pairs: score only the first N pairs (default: all)"
    )
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
    pairs = getattr(args, "pairs", None) is not None
    if getattr(args, "batch_size", None) is None:
        args.batch_size = 32 if pairs else 16
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not pairs:
        given = [
            o
            for o, v in (
                ("--num-beams", getattr(args, "num_beams", None)),
                ("--max-pairs", getattr(args, "max_pairs", None)),
            )
            if v is not None
        ]
        if given:
            raise ConfigError(f"{' and '.join(given)}: only with --pairs (scoring a translation model)")
        return
    if args.num_beams is None:
        args.num_beams = 4
    if args.num_beams < 1:
        raise ConfigError(f"--num-beams must be >= 1, got {args.num_beams}")
    if args.max_pairs is not None and args.max_pairs < 1:
        raise ConfigError(f"--max-pairs must be >= 1, got {args.max_pairs}")


def run_evaluate(args: argparse.Namespace) -> int:
    check_evaluate_args(args)
    if getattr(args, "pairs", None) is not None:
        return run_evaluate_pairs(args)
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


def run_evaluate_pairs(args: argparse.Namespace) -> int:
    from arlm.home import get_home
    from arlm.translation.evaluate import format_scores
    from arlm.translation.model_stages import evaluate_pairs_file

    quiet = args.json or not sys.stderr.isatty()
    report = evaluate_pairs_file(
        args.model,
        get_home(args.home),
        args.pairs,
        num_beams=args.num_beams,
        max_pairs=args.max_pairs,
        batch_size=args.batch_size,
        samples=args.samples,
        progress=None if quiet else lambda line: print(f"arlm: {line}", file=sys.stderr, flush=True),
    )
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    lines = [format_scores(report["metrics"], report["title"])]
    if report["metrics"].get("n_skipped_blank"):
        lines.append(f"  pairs with a blank side skipped: {report['metrics']['n_skipped_blank']}")
    for s in report["translations"]:
        lines += ["", f"  > {s['source']}", f"  = {s['reference']}", f"  < {s['translation']}"]
    print("\n".join(lines))
    return 0


# -- translate -----------------------------------------------------------------------------------
def decode_config(args: argparse.Namespace):
    """The ``DecodeConfig`` of ``arlm translate``'s options (bad values: one-line ConfigErrors)."""
    from arlm.translation.decode import DecodeConfig

    return DecodeConfig(
        num_beams=args.num_beams,
        length_penalty=args.length_penalty,
        max_len_a=args.max_len_a,
        max_len_b=args.max_len_b,
        truncate_source=args.truncate,
        batch_size=args.batch_size,
    )


def _read_lines(name: str) -> list[str]:
    """The lines of FILE (or standard input for '-'), UTF-8; a missing or undecodable file is a
    DataError naming it (and the line of a bad byte)."""
    from arlm.errors import DataError

    if name == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(name)
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"{name}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line
    return [line.rstrip("\r") for line in lines]


def run_translate(args: argparse.Namespace) -> int:
    import time

    from arlm.errors import ConfigError
    from arlm.home import get_home
    from arlm.registry.resolve import load_translator
    from arlm.translation.evaluate import check_source_lengths

    if (args.text is None) == (args.input_file is None):
        raise ConfigError("give the TEXT to translate or --input-file FILE (one of them)")
    if args.text is not None and not args.text.strip():
        raise ConfigError("TEXT is empty: give some text to translate")
    cfg = decode_config(args)  # bad options fail before the model loads
    lines = _read_lines(args.input_file) if args.input_file is not None else [args.text]
    translator = load_translator(args.model, tracking_uri=get_home(args.home).mlflow_tracking_uri)
    where = (lambda i: "TEXT") if args.input_file is None else (lambda i: f"{args.input_file}:{i + 1}")
    # every line is checked before the first is printed: a refused file prints nothing
    check_source_lengths(
        translator, lines, truncate=args.truncate, where=where, hint="use --truncate to keep its first tokens"
    )
    chunk = max(cfg.batch_size, 64)
    show = args.input_file is not None and len(lines) > PROGRESS_LINES
    start = time.perf_counter()
    for lo in range(0, len(lines), chunk):
        for line in translator.translate(lines[lo : lo + chunk], cfg):
            # one output line per input line, whatever a translation holds
            sys.stdout.write(line.replace("\r", " ").replace("\n", " ") + "\n")
        sys.stdout.flush()
        if show:
            done = min(lo + chunk, len(lines))
            rate = done / max(time.perf_counter() - start, 1e-9)
            print(f"arlm: translated {done}/{len(lines)} lines ({rate:.1f} lines/s)", file=sys.stderr, flush=True)
    return 0


# -- models --------------------------------------------------------------------------------------
def run_models_list(args: argparse.Namespace) -> int:
    from arlm.registry import format_models_list, list_models

    rows = list_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(format_models_list(rows))
    return 0


def run_models_show(args: argparse.Namespace) -> int:
    from arlm.registry import format_model_show, show_model

    info = show_model(args.name)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(format_model_show(info))
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
