"""Recurrent language models: ``rnn`` (Elman, tanh), ``lstm``, ``gru``.

Embedding -> dropout -> a stack of the fused torch recurrent layers (one cuDNN call for the whole
sequence and all layers on GPU) -> dropout -> output head. The head shares the embedding matrix
when the hidden size equals the embedding size (Press & Wolf 2017: fewer parameters, better
perplexity), otherwise it is its own matrix. ``step`` carries the hidden state, so generating a
token costs one recurrent step whatever the length of the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from arlm.models.base import LanguageModel, ModelConfig
from arlm.models.common import check_dropout, check_positive, lm_loss, padded_vocab, recurrent_head
from arlm.models.fastops import Dropout


@dataclass(frozen=True)
class RecurrentConfig(ModelConfig):
    n_embd: int = 256
    hidden_size: int = 256
    n_layer: int = 2
    dropout: float = 0.1  # on embeddings, between layers and before the head
    tie_weights: bool = True  # honoured when hidden_size == n_embd
    vocab_multiple: int = 64

    def __post_init__(self) -> None:
        check_positive(
            "recurrent",
            vocab_size=self.vocab_size,
            block_size=self.block_size,
            n_embd=self.n_embd,
            hidden_size=self.hidden_size,
            n_layer=self.n_layer,
            vocab_multiple=self.vocab_multiple,
        )
        check_dropout("recurrent", self.dropout)


def run_rnn(rnn: nn.RNNBase, x: torch.Tensor, state=None):
    """``rnn(x, state)``, in float32 when under CPU autocast: oneDNN has no bf16 LSTM kernel on
    CPUs without AVX512-BF16 (it raises), and bf16 buys nothing there. On CUDA, autocast runs the
    cuDNN kernel in bf16 as usual."""
    if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            if state is not None:
                state = tuple(s.float() for s in state) if isinstance(state, tuple) else state.float()
            return rnn(x.float(), state)
    return rnn(x, state)


class RecurrentLM(LanguageModel):
    """Shared body of the three recurrent kinds; subclasses name the torch layer."""

    config_class = RecurrentConfig
    rnn_class: ClassVar[type[nn.RNNBase]] = nn.LSTM
    rnn_kwargs: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: RecurrentConfig):
        super().__init__(config)
        cfg = config
        self.padded_vocab = padded_vocab(cfg.vocab_size, cfg.vocab_multiple)
        self.wte = nn.Embedding(self.padded_vocab, cfg.n_embd)
        self.drop = Dropout(cfg.dropout)
        self.rnn = self.rnn_class(
            cfg.n_embd,
            cfg.hidden_size,
            num_layers=cfg.n_layer,
            batch_first=True,
            dropout=cfg.dropout if cfg.n_layer > 1 else 0.0,
            **self.rnn_kwargs,
        )
        self.lm_head, self.tied = recurrent_head(self.wte, cfg.hidden_size, cfg.tie_weights)

    def flops_per_token(self) -> float:
        """6 x the parameters used as matrices: all but an untied input embedding (a lookup)."""
        n = self.num_params()
        if not self.tied:
            n -= self.wte.weight.numel()
        return 6.0 * n

    def _head(self, out: torch.Tensor) -> torch.Tensor:
        logits = self.lm_head(self.drop(out))
        if self.padded_vocab != self.config.vocab_size:
            logits = logits[..., : self.config.vocab_size]
        return logits

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        out, _ = run_rnn(self.rnn, self.drop(self.wte(idx)))
        logits = self._head(out)
        return logits, (lm_loss(logits, targets) if targets is not None else None)

    # -- generation --------------------------------------------------------------------------
    def init_state(self, batch_size: int, device: torch.device | str = "cpu"):
        cfg = self.config
        h = torch.zeros(cfg.n_layer, batch_size, cfg.hidden_size, device=device)
        return (h, h.clone()) if self.rnn_class is nn.LSTM else h

    def step(self, idx: torch.Tensor, state):
        out, state = run_rnn(self.rnn, self.drop(self.wte(idx)), state)
        return self._head(out), state

    def reorder_state(self, state, index: torch.Tensor):
        if isinstance(state, tuple):
            return tuple(s.index_select(1, index) for s in state)
        return state.index_select(1, index)


class RNNLM(RecurrentLM):
    kind = "rnn"
    rnn_class = nn.RNN
    rnn_kwargs = {"nonlinearity": "tanh"}


class LSTMLM(RecurrentLM):
    kind = "lstm"
    rnn_class = nn.LSTM


class GRULM(RecurrentLM):
    kind = "gru"
    rnn_class = nn.GRU
