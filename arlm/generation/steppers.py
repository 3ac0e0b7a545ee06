"""Two ways of getting next-token logits as a sequence grows, behind one small interface.

``CachedStepper`` feeds only the new tokens to ``model.step`` with the carried state (KV cache for
the GPT, hidden state for the recurrent kinds, the last n-1 tokens for the n-gram): one step per
new token. ``RecomputeStepper`` keeps the token prefix and reruns ``model.forward`` over all of it
for each new token: quadratic, but it needs nothing beyond ``forward`` and is the reference the cache
must agree with (tests) and beat (``benchmarks/generate.py``). Decoding loops only see
``logits`` / ``advance`` / ``reorder``, so greedy, sampling and beam search work with both.
"""

from __future__ import annotations

from typing import Any

import torch


class CachedStepper:
    def __init__(self, model: Any, prefix: torch.Tensor):
        self.model = model
        self.state = model.init_state(prefix.size(0), prefix.device)
        logits, self.state = model.step(prefix, self.state)
        self.logits = logits[:, -1, :]

    def advance(self, tokens: torch.Tensor) -> torch.Tensor:
        logits, self.state = self.model.step(tokens[:, None], self.state)
        self.logits = logits[:, -1, :]
        return self.logits

    def reorder(self, index: torch.Tensor) -> None:
        self.state = self.model.reorder_state(self.state, index)
        self.logits = self.logits[index]


class RecomputeStepper:
    def __init__(self, model: Any, prefix: torch.Tensor):
        self.model = model
        self.idx = prefix
        self.logits = self._last_logits()

    def _last_logits(self) -> torch.Tensor:
        logits, _ = self.model(self.idx)
        return logits[:, -1, :]

    def advance(self, tokens: torch.Tensor) -> torch.Tensor:
        self.idx = torch.cat([self.idx, tokens[:, None]], dim=1)
        self.logits = self._last_logits()
        return self.logits

    def reorder(self, index: torch.Tensor) -> None:
        self.idx = self.idx[index]
        self.logits = self.logits[index]


def make_stepper(model: Any, prefix: torch.Tensor, use_cache: bool):
    return (CachedStepper if use_cache else RecomputeStepper)(model, prefix)
