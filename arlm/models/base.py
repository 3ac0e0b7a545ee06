"""The one interface every model kind implements (n-gram, RNN, LSTM, GRU, LSTM+attention, GPT).

A model is a ``torch.nn.Module`` built from a frozen config dataclass. It knows nothing of how it
is trained, distributed or served; the training loop, the generators, the evaluator and the MLflow
model all speak to it through this interface only.

    forward(idx, targets=None) -> (logits, loss)
        idx, targets: LongTensor [B, T]. logits: [B, T, V] (float). loss: mean cross-entropy in
        nats over all target positions (targets == -1 are ignored), or None without targets.
    num_params() -> int
    flops_per_token() -> float            training FLOPs per token (6N + attention term)
    max_context -> int | None             longest prefix the model can condition on (None: unbounded)
    init_state(batch_size, device) -> state
    step(idx, state) -> (logits, state)   incremental forward: consume new tokens idx [B, T_new]
                                          after those already in ``state``; logits [B, T_new, V].
                                          A KV cache for the GPT, carried hidden state for RNNs,
                                          the last n-1 tokens for the n-gram.
    reorder_state(state, index) -> state  select/duplicate batch rows (beam search)
    trainable                             False for kinds trained by counting (n-gram): they
                                          implement fit(tokens: np.ndarray) instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    """Fields every kind has. Kinds subclass it (frozen dataclasses) and add their own."""

    vocab_size: int = 256
    block_size: int = 128  # training context length (and the GPT's position limit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LanguageModel(nn.Module):
    kind: ClassVar[str] = "base"
    trainable: ClassVar[bool] = True
    config_class: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    # -- training / evaluation -------------------------------------------------------------
    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):  # pragma: no cover
        raise NotImplementedError

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self) -> float:
        return 6.0 * self.num_params()

    @property
    def max_context(self) -> int | None:
        return None

    # -- generation ------------------------------------------------------------------------
    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> Any:  # pragma: no cover
        raise NotImplementedError

    def step(self, idx: torch.Tensor, state: Any):  # pragma: no cover
        raise NotImplementedError

    def reorder_state(self, state: Any, index: torch.Tensor) -> Any:  # pragma: no cover
        raise NotImplementedError
