"""Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p."""

from __future__ import annotations

import torch

from arlm.generation.config import GenerationConfig


def filter_logits(logits: torch.Tensor, cfg: GenerationConfig) -> torch.Tensor:
    """Scale by temperature, then keep the ``top_k`` best and the smallest set reaching ``top_p``.

    Removed entries become -inf; the best token always survives, so a row is never empty.
    """
    logits = logits.float() / cfg.temperature
    if cfg.top_k is not None and cfg.top_k < logits.size(-1):
        kth = torch.topk(logits, cfg.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the tokens ranked before it already reach top_p
        drop = (torch.cumsum(probs, dim=-1) - probs) >= cfg.top_p
        drop[:, 0] = False
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return logits


def choose_next(logits: torch.Tensor, cfg: GenerationConfig, generator: torch.Generator | None) -> torch.Tensor:
    """Next token id per row ([B] long) from last-position logits [B, V]."""
    if not cfg.do_sample:
        return logits.argmax(dim=-1)
    probs = torch.softmax(filter_logits(logits, cfg), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def make_generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A private RNG for reproducible sampling (the global torch RNG is left alone), or None."""
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(seed)
