"""Every model kind under the same CPU time budget, on the same tokens: a leaderboard.

    python benchmarks/family.py --corpus ../shared/data/tinyshakespeare.txt --seconds 120

Ingests the corpus (a single long document is cut into segments, so it gets val/test parts),
builds a tokenizer (character level by default, as nanoGPT's shakespeare_char), tokenizes, then
trains each kind in this process with arlm's one training loop (no Ray: the benchmark measures
the models, not the launcher) and evaluates it on the test split. Prints test bits per byte beside
gzip / bzip2 / xz of the very same test bytes.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # benchmarks/tokenize.py shadows stdlib

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

KINDS = ["ngram/4gram", "rnn", "lstm", "gru", "lstm-attn", "gpt"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="../shared/data/tinyshakespeare.txt", help="corpus SPEC")
    ap.add_argument("--seconds", type=float, default=120.0, help="training wall-time budget per model")
    ap.add_argument("--models", default=",".join(KINDS), help="comma-separated KIND[/PRESET]")
    ap.add_argument("--tokenizer", default="char", choices=["char", "bpe", "bytes"])
    ap.add_argument("--vocab-size", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--home", default=None, help="project home (default: a temporary folder)")
    args = ap.parse_args(argv)

    import torch

    from arlm import stages
    from arlm.data import IngestConfig, load_corpus_version, split_bytes
    from arlm.evaluation import compression_baselines, evaluate_tokens
    from arlm.home import get_home
    from arlm.models import load_model
    from arlm.tokenizers import TokenDataset, TokenizerConfig
    from arlm.training import TrainConfig, train

    torch.set_num_threads(max(1, torch.get_num_threads()))
    tmp = tempfile.TemporaryDirectory(prefix="arlm-family-") if args.home is None else None
    home = get_home(args.home or tmp.name).ensure()
    quiet = lambda m: print(m, file=sys.stderr)  # noqa: E731
    cv = stages.ingest_stage(IngestConfig(corpus=args.corpus, segment_chars=4096), home, progress=quiet)
    tok = stages.tokenizer_stage(
        TokenizerConfig(kind=args.tokenizer, vocab_size=args.vocab_size), cv["corpus_id"], home, progress=quiet
    )
    ds_info = stages.tokenize_stage(cv["corpus_id"], tok["tokenizer_id"], home, progress=quiet)
    ds = TokenDataset.open(ds_info["path"])
    test_tokens, n_bytes = ds.tokens("test"), ds.n_bytes("test")
    raw = split_bytes(load_corpus_version(home, cv["corpus_id"]), "test")
    baselines = compression_baselines(raw)

    rows = []
    for spec in [m.strip() for m in args.models.split(",") if m.strip()]:
        cfg = TrainConfig(
            model=spec,
            max_seconds=args.seconds,
            batch_size=args.batch_size,
            block_size=args.block_size,
            eval_interval=200,
            eval_batches=10,
            warmup_steps=50,
            lr=2e-3,
            min_lr=2e-4,
            checkpoint_interval=100_000,
        )
        out = home.runs / f"family-{spec.replace('/', '-')}-{time.time_ns()}"
        t0, c0 = time.perf_counter(), time.process_time()
        res = train(cfg, ds_info["path"], out)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        model = load_model(res.best_checkpoint or res.latest_checkpoint)
        m = evaluate_tokens(model, test_tokens, n_bytes, block_size=model.config.block_size, batch_size=32)
        rows.append(
            {
                "model": spec,
                "params": model.num_params(),
                "steps": res.steps,
                "tok_s": res.tokens / max(res.elapsed_s, 1e-9),
                "wall": wall,
                "cpu": cpu,
                **m,
            }
        )
        print(f"  {spec}: {m['bits_per_byte']:.3f} bits/byte after {res.steps} steps", file=sys.stderr)

    rows.sort(key=lambda r: r["bits_per_byte"])
    print(
        f"\ncorpus {args.corpus}: test split {n_bytes:,} bytes, {len(test_tokens):,} tokens "
        f"({args.tokenizer} tokenizer, vocab {ds.vocab_size}); budget {args.seconds:.0f} s per model, "
        f"{torch.get_num_threads()} threads\n"
    )
    print("| rank | model | params | steps | CPU s | train tok/s | test loss | test bits/byte | vs bzip2 -9 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, r in enumerate(rows, 1):
        print(
            f"| {i} | {r['model']} | {r['params']:,} | {r['steps']} | {r['cpu']:.0f} | {r['tok_s']:,.0f} | {r['loss']:.3f} | "
            f"{r['bits_per_byte']:.3f} | {r['bits_per_byte'] / baselines['bzip2']:.2f}x |"
        )
    print(
        f"\nsame test bytes: gzip -9 {baselines['gzip']:.3f}, bzip2 -9 {baselines['bzip2']:.3f}, "
        f"xz -9e {baselines['xz']:.3f} bits/byte"
    )
    neural = [r for r in rows if not r["model"].startswith("ngram")]
    if neural:
        best = neural[0]
        ok = best["bits_per_byte"] < baselines["bzip2"]
        print(
            f"target: best neural model {best['model']} {best['bits_per_byte']:.3f} bits/byte vs bzip2 -9 "
            f"{baselines['bzip2']:.3f} -> {'PASS' if ok else 'FAIL'}"
        )
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
