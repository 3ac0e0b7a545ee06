"""Which layer layout learns faster per step: arlm's pre-norm and post-norm ``transformer-seq2seq``
beside ``MarianMTModel``, under AdamW and under Muon, on the same batches.

    python benchmarks/translation_layouts.py --corpus bible-en-es --steps 400
    python benchmarks/translation_layouts.py --quick          # the committed fixture, a few steps each

This is the study behind the ``tiny`` preset's ``norm="post"``. Each (layout, optimizer) pair is
trained for ``--steps`` optimizer steps, one after the other, from the same seed on the same
token-id batches (``benchmarks/translation.py``'s data, batches, loss and schedule: warm-up, then
cosine decay to 10% over the steps, gradient clipping at 1). Then its teacher-forced test loss (nats
per target token, no smoothing) is printed. The figure is learning per step, not per second:
``benchmarks/translation.py`` times the models.

Layouts, all of the ``--preset``'s dimensions:
- ``pre``: arlm, ``norm="pre"``, learned positions (LayerNorm before each sublayer);
- ``post``: arlm, ``norm="post"``, fixed sinusoids (Vaswani et al.'s layout, the ``tiny`` preset's);
- ``marian``: ``transformers``' ``MarianMTModel`` configured as in ``benchmarks/translation.py``.

Optimizers:
- ``adamw``: betas 0.9/0.98, no weight decay, as ``benchmarks/translation.py``;
- ``muon``: ``arlm.training.optim.build_optimizer(kind="muon")`` with ``TrainConfig``'s defaults
  (Muon on the hidden matrices, AdamW on the rest, weight decay 0.1, betas 0.9/0.95), as
  ``arlm train`` runs it.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # benchmarks/tokenize.py shadows stdlib

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

LAYOUTS = ("pre", "post", "marian")
OPTIMIZERS = ("adamw", "muon")


def _peer_benchmark():
    """``benchmarks/translation.py`` as a module (its data, batches, Marian config, loss, test loss)."""
    spec = importlib.util.spec_from_file_location("arlm_translation_benchmark", Path(_HERE) / "translation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def build(layout: str, preset: str, vocab_size: int, seed: int, label_smoothing: float, bench):
    """(model, logits function, arlm config of the same dimensions) of ``layout``."""
    import torch

    from arlm.models.seq2seq import build_seq2seq, resolve_seq2seq_config

    spec = f"transformer-seq2seq/{preset}"
    torch.manual_seed(seed)
    if layout == "marian":
        _, cfg = resolve_seq2seq_config(spec, vocab_size, label_smoothing=label_smoothing)
        return bench.build_marian(cfg, seed, True), bench.marian_logits, cfg
    positions = "learned" if layout == "pre" else "sinusoidal"
    model = build_seq2seq(spec, vocab_size, label_smoothing=label_smoothing, norm=layout, positions=positions)
    return model, bench.arlm_logits, model.config


def make_optimizer(kind: str, model, lr: float):
    import torch

    from arlm.training.config import TrainConfig
    from arlm.training.optim import build_optimizer

    if kind == "adamw":
        return torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=lr, betas=(0.9, 0.98), weight_decay=0.0
        )
    d = TrainConfig()
    return build_optimizer(
        model, lr, d.weight_decay, d.betas, torch.device("cpu"), "muon", d.muon_momentum, d.muon_lr_ratio
    )


def train_steps(model, logits, optimizer, batches, steps: int, lr: float, warmup: int, label_smoothing: float, bench):
    """``steps`` optimizer steps; returns (seconds, mean loss of the last 50 steps)."""
    import torch

    from arlm.training.optim import set_lr
    from arlm.training.schedule import lr_at

    params = [p for g in optimizer.param_groups for p in g["params"]]
    model.train()
    torch.manual_seed(0)  # dropout
    losses: list[float] = []
    t0 = time.perf_counter()
    for step in range(steps):
        batch = batches(step)
        batches.release_before(step)
        labels = batch.tgt_out.masked_fill(batch.tgt_out == -1, -100)
        set_lr(optimizer, lr_at(step, lr, lr * 0.1, warmup, steps, None, 0.05))
        loss = bench.smoothed_loss(logits(model, batch), labels, label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise SystemExit(f"loss {value} at step {step}: lower the learning rate")
        losses.append(value)
    model.eval()
    tail = losses[-50:]
    return time.perf_counter() - t0, sum(tail) / len(tail)


def main(argv: list[str] | None = None) -> int:
    bench = _peer_benchmark()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="as benchmarks/translation.py (default: bible-en-es or the fixture)")
    ap.add_argument("--steps", type=int, default=400, help="optimizer steps per (layout, optimizer)")
    ap.add_argument("--preset", default=bench.DEFAULT_PRESET, help="transformer-seq2seq preset (dimensions)")
    ap.add_argument("--layouts", default=",".join(LAYOUTS), help=f"comma-separated, of {', '.join(LAYOUTS)}")
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS), help=f"comma-separated, of {', '.join(OPTIMIZERS)}")
    ap.add_argument("--lr-adamw", type=float, default=2e-3, help="AdamW's peak learning rate")
    ap.add_argument("--lr-muon", type=float, default=2e-3, help="Muon's peak learning rate (TrainConfig's default)")
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--max-tokens", type=int, default=4096, help="padded tokens per batch and side")
    ap.add_argument("--warmup-steps", type=int, default=100)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--test-pairs", type=int, default=600, help="an even sample of the test pairs (0: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "arlm"))
    ap.add_argument("--quick", action="store_true", help="the fixture, 10 steps each: checks the paths")
    args = ap.parse_args(argv)
    layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
    optimizers = [x.strip() for x in args.optimizers.split(",") if x.strip()]
    for name, got, valid in (("--layouts", layouts, LAYOUTS), ("--optimizers", optimizers, OPTIMIZERS)):
        bad = [x for x in got if x not in valid]
        if bad or not got:
            ap.error(f"{name}: {', '.join(bad) or 'none given'}; choose from {', '.join(valid)}")
    if args.quick:
        args.corpus = args.corpus or bench.FIXTURE_SPEC
        args.steps = min(args.steps, 10)
        args.vocab_size = min(args.vocab_size, 512)
        args.max_tokens = min(args.max_tokens, 1024)
        args.warmup_steps = min(args.warmup_steps, 3)
        args.test_pairs = min(args.test_pairs or 8, 8)

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/translation.py
    import torch

    from arlm.errors import ArlmError
    from arlm.models.seq2seq import resolve_seq2seq_config

    torch.set_num_threads(args.threads)
    _, shape = resolve_seq2seq_config(f"transformer-seq2seq/{args.preset}", 1024)
    try:
        spec = bench.corpus_spec(args.corpus, Path(args.cache_dir).expanduser())
        data = bench.prepare_data(
            spec, args.vocab_size, args.seed, shape.max_source_len, shape.block_size, args.test_pairs
        )
    except ArlmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = []
    for opt_kind in optimizers:
        lr = args.lr_adamw if opt_kind == "adamw" else args.lr_muon
        for layout in layouts:
            model, logits, cfg = build(
                layout, args.preset, data.tokenizer.vocab_size, args.seed, args.label_smoothing, bench
            )
            batches = bench.StepBatches(
                *data.ids["train"], args.max_tokens, args.seed, cfg.pad_id, cfg.bos_id, cfg.eos_id
            )
            optimizer = make_optimizer(opt_kind, model, lr)
            seconds, train_loss = train_steps(
                model, logits, optimizer, batches, args.steps, lr, args.warmup_steps, args.label_smoothing, bench
            )
            loss = bench.test_loss(bench.Contender(layout, model, logits), data, cfg)
            rows.append((layout, opt_kind, lr, seconds, train_loss, loss))
            print(f"  {layout} / {opt_kind}: test loss {loss:.3f} ({seconds:.0f} s)", file=sys.stderr)
    n_test = len(data.ids["test"][0])
    print(
        f"\ncorpus {spec}: {data.stats['pairs']['train']:,} training pairs, {n_test:,} test pairs; "
        f"transformer-seq2seq/{args.preset} dimensions; {args.steps} steps of batches of "
        f"{args.max_tokens} padded tokens a side, warm-up {args.warmup_steps}, cosine to 10%; "
        f"{torch.get_num_threads()} torch threads; torch {torch.__version__}\n"
    )
    print("| layout | optimizer | peak lr | train seconds | train loss (last 50) | test loss (nats/token) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for layout, opt_kind, lr, seconds, train_loss, loss in rows:
        print(f"| {layout} | {opt_kind} | {lr:g} | {seconds:.0f} | {train_loss:.3f} | {loss:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
