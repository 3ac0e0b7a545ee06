"""Toy translation tasks for the seq2seq tests: copy or reverse sequences of symbol ids.

Ids follow arlm's tokenizer layout: 0 = end of text (BOS and EOS), 1 = padding, 2.. symbols.
"""

from __future__ import annotations

import random

import torch

from arlm.models.seq2seq import build_seq2seq, make_batch

VOCAB = 24
PAD, BOS, EOS = 1, 0, 0

_WIDTH = {"d_model": 32, "n_head": 4, "d_ff": 64}
SMALL = {
    "transformer": (
        "transformer-seq2seq",
        {**_WIDTH, "n_encoder_layer": 2, "n_decoder_layer": 2, "norm": "pre", "positions": "learned"},
    ),
    "transformer-sinusoidal": (
        "transformer-seq2seq",
        {**_WIDTH, "n_encoder_layer": 1, "n_decoder_layer": 2, "norm": "pre", "positions": "sinusoidal"},
    ),
    "transformer-post": (
        "transformer-seq2seq",
        {**_WIDTH, "n_encoder_layer": 2, "n_decoder_layer": 2, "norm": "post", "positions": "sinusoidal"},
    ),
    "lstm-luong": ("lstm-attn-seq2seq", {"n_embd": 32, "hidden_size": 32, "n_encoder_layer": 2, "n_decoder_layer": 2}),
    "lstm-bahdanau": (
        "lstm-attn-seq2seq",
        {"n_embd": 32, "hidden_size": 48, "attention": "bahdanau", "tie_weights": False},
    ),
}
CASES = list(SMALL)
# training steps of ``trained_model`` (default 40): the post-norm layout, whose sqrt(d_model)-scaled
# embeddings start small beside its unit-amplitude positions, needs more on these 32-wide toys
TOY_STEPS = {"transformer-post": 120}


def sample_pairs(rng: random.Random, n: int, task: str = "reverse", lo: int = 3, hi: int = 10):
    """``n`` (source, target) id lists: random symbols and their copy or reversal."""
    out = []
    for _ in range(n):
        src = [rng.randint(2, VOCAB - 1) for _ in range(rng.randint(lo, hi))]
        out.append((src, src[::-1] if task == "reverse" else list(src)))
    return out


def batch_for(task: str, size: int = 64, seed: int = 0):
    """A ``batch_for_step`` callable: the pairs of step s come from Random((seed, s))."""

    def batch(step: int):
        pairs = sample_pairs(random.Random(f"{seed}:{step}"), size, task)
        return make_batch([p[0] for p in pairs], [p[1] for p in pairs], PAD, BOS, EOS)

    return batch


def small_model(case: str, seed: int = 0, **overrides):
    """A small model of ``case`` (see ``SMALL``), dropout off, limits of 24 tokens."""
    spec, kw = SMALL[case]
    torch.manual_seed(seed)
    return build_seq2seq(spec, VOCAB, block_size=24, max_source_len=24, dropout=0.0, **{**kw, **overrides})


def trained_model(case: str, steps: int | None = None, task: str = "reverse"):
    """``small_model(case)`` after a few AdamW steps on ``task``: outputs of varied length that end in
    EOS (an untrained model's outputs are degenerate, which would make decoding tests vacuous). A
    few plain steps suffice here; training proper is the shared loop's (test_shared_loop.py)."""
    from arlm.training.optim import build_optimizer, set_lr
    from arlm.training.schedule import lr_at

    steps = TOY_STEPS.get(case, 40) if steps is None else steps
    model = small_model(case)
    optimizer = build_optimizer(model, 3e-3, 0.0, (0.9, 0.98), torch.device("cpu"))
    batch = batch_for(task, 32)
    model.train()
    for step in range(steps):
        set_lr(optimizer, lr_at(step, 3e-3, 3e-4, 5, steps))
        b = batch(step)
        _, loss = model(b.src, b.tgt_in, b.tgt_out, b.src_mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model.eval()
