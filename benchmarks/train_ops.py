"""arlm's CPU training ops (``arlm.models.fastops``) beside stock PyTorch, op by op and in whole steps.

    python benchmarks/train_ops.py            # 2 threads, the sizes of transformer-seq2seq/tiny on bible-en-es
    python benchmarks/train_ops.py --quick    # small sizes, seconds (the test suite runs it)

Each row times forward + backward (the median of ``--repeats`` after a warm-up), stock PyTorch
(``torch.nn.functional``, the same call inside ``fastops.disabled()``) and arlm's, side by side in
one process (the two alternate run by run), and prints the ratio stock / arlm (above 1: arlm is faster):

- the label-smoothed cross-entropy over the vocabulary ([tokens, vocab] logits, 10% of the
  targets ignored);
- dropout of a [tokens, d_model] activation;
- attention with dropout ([batch, heads, length, length] weights, a key padding mask);
- one AdamW training step of ``transformer-seq2seq/PRESET`` and of ``gpt/PRESET`` (random token
  batches of the given size; the model's own loss), the same model and batch both ways.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # benchmarks/tokenize.py shadows stdlib

import argparse  # noqa: E402
import contextlib  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402


def side_by_side_ms(fn: Callable[[], None], repeats: int, warmup: int = 2) -> tuple[float, float]:
    """Median ms of ``fn`` with stock PyTorch and with arlm's ops, the two alternating run by run."""
    from arlm.models import fastops

    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(warmup + repeats):
        for ours in (False, True):
            with fastops.disabled() if not ours else contextlib.nullcontext():
                t0 = time.perf_counter()
                fn()
                if i >= warmup:
                    times[ours].append(time.perf_counter() - t0)
    return tuple(1000 * sorted(times[o])[repeats // 2] for o in (False, True))  # type: ignore[return-value]


def cases(args) -> list[tuple[str, Callable[[], None]]]:
    import torch

    from arlm.models import fastops
    from arlm.models.registry import build_model
    from arlm.models.seq2seq import build_seq2seq, make_batch

    g = torch.Generator().manual_seed(0)
    n, v, d = args.tokens, args.vocab, args.d_model
    logits = (torch.randn(n, v, generator=g) * 2).requires_grad_()
    targets = torch.randint(0, v, (n,), generator=g)
    targets[::10] = -1
    act = torch.randn(n, d, generator=g).requires_grad_()
    B, H, T = max(1, n // args.length), 4, args.length
    q, k, val = (torch.randn(B, H, T, d // H, generator=g).requires_grad_() for _ in range(3))
    mask = torch.ones(B, 1, 1, T, dtype=torch.bool)
    mask[::3, ..., T - T // 4 :] = False

    def ce():
        logits.grad = None
        fastops.cross_entropy(logits, targets, ignore_index=-1, label_smoothing=0.1).backward()

    def drop():
        act.grad = None
        fastops.dropout(act, 0.1).sum().backward()

    def attn():
        fastops.attention(q, k, val, attn_mask=mask, dropout_p=0.1).sum().backward()

    def lengths(count: int) -> list[list[int]]:
        lens = torch.randint(T // 2, T + 1, (count,), generator=g)
        return [torch.randint(3, v, (int(m),), generator=g).tolist() for m in lens]

    torch.manual_seed(0)
    s2s = build_seq2seq(f"transformer-seq2seq/{args.preset}", v)
    cfg = s2s.config
    batch = make_batch(lengths(B), lengths(B), cfg.pad_id, cfg.bos_id, cfg.eos_id)
    s2s_opt = torch.optim.AdamW(s2s.parameters(), lr=1e-4)
    s2s.train()

    def s2s_step():
        loss = s2s(batch.src, batch.tgt_in, batch.tgt_out, batch.src_mask)[1]
        s2s_opt.zero_grad(set_to_none=True)
        loss.backward()
        s2s_opt.step()

    torch.manual_seed(0)
    gpt = build_model(f"gpt/{args.gpt_preset}", v, T, dropout=0.1)
    x = torch.randint(0, v, (B, T), generator=g)
    y = torch.randint(0, v, (B, T), generator=g)
    gpt_opt = torch.optim.AdamW(gpt.parameters(), lr=1e-4)
    gpt.train()

    def gpt_step():
        loss = gpt(x, y)[1]
        gpt_opt.zero_grad(set_to_none=True)
        loss.backward()
        gpt_opt.step()

    return [
        (f"cross-entropy, label smoothing 0.1: [{n:,} x {v:,}]", ce),
        (f"dropout 0.1: [{n:,} x {d}]", drop),
        (f"attention, dropout 0.1, padding mask: [{B} x {H} x {T} x {T}]", attn),
        (f"training step, transformer-seq2seq/{args.preset}: {B} x {T} pairs", s2s_step),
        (f"training step, gpt/{args.gpt_preset} (dropout 0.1): {B} x {T} tokens", gpt_step),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=4096, help="tokens per batch (rows of logits)")
    ap.add_argument("--vocab", type=int, default=4096, help="vocabulary size")
    ap.add_argument("--d-model", type=int, default=128, help="width of the dropout and attention inputs")
    ap.add_argument("--length", type=int, default=48, help="sequence length of the attention and step rows")
    ap.add_argument("--preset", default="tiny", help="transformer-seq2seq preset of the step row")
    ap.add_argument("--gpt-preset", default="tiny", help="gpt preset of the step row")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats: checks the paths")
    args = ap.parse_args(argv)
    if args.quick:
        args.tokens, args.vocab, args.length, args.repeats = 512, 512, 16, 3

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats} runs, ms\n")
    print("| forward + backward | stock PyTorch ms | arlm fastops ms | ratio stock / arlm |")
    print("| --- | ---: | ---: | ---: |")
    for name, fn in cases(args):
        stock, ours = side_by_side_ms(fn, args.repeats)
        print(f"| {name} | {stock:.2f} | {ours:.2f} | {stock / ours:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
