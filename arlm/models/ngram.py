"""``ngram``: an interpolated Kneser-Ney n-gram model over token ids, the non-neural reference.

Trained by counting (``fit(tokens)``), not by gradient descent (``trainable = False``). The
forward returns log-probabilities as logits, so the evaluator, generators and served model treat
it like any other kind.

Interpolated Kneser-Ney (Chen & Goodman 1998, one discount per order)::

    P_k(w | h) = max(c_k(h w) - D_k, 0) / c_k(h .)  +  D_k * N1+(h .) / c_k(h .) * P_{k-1}(w | h')
    P_0(w)     = 1 / V

where h' drops the oldest token of h, c_n are raw counts for the highest order and, for lower
orders, continuation counts N1+(. h w) (in how many distinct contexts a word follows h). A
context never seen falls through to the next lower order. Discounts D_k = n1 / (n1 + 2 n2)
(Ney et al.) from the counts-of-counts. Each term sums to one over w, so P does.

Storage: for each order k, the distinct contexts (k-1 token ids packed into one int64, so
``order * bits(vocab) <= 62``) in sorted order, CSR pointers into the (next token, count) lists.
All are tensors (buffers), so the model saves and loads through safetensors like the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.modules.module import _IncompatibleKeys

from arlm.errors import ConfigError, DataError
from arlm.models.base import LanguageModel, ModelConfig
from arlm.models.common import lm_loss

MAX_KEY_BITS = 62


def bits_per_token(vocab_size: int) -> int:
    return max(1, math.ceil(math.log2(max(vocab_size, 2))))


@dataclass(frozen=True)
class NGramConfig(ModelConfig):
    order: int = 3
    discount: float | None = None  # None: estimated per order from the counts

    def __post_init__(self) -> None:
        if self.vocab_size <= 0 or self.block_size <= 0:
            raise ConfigError(
                f"model ngram: vocab_size and block_size must be > 0 (got {self.vocab_size}, {self.block_size})"
            )
        if not isinstance(self.order, int) or self.order < 1:
            raise ConfigError(f"model ngram: order must be an integer >= 1, got {self.order!r}")
        if self.order * bits_per_token(self.vocab_size) > MAX_KEY_BITS:
            top = MAX_KEY_BITS // bits_per_token(self.vocab_size)
            raise ConfigError(
                f"model ngram: order {self.order} is too high for a vocabulary of {self.vocab_size} (at most {top})"
            )
        if self.discount is not None and not 0.0 < self.discount < 1.0:
            raise ConfigError(f"model ngram: discount must be in (0, 1), got {self.discount!r}")


class NGramLM(LanguageModel):
    kind = "ngram"
    trainable = False
    config_class = NGramConfig

    def __init__(self, config: NGramConfig):
        super().__init__(config)
        for k in range(1, config.order + 1):
            # placeholders of distinct storage (safetensors treats same-storage tensors as tied)
            self.register_buffer(f"ctx_{k}", torch.full((1,), -1, dtype=torch.int64))
            self.register_buffer(f"ptr_{k}", torch.zeros(2, dtype=torch.int64))
            self.register_buffer(f"tok_{k}", torch.zeros(1, dtype=torch.int64))
            self.register_buffer(f"cnt_{k}", torch.zeros(1, dtype=torch.float32))
        self.register_buffer("discounts", torch.full((config.order,), 0.5, dtype=torch.float32))
        self.register_buffer("n_fit_tokens", torch.zeros(1, dtype=torch.int64))
        self._derive()

    # -- counting ----------------------------------------------------------------------------
    def fit(self, tokens: np.ndarray) -> NGramLM:
        """Count the n-grams of a token stream (replacing earlier counts)."""
        cfg = self.config
        V, n = cfg.vocab_size, cfg.order
        toks = np.asarray(tokens, dtype=np.int64).ravel()
        if toks.size and (toks.min() < 0 or toks.max() >= V):
            raise DataError(f"ngram.fit: token ids must be in [0, {V}), got [{toks.min()}, {toks.max()}]")
        device = self.discounts.device
        # distinct n-gram keys (context code * V + next token) with their raw counts
        N = toks.size - n + 1
        keys = np.zeros(max(N, 0), dtype=np.int64)
        for j in range(n):
            keys = keys * V + toks[j : j + max(N, 0)]
        keys, counts = np.unique(keys, return_counts=True)
        discounts = []
        for k in range(n, 0, -1):
            if k < n:  # continuation counts: distinct left extensions of each k-gram
                keys, counts = np.unique(keys % (V**k), return_counts=True)
            ctx, nxt = keys // V, keys % V
            uniq, first = np.unique(ctx, return_index=True)
            ptr = np.append(first, len(keys)).astype(np.int64)
            self._set(f"ctx_{k}", uniq, device)
            self._set(f"ptr_{k}", ptr, device)
            self._set(f"tok_{k}", nxt, device)
            self._set(f"cnt_{k}", counts.astype(np.float32), device)
            discounts.append(self._discount(counts))
        self.discounts = torch.tensor(discounts[::-1], dtype=torch.float32, device=device)
        self.n_fit_tokens = torch.tensor([toks.size], dtype=torch.int64, device=device)
        self._derive()
        return self

    def _discount(self, counts: np.ndarray) -> float:
        if self.config.discount is not None:
            return self.config.discount
        n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
        if n1 == 0 or n2 == 0:
            return 0.5
        return min(max(n1 / (n1 + 2 * n2), 0.05), 0.95)

    def _set(self, name: str, values: np.ndarray, device) -> None:
        setattr(self, name, torch.from_numpy(np.ascontiguousarray(values)).to(device))

    def _derive(self) -> None:
        """Per-context totals and type counts from the CSR arrays (not stored: derivable)."""
        self._totals, self._types, self._mass = {}, {}, {}
        if self.discounts.is_meta:  # built on the meta device only to inspect sizes
            return
        for k in range(1, self.config.order + 1):
            ptr, cnt = getattr(self, f"ptr_{k}"), getattr(self, f"cnt_{k}")
            csum = torch.cat((torch.zeros(1, dtype=torch.float64, device=cnt.device), cnt.double().cumsum(0)))
            n_ctx = getattr(self, f"ctx_{k}").numel()
            p = ptr[: n_ctx + 1]
            self._totals[k] = (csum[p[1:]] - csum[p[:-1]]) if n_ctx else csum[:0]
            self._types[k] = (p[1:] - p[:-1]).double() if n_ctx else csum[:0]
            # discounted share of each (context, word): max(c - D, 0) / c(context .)
            per_entry_total = torch.repeat_interleave(self._totals[k], p[1:] - p[:-1]) if n_ctx else csum[:0]
            D = float(self.discounts[k - 1])
            self._mass[k] = (
                (cnt.double()[: per_entry_total.numel()] - D).clamp(min=0) / per_entry_total
                if n_ctx
                else cnt.double()[:0]
            )
        V = self.config.vocab_size
        uniform = torch.full((1, V), 1.0 / V, dtype=torch.float64, device=self.discounts.device)
        if self.ctx_1.numel() == 1 and int(self.ctx_1[0]) == 0:  # fitted: the one empty context
            self._mix(
                uniform,
                torch.zeros(1, dtype=torch.int64, device=uniform.device),
                torch.zeros(1, dtype=torch.int64, device=uniform.device),
                1,
            )
        self._unigram = uniform  # P_1, the same for every position

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Count tensors change shape with the data: take them as they are, not copied in place."""
        expected = set(self._buffers)
        missing = sorted(expected - set(state_dict))
        unexpected = sorted(set(state_dict) - expected)
        if strict and (missing or unexpected):
            raise RuntimeError(f"ngram state dict mismatch: missing {missing}, unexpected {unexpected}")
        device = self.discounts.device
        for name in expected & set(state_dict):
            self._buffers[name] = state_dict[name].detach().clone().to(device)
        self._derive()
        return _IncompatibleKeys(missing, unexpected)

    def _apply(self, fn, recurse=True):  # .to(device) moves buffers; derived tensors follow
        out = super()._apply(fn, recurse)
        self._derive()
        return out

    # -- sizes -------------------------------------------------------------------------------
    def num_params(self) -> int:
        """Stored counts (the model's 'parameters')."""
        return int(sum(getattr(self, f"cnt_{k}").numel() for k in range(1, self.config.order + 1)))

    def flops_per_token(self) -> float:
        """No gradient training: counting costs no floating-point work worth reporting."""
        return 0.0

    @property
    def max_context(self) -> None:
        """Unbounded: any prefix can be fed; only its last order-1 tokens matter."""
        return None

    # -- probabilities -----------------------------------------------------------------------
    def probs(self, contexts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """P(. | context) [N, V] (float32) for contexts [N, order-1] (oldest first), of which the
        last ``lengths[i]`` tokens are real. The unigram row is computed once in float64."""
        cfg = self.config
        V, n = cfg.vocab_size, cfg.order
        N = contexts.size(0)
        device = self.discounts.device
        P = self._unigram.to(device=device, dtype=torch.float32).expand(N, V).clone()
        code = torch.zeros(N, dtype=torch.int64, device=device)
        for k in range(2, n + 1):
            code = code + contexts[:, n - k] * (V ** (k - 2))  # extend the context by one older token
            ctx = getattr(self, f"ctx_{k}")
            row = torch.searchsorted(ctx, code).clamp(max=ctx.numel() - 1)
            found = (lengths >= k - 1) & (ctx[row] == code)
            pos = found.nonzero().squeeze(1)
            if pos.numel() == 0:
                continue
            r = row[pos]
            self._mix(P, pos, r, k)
        return P

    def _mix(self, P: torch.Tensor, pos: torch.Tensor, r: torch.Tensor, k: int) -> None:
        """In place: rows ``pos`` of P (the order k-1 estimate) become the order-k estimate of
        their contexts (rows ``r`` of the order-k tables). Rows not in ``pos`` keep their value."""
        device = P.device
        tot, types = self._totals[k][r], self._types[k][r]
        D = float(self.discounts[k - 1])
        scale = torch.ones(P.size(0), dtype=torch.float64, device=device)
        scale[pos] = D * types / tot  # backoff weight; a dense row scaling beats gathering rows
        P.mul_(scale.to(P.dtype).unsqueeze(1))
        ptr = getattr(self, f"ptr_{k}")
        lo, lens = ptr[r], ptr[r + 1] - ptr[r]
        ends = torch.cumsum(lens, 0)
        entry = torch.arange(int(ends[-1]) if len(ends) else 0, device=device)
        entry += torch.repeat_interleave(lo - ends + lens, lens)  # global index of each (context, word)
        rows = torch.repeat_interleave(pos, lens)
        P.index_put_((rows, getattr(self, f"tok_{k}")[entry]), self._mass[k][entry].to(P.dtype), accumulate=True)

    def _logits(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        """Log-probabilities [B, S - start, V] of the token after each position >= start."""
        cfg = self.config
        B, S = tokens.shape
        h = cfg.order - 1
        padded = torch.cat((torch.zeros(B, h, dtype=torch.int64, device=tokens.device), tokens.long()), dim=1)
        positions = torch.arange(start, S, device=tokens.device)
        # context of position t: padded[:, t+1 : t+1+h] = tokens[t-h+1 .. t]
        cols = positions.unsqueeze(1) + 1 + torch.arange(h, device=tokens.device).unsqueeze(0)
        contexts = padded[:, cols].reshape(B * (S - start), h)
        lengths = (positions + 1).clamp(max=h).repeat(B)
        out = torch.empty(contexts.size(0), cfg.vocab_size, dtype=torch.float32, device=tokens.device)
        chunk = max(1, (1 << 24) // cfg.vocab_size)
        for i in range(0, contexts.size(0), chunk):
            out[i : i + chunk] = self.probs(contexts[i : i + chunk], lengths[i : i + chunk]).log_()
        return out.view(B, S - start, cfg.vocab_size)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits = self._logits(idx, 0)
        return logits, (lm_loss(logits, targets) if targets is not None else None)

    # -- generation --------------------------------------------------------------------------
    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The last (up to) order-1 tokens seen, [B, <= order-1]."""
        return torch.zeros(batch_size, 0, dtype=torch.int64, device=device)

    def step(self, idx: torch.Tensor, state: torch.Tensor):
        tokens = torch.cat((state, idx.long()), dim=1)
        logits = self._logits(tokens, state.size(1))
        h = self.config.order - 1
        return logits, tokens[:, max(0, tokens.size(1) - h) :]

    def reorder_state(self, state: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return state.index_select(0, index)
