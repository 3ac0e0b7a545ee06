"""transformer-seq2seq learns to reverse sequences (>= 99% exact match on held-out ones) in under
a minute on CPU, through ``train_seq2seq_steps`` and the batched greedy decoder."""

from __future__ import annotations

import random
import time

from arlm.translation.decode import DecodeConfig, translate_ids
from arlm.translation.train import train_seq2seq_steps
from translation.toy import batch_for, sample_pairs, small_model

HELD_OUT = sample_pairs(random.Random(12345), 200, "reverse")


def exact_match(model) -> float:
    outs = translate_ids(model, [p[0] for p in HELD_OUT], DecodeConfig(batch_size=200))
    return sum(o == p[1] for o, p in zip(outs, HELD_OUT)) / len(HELD_OUT)


def test_reverse_task_is_learned_in_under_a_minute():
    # one encoder and one decoder layer, 64 wide: ~325 steps, 8-13 s on 2 idle cores
    model = small_model("transformer", d_model=64, n_head=4, d_ff=256, n_encoder_layer=1, n_decoder_layer=1)
    scores: list[tuple[int, float]] = []

    def reached(step: int) -> bool:
        scores.append((step + 1, exact_match(model)))
        model.train()
        return scores[-1][1] >= 0.99

    start = time.perf_counter()
    result = train_seq2seq_steps(
        model, batch_for("reverse", 64), steps=500, lr=3e-3, warmup_steps=30, log_interval=25, stop=reached
    )
    elapsed = time.perf_counter() - start
    final = exact_match(model)
    assert final >= 0.99, f"exact match {final:.3f} after {result.steps} steps; progress {scores}"
    assert elapsed < 60, f"took {elapsed:.1f} s ({result.steps} steps; progress {scores})"
    assert result.losses[-1] < result.losses[0]
