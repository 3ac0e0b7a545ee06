"""Generation speed: new tokens/s with and without the KV cache / carried state, side by side.

    .venv/bin/python benchmarks/generate.py                     # GPT tiny-ish, CPU, 512 new tokens
    .venv/bin/python benchmarks/generate.py --kind lstm --batches 1,32

Each configuration generates ``--new-tokens`` greedy tokens after a ``--prompt-len`` prompt for a
batch of 1 and of 32, once with ``use_cache=True`` (one ``model.step`` per token) and once with
``use_cache=False`` (a forward pass over the whole prefix per token). The two must produce the same
tokens (checked); the table gives new tokens/s (batch x new tokens / wall seconds) and the ratio.
Untrained weights: the speed of a forward pass does not depend on training.
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


def bench(model, batch: int, prompt_len: int, new_tokens: int, use_cache: bool, vocab: int) -> tuple[float, list]:
    gen = torch.Generator().manual_seed(batch)
    prompts = torch.randint(0, vocab, (batch, prompt_len), generator=gen).tolist()
    cfg = GenerationConfig(max_new_tokens=new_tokens, use_cache=use_cache)
    t0 = time.perf_counter()
    out = generate(model, prompts, cfg)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", default="gpt", help="model spec KIND[/PRESET] (default gpt, tiny preset)")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=512)
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    block = args.prompt_len + args.new_tokens + 1
    overrides = {"n_layer": args.n_layer, "n_embd": args.n_embd} if args.kind.startswith("gpt") else {}
    model = build_model(args.kind, args.vocab, block, **overrides).eval()
    print(f"# {args.kind}: {model.num_params():,} params, vocab {args.vocab}, context {block}, "
          f"prompt {args.prompt_len} + {args.new_tokens} new tokens, greedy, CPU, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"| batch | cache | seconds | new tokens/s | cache speed-up |")
    print(f"| ---: | --- | ---: | ---: | ---: |")
    for batch in (int(b) for b in args.batches.split(",")):
        bench(model, batch, args.prompt_len, 4, True, args.vocab)  # warm-up
        t_cache, out_cache = bench(model, batch, args.prompt_len, args.new_tokens, True, args.vocab)
        t_full, out_full = bench(model, batch, args.prompt_len, args.new_tokens, False, args.vocab)
        n = batch * args.new_tokens
        same = "same tokens" if out_cache == out_full else "TOKENS DIFFER"
        print(f"| {batch} | yes | {t_cache:.2f} | {n / t_cache:,.0f} | {t_full / t_cache:.1f}x ({same}) |")
        print(f"| {batch} | no | {t_full:.2f} | {n / t_full:,.0f} | 1.0x |", flush=True)


if __name__ == "__main__":
    main()
