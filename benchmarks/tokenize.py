"""Encoding speed: HF ``tokenizers`` vs arlm's encoder, same byte-level BPE, same text, one run.

Text: the running Python's standard library ``.py`` files, tests excluded (~11 MB; sizes differ by
Python build). The tokenizer is trained by ``arlm.tokenizers.build_tokenizer`` (default config,
byte-level BPE, vocab 4096) on that text written as a one-split Parquet corpus. Every row encodes
every document and yields the same ids (checked); MB/s is UTF-8 MB of text per wall second, best of
``--repeat`` runs.

    .venv/bin/python benchmarks/tokenize.py [--vocab-size 4096] [--repeat 3]
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder comes first on sys.path and its name shadows the stdlib
# ``tokenize`` module (imported by dataclasses/inspect): drop the folder before anything else.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def stdlib_texts() -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).parts
        if "site-packages" in rel or any(part in ("test", "tests", "idle_test") for part in rel):
            continue
        try:
            texts.append(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    return texts


@dataclass
class Corpus:
    id: str
    files: dict


def write_corpus(texts: list[str], folder: Path) -> Corpus:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "part-train-00000.parquet"
    pq.write_table(pa.table({"text": texts}), path, compression="zstd")
    return Corpus(id="bench-stdlib-code", files={"train": [path]})


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


HF_SINGLE = """
import sys, time, pyarrow.parquet as pq
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1]); tok.encode_special_tokens = True
texts = pq.read_table(sys.argv[2])["text"].to_pylist()
best = min((lambda t0: (tok.encode_batch(texts, add_special_tokens=False), time.perf_counter() - t0)[1])(time.perf_counter())
           for _ in range(int(sys.argv[3])))
print(best)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from arlm.tokenizers import TokenizerConfig, build_tokenizer, load_tokenizer
    from arlm.tokenizers.parallel import encode_parallel, local_cores

    texts = stdlib_texts()
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    mb = n_bytes / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = write_corpus(texts, tmp)
        t0 = time.perf_counter()
        art = build_tokenizer(TokenizerConfig(vocab_size=args.vocab_size), corpus, tmp / "tok")
        t_build = time.perf_counter() - t0
        tok = load_tokenizer(art.path)
        hf = tok.hf
        print(f"text: {len(texts)} stdlib .py files, {mb:.2f} MB (Python {sys.version.split()[0]}); "
              f"{local_cores()} cores; tokenizer {tok}")
        print(f"build_tokenizer (train + tokens-per-byte pass): {t_build:.1f} s\n")

        rows: list[tuple[str, float]] = []

        # HF, its default: encode_batch with its own Rust thread pool (unless TOKENIZERS_PARALLELISM=false)
        env_par = os.environ.get("TOKENIZERS_PARALLELISM")
        dt, hf_ids = best_of(lambda: [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)], args.repeat)
        rows.append((f"HF encode_batch (TOKENIZERS_PARALLELISM={env_par or 'unset'})", dt))
        # HF single process, single thread: a fresh interpreter with parallelism off
        out = subprocess.run([sys.executable, "-c", HF_SINGLE, str(art.path / "tokenizer.json"),
                              str(corpus.files["train"][0]), str(args.repeat)], check=True, capture_output=True,
                             text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        hf_single = float(out.stdout.strip().splitlines()[-1])
        rows.append(("HF encode_batch, single thread (TOKENIZERS_PARALLELISM=false)", hf_single))

        expected = np.concatenate([np.asarray(ids + [tok.eot_id], dtype=np.uint32) for ids in hf_ids])

        def arlm(backend: str, workers: int | None = None):
            def run():
                parts = [ids for ids, _ in encode_parallel(tok, [texts], backend=backend, workers=workers)]
                return np.concatenate(parts)
            return run

        for label, fn in [
            ("arlm tiktoken, 1 thread (serial)", arlm("serial")),
            (f"arlm tiktoken, {local_cores()} threads (default)", arlm("threads")),
            (f"arlm tiktoken, {local_cores()} processes", arlm("processes")),
        ]:
            dt, ids = best_of(fn, args.repeat)
            if not np.array_equal(ids, expected):
                raise SystemExit(f"{label}: ids differ from HF's")
            rows.append((label, dt))

        # end to end: Parquet read + encode + shards with checksums + manifest
        from arlm.tokenizers import tokenize

        def e2e():
            out = tmp / f"tokens-{time.perf_counter_ns()}"
            ds = tokenize(corpus, art, out)
            assert np.array_equal(ds.tokens("train"), expected.astype(ds.dtype))
        dt, _ = best_of(e2e, args.repeat)
        rows.append(("arlm tokenize() end to end (Parquet -> uint16 shards)", dt))

    hf_batch = rows[0][1]
    print(f"| encoder | MB/s | x HF single thread | x HF encode_batch |")
    print(f"| --- | ---: | ---: | ---: |")
    for label, dt in rows:
        print(f"| {label} | {mb / dt:.1f} | {hf_single / dt:.2f} | {hf_batch / dt:.2f} |")
    print(f"\nall arlm rows produced HF's ids exactly ({len(expected):,} tokens incl. one eot per document)")


if __name__ == "__main__":
    main()
