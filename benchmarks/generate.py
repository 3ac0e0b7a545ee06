"""Generation speed: new tokens/s with and without the KV cache / carried state, side by side.

    .venv/bin/python benchmarks/generate.py                     # GPT tiny-ish, CPU, 512 new tokens
    .venv/bin/python benchmarks/generate.py --kind lstm --batches 1,32

Each configuration generates ``--new-tokens`` greedy tokens after a ``--prompt-len`` prompt for a
batch of 1 and of 32, once with ``use_cache=True`` (one ``model.step`` per token) and once with
``use_cache=False`` (a forward pass over the whole prefix per token). The two must produce the same
tokens (checked). The table gives new tokens/s (batch x new tokens / seconds) by CPU time of this
process and by wall time, and the cache speed-up (CPU time ratio). CPU time is the figure to quote
on a shared machine (other processes inflate wall time, not our CPU time); one torch thread by
default so the two agree on an idle machine. Untrained weights: the speed of a forward pass does
not depend on training.
"""

from __future__ import annotations

import os
import sys

# benchmarks/tokenize.py would shadow the stdlib module of that name (imported by torch/numpy via
# inspect) when this script's folder heads sys.path: drop it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from arlm.generation import GenerationConfig, generate  # noqa: E402
from arlm.models import build_model  # noqa: E402


def bench(
    model, batch: int, prompt_len: int, new_tokens: int, use_cache: bool, vocab: int
) -> tuple[tuple[float, float], list]:
    gen = torch.Generator().manual_seed(batch)
    prompts = torch.randint(0, vocab, (batch, prompt_len), generator=gen).tolist()
    cfg = GenerationConfig(max_new_tokens=new_tokens, use_cache=use_cache)
    c0, t0 = time.process_time(), time.perf_counter()
    out = generate(model, prompts, cfg)
    return (time.process_time() - c0, time.perf_counter() - t0), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", default="gpt", help="model spec KIND[/PRESET] (default gpt, tiny preset)")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=512)
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument(
        "--target-speedup",
        type=float,
        default=5.0,
        help="the cache must be at least this much faster at every batch (default 5; issue 6)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    block = args.prompt_len + args.new_tokens + 1
    overrides = {"n_layer": args.n_layer, "n_embd": args.n_embd} if args.kind.startswith("gpt") else {}
    model = build_model(args.kind, args.vocab, block, **overrides).eval()
    print(
        f"# {args.kind}: {model.num_params():,} params, vocab {args.vocab}, context {block}, "
        f"prompt {args.prompt_len} + {args.new_tokens} new tokens, greedy, CPU, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print("| batch | cache | CPU s | wall s | new tokens/s (CPU) | new tokens/s (wall) | cache speed-up (CPU) |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    verdicts = []
    for batch in (int(b) for b in args.batches.split(",")):
        bench(model, batch, args.prompt_len, 4, True, args.vocab)  # warm-up
        (c_cache, w_cache), out_cache = bench(model, batch, args.prompt_len, args.new_tokens, True, args.vocab)
        (c_full, w_full), out_full = bench(model, batch, args.prompt_len, args.new_tokens, False, args.vocab)
        n = batch * args.new_tokens
        same = "same tokens" if out_cache == out_full else "TOKENS DIFFER"
        print(
            f"| {batch} | yes | {c_cache:.2f} | {w_cache:.2f} | {n / c_cache:,.0f} | {n / w_cache:,.0f} | "
            f"{c_full / c_cache:.1f}x ({same}) |"
        )
        print(
            f"| {batch} | no | {c_full:.2f} | {w_full:.2f} | {n / c_full:,.0f} | {n / w_full:,.0f} | 1.0x |", flush=True
        )
        verdicts.append((batch, c_full / c_cache, out_cache == out_full))
    ok = all(speedup >= args.target_speedup and same for _, speedup, same in verdicts)
    print(
        "\ntarget: "
        + "; ".join(f"batch {b}: {x:.1f}x{'' if same else ' (tokens differ)'}" for b, x, same in verdicts)
        + f" -> {'PASS' if ok else 'FAIL'} (cache >= {args.target_speedup:g}x, identical tokens)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
