"""Translating token ids with a seq2seq model: greedy and beam search over batches of sources.

Each batch of sources (of different lengths, padded, with a mask) is encoded once; the decoder's
cross-attention keys/values are computed once per source (``model.init_state``) and copied to
the source's beams; decoding then advances one target token per step with the decoder's
self-attention cache (``use_cache=False`` recomputes the decoder over the whole prefix each step:
the slow reference the cache is tested against). A source is finished when it is done; its rows
leave the batch, so the rest run on a smaller batch.

Lengths: each source may take at most ``ceil(max_len_a * source_tokens + max_len_b)`` decoding
steps (source tokens counting its EOS), so its output has at most that many tokens besides the
EOS; capped by the model's target limit (``block_size`` minus the BOS). A source
longer than the model's ``max_source_len`` is refused with the limit named, or, with
``truncate_source=True``, keeps its first ``max_source_len - 1`` tokens (and its EOS).

Beam search: hypotheses are scored by their summed log-probability divided by
``length ** length_penalty`` (length = generated tokens including the EOS; 0: the raw sum,
1: the mean per token). Each step takes the 2 x beams best extensions of each source's live beams;
those ending in EOS among the best ``beams`` become finished hypotheses, the best ``beams`` others
stay live. A source is done once it has ``beams`` finished hypotheses none of its live beams can
still beat at the current length, or at its length limit (its live beams then count as finished).
With one beam this is greedy decoding, token for token.

A source gives the same output alone or inside a padded batch, whatever the padding holds: the
mask removes padding from every attention and from the LSTM encoder's recurrence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from arlm.errors import ConfigError, DataError
from arlm.models.seq2seq import source_batch


@dataclass(frozen=True)
class DecodeConfig:
    """How to translate: ``num_beams`` 1 is greedy; see the module docstring for the rest.
    ``batch_size`` bounds the sources decoded together (sorted by length to limit padding)."""

    num_beams: int = 1
    length_penalty: float = 1.0
    max_len_a: float = 1.5
    max_len_b: int = 10
    use_cache: bool = True
    truncate_source: bool = False
    batch_size: int = 32

    def __post_init__(self) -> None:
        if isinstance(self.num_beams, bool) or not isinstance(self.num_beams, int) or self.num_beams < 1:
            raise ConfigError(f"decoding option num_beams must be an integer >= 1, got {self.num_beams!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"decoding option batch_size must be an integer >= 1, got {self.batch_size!r}")
        if self.max_len_a < 0 or self.max_len_b < 0 or (self.max_len_a == 0 and self.max_len_b < 1):
            raise ConfigError(
                f"decoding options max_len_a ({self.max_len_a}) and max_len_b ({self.max_len_b}) "
                "must be >= 0 and allow at least one token"
            )
        if not math.isfinite(self.length_penalty):
            raise ConfigError(f"decoding option length_penalty must be a finite number, got {self.length_penalty!r}")


def output_limits(model: Any, source_lengths: torch.Tensor, cfg: DecodeConfig) -> list[int]:
    """Most decoding steps of each source (= most output tokens, EOS aside): a * length + b,
    capped by the model's target limit."""
    cap = model.max_target_len - 1  # the decoder's first input is BOS
    return [max(1, min(cap, math.ceil(cfg.max_len_a * int(n) + cfg.max_len_b))) for n in source_lengths]


class _CachedStepper:
    """Feeds new tokens through ``model.step`` with the decoder state (self-attention cache and the
    cross-attention K/V computed once per source)."""

    def __init__(self, model: Any, memory: Any):
        self.model = model
        self.state = model.init_state(memory)

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        logits, self.state = self.model.step(tokens, self.state)
        return logits[:, -1]

    def reorder(self, index: torch.Tensor) -> None:
        self.state = self.model.reorder_state(self.state, index)


class _FullStepper:
    """The uncached reference: the decoder runs over the whole prefix at every step."""

    def __init__(self, model: Any, memory: Any):
        self.model = model
        self.memory = memory
        self.prefix: torch.Tensor | None = None

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        self.prefix = tokens if self.prefix is None else torch.cat((self.prefix, tokens), dim=1)
        return self.model.decode(self.prefix, self.memory)[:, -1]

    def reorder(self, index: torch.Tensor) -> None:
        self.memory = self.memory.select(index)
        if self.prefix is not None:
            self.prefix = self.prefix.index_select(0, index)


def _stepper(model: Any, memory: Any, use_cache: bool):
    return _CachedStepper(model, memory) if use_cache else _FullStepper(model, memory)


def greedy_decode(
    model: Any, src: torch.Tensor, src_mask: torch.Tensor, limits: Sequence[int], use_cache: bool = True
) -> list[list[int]]:
    """Greedy output ids (EOS dropped) of each row of ``src`` [B, S] (``src_mask`` True on real tokens);
    row b stops at EOS or after ``limits[b]`` steps."""
    cfg = model.config
    device = src.device
    stepper = _stepper(model, model.encode(src, src_mask), use_cache)
    out: list[list[int]] = [[] for _ in range(src.size(0))]
    active = list(range(src.size(0)))
    tokens = torch.full((len(active), 1), cfg.bos_id, dtype=torch.long, device=device)
    while active:
        chosen = stepper(tokens).argmax(dim=-1).tolist()
        keep = []
        for local, (row, tok) in enumerate(zip(active, chosen)):
            if tok == cfg.eos_id:
                continue
            out[row].append(tok)
            if len(out[row]) < limits[row]:
                keep.append(local)
        if len(keep) < len(active):
            if not keep:
                break
            index = torch.tensor(keep, dtype=torch.long, device=device)
            stepper.reorder(index)
            active = [active[i] for i in keep]
            chosen = [chosen[i] for i in keep]
        tokens = torch.tensor(chosen, dtype=torch.long, device=device)[:, None]
    return out


def beam_search(
    model: Any,
    src: torch.Tensor,
    src_mask: torch.Tensor,
    limits: Sequence[int],
    num_beams: int,
    length_penalty: float = 1.0,
    use_cache: bool = True,
) -> list[list[int]]:
    """Beam-search output ids (EOS dropped) of each row of ``src``; see the module docstring."""
    cfg = model.config
    device = src.device
    B, K = src.size(0), num_beams
    stepper = _stepper(model, model.encode(src, src_mask), use_cache)
    # the source's decoder inputs (cross-attention K/V) were computed once; now copied to K beams
    stepper.reorder(torch.arange(B, device=device).repeat_interleave(K))
    active = list(range(B))  # source index of each active block of K rows
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # beams start identical: expand one
    hyps = torch.zeros(B * K, 0, dtype=torch.long, device=device)
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]
    tokens = torch.full((B * K, 1), cfg.bos_id, dtype=torch.long, device=device)
    t = 0
    while active:
        t += 1
        n = len(active)
        logp = torch.log_softmax(stepper(tokens).float(), dim=-1)
        V = logp.size(-1)
        cand = (scores[:, :, None] + logp.view(n, K, V)).view(n, K * V)
        top_scores, top_idx = cand.topk(min(2 * K, K * V), dim=1)
        parent, tok = top_idx // V, top_idx % V
        is_eos = tok == cfg.eos_id
        denom = float(t) ** length_penalty
        # EOS among the best K candidates: finished hypotheses (EOS not kept in the output)
        eos_rank = is_eos & (torch.arange(top_idx.size(1), device=device)[None, :] < K) & torch.isfinite(top_scores)
        for b_local, j in eos_rank.nonzero().tolist():
            row = b_local * K + int(parent[b_local, j])
            finished[active[b_local]].append((float(top_scores[b_local, j]) / denom, hyps[row].tolist()))
        # the K best non-EOS candidates stay live (stable sort keeps the score order)
        order = torch.sort(is_eos.to(torch.int8), dim=1, stable=True).indices[:, :K]
        live_scores = top_scores.gather(1, order)
        live_scores = live_scores.masked_fill(is_eos.gather(1, order), float("-inf"))
        live_parent = parent.gather(1, order)
        live_tok = tok.gather(1, order)
        rows = (torch.arange(n, device=device)[:, None] * K + live_parent).view(-1)
        hyps = torch.cat((hyps.index_select(0, rows), live_tok.view(-1, 1)), dim=1)
        best_live = (live_scores[:, 0] / denom).tolist()
        keep = []
        for b_local, b in enumerate(active):
            if t >= limits[b]:  # at its length limit: live beams count as finished
                for k in range(K):
                    s = float(live_scores[b_local, k])
                    if math.isfinite(s):
                        finished[b].append((s / denom, hyps[b_local * K + k].tolist()))
                continue
            done = finished[b]
            if len(done) >= K:
                kth = sorted((f[0] for f in done), reverse=True)[K - 1]
                if not math.isfinite(best_live[b_local]) or best_live[b_local] <= kth:
                    continue
            elif not math.isfinite(best_live[b_local]):
                continue
            keep.append(b_local)
        if not keep:
            break
        rows_keep = (torch.tensor(keep, device=device)[:, None] * K + torch.arange(K, device=device)).view(-1)
        stepper.reorder(rows.index_select(0, rows_keep))
        hyps = hyps.index_select(0, rows_keep)
        scores = live_scores.index_select(0, torch.tensor(keep, device=device))
        tokens = live_tok.view(-1).index_select(0, rows_keep)[:, None]
        active = [active[i] for i in keep]
    return [max(f, key=lambda c: c[0])[1] if f else [] for f in finished]


def prepare_sources(model: Any, sources: Sequence[Sequence[int]], cfg: DecodeConfig) -> list[list[int]]:
    """Validated source ids (without EOS): ids in the source vocabulary, at least one token, and
    within ``max_source_len`` with the EOS (refused, or cut when ``truncate_source``)."""
    mcfg = model.config
    vocab = mcfg.source_vocab_size
    limit = model.max_source_len - 1  # room for the EOS
    out = []
    for i, s in enumerate(sources):
        ids = [int(x) for x in s]
        if not ids:
            raise DataError(f"translate: source {i} is empty (no tokens)")
        if min(ids) < 0 or max(ids) >= vocab:
            raise DataError(f"translate: source {i} has token ids outside the model's source vocabulary [0, {vocab})")
        if len(ids) > limit:
            if not cfg.truncate_source:
                raise DataError(
                    f"translate: source {i} has {len(ids)} tokens, more than this model's limit of "
                    f"{limit} (max_source_len {model.max_source_len} with the end token); shorten it "
                    "or pass truncate_source=True to keep its first tokens"
                )
            ids = ids[:limit]
        out.append(ids)
    return out


def translate_ids(model: Any, sources: Sequence[Sequence[int]], cfg: DecodeConfig = DecodeConfig()) -> list[list[int]]:
    """Output token ids (no BOS/EOS) for each source's token ids (no EOS: it is appended).

    Sources are decoded in batches of ``cfg.batch_size`` sorted by length; the result is in the
    input order. The model is put in eval mode for the call (its mode is restored)."""
    if not sources:
        return []
    rows = prepare_sources(model, sources, cfg)
    mcfg = model.config
    device = next(model.parameters()).device
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    results: list[list[int]] = [[] for _ in rows]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), cfg.batch_size):
                chunk = order[start : start + cfg.batch_size]
                src, mask = source_batch([rows[i] for i in chunk], mcfg.pad_id, mcfg.eos_id)
                src, mask = src.to(device), mask.to(device)
                limits = output_limits(model, mask.sum(dim=1), cfg)
                if cfg.num_beams == 1:
                    outs = greedy_decode(model, src, mask, limits, cfg.use_cache)
                else:
                    outs = beam_search(model, src, mask, limits, cfg.num_beams, cfg.length_penalty, cfg.use_cache)
                for i, o in zip(chunk, outs):
                    results[i] = o
    finally:
        model.train(was_training)
    return results
