"""Two ways of getting next-token logits as a sequence grows, behind one small interface.

``CachedStepper`` feeds only the new tokens to ``model.step`` with the carried state (KV cache for
the GPT, hidden state for the recurrent kinds, the last n-1 tokens for the n-gram): one step per
new token. ``RecomputeStepper`` keeps the token prefix and reruns ``model.forward`` over all of it
for each new token: quadratic, but it needs nothing beyond ``forward`` and is the reference the cache
must agree with (tests) and beat (``benchmarks/generate.py``). Decoding loops only see
``logits`` / ``advance`` / ``reorder``, so greedy, sampling and beam search work with both.

Both slide a window over models with a context limit (``max_context``, the GPT): once the
sequence is longer, the next token is predicted from its last ``max_context`` tokens, as nanoGPT's
``generate`` does, so generation has no length limit; the cached stepper then recomputes that
window for each token (its KV cache was computed at positions that no longer hold).
"""

from __future__ import annotations

from typing import Any

import torch


class CachedStepper:
    """Incremental steps with the model's state; past a ``limit`` (the GPT's context) the window
    slides: each new token is scored by a forward over the last ``limit`` tokens, exactly what the
    model would compute on that window alone (learned positions rule out shifting a KV cache)."""

    def __init__(self, model: Any, prefix: torch.Tensor, limit: int | None = None):
        self.model = model
        self.limit = limit
        self.window = prefix[:, -limit:] if limit is not None else None  # the last tokens
        self.state = model.init_state(prefix.size(0), prefix.device)
        logits, self.state = model.step(prefix, self.state)
        self.logits = logits[:, -1, :]

    def advance(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.limit is not None:
            self.window = torch.cat([self.window, tokens[:, None]], dim=1)
            if self.window.size(1) > self.limit or self.state is None:
                self.window = self.window[:, -self.limit :]
                self.state = None  # sliding from now on: the cache no longer matches the window
                logits, _ = self.model(self.window)
                self.logits = logits[:, -1, :]
                return self.logits
        logits, self.state = self.model.step(tokens[:, None], self.state)
        self.logits = logits[:, -1, :]
        return self.logits

    def reorder(self, index: torch.Tensor) -> None:
        if self.state is not None:
            self.state = self.model.reorder_state(self.state, index)
        if self.window is not None:
            self.window = self.window[index]
        self.logits = self.logits[index]


class RecomputeStepper:
    """A forward over the whole prefix per token (over its last ``limit`` tokens once longer)."""

    def __init__(self, model: Any, prefix: torch.Tensor, limit: int | None = None):
        self.model = model
        self.limit = limit
        self.idx = prefix
        self.logits = self._last_logits()

    def _last_logits(self) -> torch.Tensor:
        if self.limit is not None:
            self.idx = self.idx[:, -self.limit :]
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
    """The stepper for ``model``; kinds with a ``max_context`` slide their window past it."""
    limit = getattr(model, "max_context", None)
    return (CachedStepper if use_cache else RecomputeStepper)(model, prefix, limit)
