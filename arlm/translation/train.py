"""A minimal training loop for seq2seq models, until the shared loop (``arlm.training.loop``) takes
batches of pairs.

``train_seq2seq_steps`` runs ``steps`` AdamW steps over the batches a callable hands out per step,
with the shared learning-rate schedule (``arlm.training.schedule.lr_at``: linear warm-up, cosine
decay) and optimizer (``arlm.training.optim.build_optimizer``), gradient clipping, and no
checkpoints, tracking or distribution: it exists for the tests and for small experiments, and is
meant to be replaced by the shared loop once that loop can feed ``Seq2SeqBatch``es.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from arlm.errors import DataError
from arlm.models.seq2seq import Seq2SeqBatch


@dataclass
class Seq2SeqTrainResult:
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)  # training loss (label-smoothed) every log step
    target_tokens: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.target_tokens / self.seconds if self.seconds > 0 else 0.0


def train_seq2seq_steps(
    model: torch.nn.Module,
    batch_for_step: Callable[[int], Seq2SeqBatch],
    steps: int,
    lr: float = 1e-3,
    min_lr: float | None = None,
    warmup_steps: int = 100,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.98),
    grad_clip: float = 1.0,
    device: str | torch.device = "cpu",
    log_interval: int = 50,
    on_log: Callable[[int, float], None] | None = None,
    stop: Callable[[int], bool] | None = None,
) -> Seq2SeqTrainResult:
    """Train ``model`` in place for ``steps`` optimizer steps; ``batch_for_step(step)`` gives the batch.

    ``stop(step)`` (optional, checked every ``log_interval`` steps) ends training early when true,
    e.g. once a held-out score is reached. A non-finite loss stops with a DataError naming the step.
    """
    from arlm.training.optim import build_optimizer, set_lr
    from arlm.training.schedule import lr_at

    device = torch.device(device)
    model.to(device)
    model.train()
    optimizer = build_optimizer(model, lr, weight_decay, betas, device)
    min_lr = lr * 0.1 if min_lr is None else min_lr
    result = Seq2SeqTrainResult(steps=0, seconds=0.0)
    start = time.perf_counter()
    for step in range(steps):
        set_lr(optimizer, lr_at(step, lr, min_lr, warmup_steps, steps))
        batch = batch_for_step(step).to(device)
        _, loss = model(batch.src, batch.tgt_in, batch.tgt_out, batch.src_mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        result.steps = step + 1
        result.target_tokens += batch.n_target_tokens
        if (step + 1) % log_interval == 0 or step == steps - 1:
            value = float(loss.detach())
            if not math.isfinite(value):
                raise DataError(f"train_seq2seq_steps: loss is {value} at step {step}: lower the learning rate")
            result.losses.append(value)
            if on_log is not None:
                on_log(step, value)
            if stop is not None and stop(step):
                break
    result.seconds = time.perf_counter() - start
    model.eval()
    return result
