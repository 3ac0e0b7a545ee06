"""``arlm tokenizer {build,encode,decode,show}`` and ``arlm tokenize``.

``build`` and ``tokenize`` go through ``arlm.stages`` so the new version is recorded in the
catalog exactly as the flows record it; ``encode``/``decode`` are a quick look at how text splits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parsers(sub) -> None:
    tok = sub.add_parser(
        "tokenizer",
        help="build a tokenizer; see how text splits into tokens",
        description="Train a tokenizer on a corpus version, or encode/decode with one.",
    )
    tsub = tok.add_subparsers(dest="tokenizer_command", metavar="SUBCOMMAND")
    tsub.required = True

    b = tsub.add_parser("build", help="train a tokenizer on a corpus version (reused if it exists)")
    b.add_argument("--corpus-version", required=True, metavar="ID", help="corpus version id (`arlm catalog ls`)")
    b.add_argument(
        "--kind",
        choices=["bpe", "char", "bytes"],
        default=None,
        help="bpe: byte-level BPE (default); char: characters + byte fallback; bytes: 256 ids",
    )
    b.add_argument("--vocab-size", type=int, default=None, help="vocabulary budget incl. specials (default 4096)")
    b.add_argument("--min-frequency", type=int, default=None, help="minimum count of a merge / character (default 2)")
    b.add_argument("--max-train-bytes", type=int, default=None, help="train on at most this much text")
    b.add_argument("--json", action="store_true", help="print the result as JSON")
    b.set_defaults(func=cmd_build)

    e = tsub.add_parser("encode", help="show the tokens of TEXT (or stdin with '-')")
    e.add_argument(
        "--tokenizer",
        required=True,
        metavar="ID_OR_PATH",
        help="tokenizer id (or unique prefix) in the home, a tokenizer folder, or a tokenizer.json",
    )
    e.add_argument("text", metavar="TEXT", help="text to encode; '-' reads stdin")
    e.add_argument("--ids", action="store_true", help="print only the ids, space-separated")
    e.add_argument("--json", action="store_true", help="print ids and pieces as JSON")
    e.set_defaults(func=cmd_encode)

    d = tsub.add_parser("decode", help="turn token ids back into text")
    d.add_argument("--tokenizer", required=True, metavar="ID_OR_PATH")
    d.add_argument("ids", nargs="+", metavar="ID", help="token ids (space or comma separated); '-' reads stdin")
    d.set_defaults(func=cmd_decode)

    s = tsub.add_parser("show", help="print a tokenizer's metadata (kind, vocabulary, tokens per byte)")
    s.add_argument("tokenizer", metavar="ID_OR_PATH")
    s.set_defaults(func=cmd_show)

    t = sub.add_parser(
        "tokenize",
        help="encode a corpus version into token shards (reused if they exist)",
        description="Encode every split of a corpus version with a tokenizer into "
        "memory-mappable shards + manifest (home/tokens/<id>).",
    )
    t.add_argument("--corpus-version", required=True, metavar="ID")
    t.add_argument("--tokenizer", required=True, metavar="ID", help="tokenizer id (or unique prefix)")
    t.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDRESS",
        help="encode as Ray tasks on this cluster's nodes ('auto': the running one); "
        "default: threads on the local cores",
    )
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_tokenize)


def _home(args):
    from arlm.home import get_home

    return get_home(getattr(args, "home", None))


def resolve_tokenizer_dir(home, ref: str) -> Path:
    """A path that exists, else a tokenizer id or unique id prefix under ``home.tokenizers``."""
    from arlm.errors import NotFoundError

    p = Path(ref).expanduser()
    if p.exists():
        return p
    exact = home.tokenizers / ref
    if exact.is_dir():
        return exact
    matches = (
        sorted(d for d in home.tokenizers.glob(f"{ref}*") if d.is_dir() and ".tmp-" not in d.name)
        if home.tokenizers.exists() and ref
        else []
    )
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotFoundError(
            f"tokenizer '{ref}' is ambiguous in {home.tokenizers}: {', '.join(m.name for m in matches[:5])}"
        )
    raise NotFoundError(
        f"tokenizer '{ref}' not found: not a path, nor an id in {home.tokenizers} (see `arlm catalog ls`)"
    )


def _progress(args):
    return None if getattr(args, "json", False) else (lambda m: print(m, file=sys.stderr, flush=True))


def cmd_build(args: argparse.Namespace) -> int:
    from arlm import stages
    from arlm.tokenizers import TokenizerArtifact, TokenizerConfig

    home = _home(args).ensure()
    cfg = TokenizerConfig.parse(
        kind=args.kind,
        vocab_size=args.vocab_size,
        min_frequency=args.min_frequency,
        max_train_bytes=args.max_train_bytes,
    )
    out = stages.tokenizer_stage(cfg, args.corpus_version, home, progress=_progress(args) or (lambda m: None))
    art = TokenizerArtifact.open(out["path"])
    if args.json:
        print(json.dumps({**out, "meta": art.meta}, indent=2, default=str))
        return 0
    print(_describe(art))
    return 0


def _describe(art) -> str:
    m = art.meta
    tpb = ", ".join(f"{s} {v:.3f}" for s, v in m.get("tokens_per_byte", {}).items())
    return (
        f"tokenizer {art.id} ({art.kind}, vocab {art.vocab_size}, eot {m.get('eot_id')}, pad {m.get('pad_id')}, "
        f"encoder {m.get('encoder', '?')})\n  corpus {m.get('corpus_id')}\n  tokens per byte: {tpb or '-'}\n"
        f"  at {art.path}"
    )


def cmd_show(args: argparse.Namespace) -> int:
    from arlm.tokenizers import TokenizerArtifact

    print(_describe(TokenizerArtifact.open(resolve_tokenizer_dir(_home(args), args.tokenizer))))
    return 0


def _piece_text(b: bytes) -> str | None:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _piece_repr(b: bytes) -> str:
    """A token's text, quoted; a partial UTF-8 sequence shows as its bytes (``<0xc3>``)."""
    text = _piece_text(b)
    return "".join(f"<0x{x:02x}>" for x in b) if text is None else json.dumps(text, ensure_ascii=False)


def cmd_encode(args: argparse.Namespace) -> int:
    from arlm.tokenizers import load_tokenizer

    tok = load_tokenizer(resolve_tokenizer_dir(_home(args), args.tokenizer))
    text = sys.stdin.read() if args.text == "-" else args.text
    pieces = tok.pieces(text)
    ids = [i for i, _ in pieces]
    if args.json:
        print(
            json.dumps(
                {
                    "ids": ids,
                    "pieces": [_piece_text(b) for _, b in pieces],
                    "piece_bytes": [b.hex() for _, b in pieces],
                },
                ensure_ascii=False,
            )
        )
        return 0
    if args.ids:
        print(" ".join(map(str, ids)))
        return 0
    for i, b in pieces:
        print(f"{i:>8}  {_piece_repr(b)}")
    n_bytes = len(text.encode("utf-8"))
    print(
        f"{len(ids)} tokens, {n_bytes} bytes"
        + (f", {len(ids) / n_bytes:.3f} tokens/byte" if n_bytes else "")
        + f" ({tok.kind}, vocab {tok.vocab_size})"
    )
    return 0


def parse_ids(raw: list[str]) -> list[int]:
    from arlm.errors import ConfigError

    if raw == ["-"]:
        raw = sys.stdin.read().split()
    out: list[int] = []
    for chunk in raw:
        for part in chunk.replace(",", " ").split():
            try:
                out.append(int(part))
            except ValueError:
                raise ConfigError(f"token id '{part}' is not an integer") from None
    return out


def cmd_decode(args: argparse.Namespace) -> int:
    from arlm.tokenizers import load_tokenizer

    tok = load_tokenizer(resolve_tokenizer_dir(_home(args), args.tokenizer))
    sys.stdout.write(tok.decode(parse_ids(args.ids)) + "\n")
    return 0


def cmd_tokenize(args: argparse.Namespace) -> int:
    from arlm import stages
    from arlm.tokenizers import TokenDataset

    home = _home(args).ensure()
    tok_dir = resolve_tokenizer_dir(home, args.tokenizer)
    if args.ray_address:  # connected: encode_parallel picks Ray tasks
        from arlm.training.ray_launcher import ensure_ray

        ensure_ray(args.ray_address)
    out = stages.tokenize_stage(args.corpus_version, tok_dir.name, home, progress=_progress(args) or (lambda m: None))
    ds = TokenDataset.open(out["path"])
    if args.json:
        print(json.dumps({**out, "manifest": ds.manifest}, indent=2, default=str))
        return 0
    print(f"token dataset {ds.id} ({ds.manifest['dtype']}, vocab {ds.vocab_size}) at {ds.path}")
    for split in ds.splits:
        print(
            f"  {split}: {ds.n_tokens(split):,} tokens, {ds.n_docs(split):,} docs, {ds.n_bytes(split):,} bytes, "
            f"{len(ds.manifest['splits'][split]['shards'])} shard(s)"
        )
    return 0
