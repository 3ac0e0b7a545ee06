"""``lstm-attn``: an LSTM whose outputs attend, causally, over its own earlier outputs.

The recurrent state must squeeze the whole past into one vector; letting each position also look
back at every earlier hidden state (self-attention over the LSTM's outputs, as in Cheng et al.'s
LSTM-Networks and the "attentive" LMs before the Transformer) recovers exact long-range copies.
Output = h_t + W attention(h_t, h_<=t) -> head (a residual mix: the plain LSTM path trains as
fast as an LSTM while the attention learns what to add). ``step``
carries the LSTM state plus the keys and values of every earlier position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from arlm.errors import ConfigError
from arlm.models.base import LanguageModel, ModelConfig
from arlm.models.common import causal_attention, check_dropout, check_positive, lm_loss, padded_vocab, recurrent_head
from arlm.models.fastops import Dropout
from arlm.models.recurrent import run_rnn


@dataclass(frozen=True)
class LSTMAttentionConfig(ModelConfig):
    n_embd: int = 192
    hidden_size: int = 192
    n_layer: int = 1
    n_head: int = 4
    dropout: float = 0.1
    tie_weights: bool = True  # honoured when hidden_size == n_embd
    vocab_multiple: int = 64

    def __post_init__(self) -> None:
        check_positive(
            "lstm-attn",
            vocab_size=self.vocab_size,
            block_size=self.block_size,
            n_embd=self.n_embd,
            hidden_size=self.hidden_size,
            n_layer=self.n_layer,
            n_head=self.n_head,
            vocab_multiple=self.vocab_multiple,
        )
        check_dropout("lstm-attn", self.dropout)
        if self.hidden_size % self.n_head:
            raise ConfigError(
                f"model lstm-attn: hidden_size ({self.hidden_size}) must be divisible by n_head ({self.n_head})"
            )


@dataclass
class LSTMAttentionState:
    lstm: tuple[torch.Tensor, torch.Tensor]  # (h, c) [n_layer, B, hidden]
    keys: torch.Tensor | None = None  # [B, n_head, T_past, head_size]
    values: torch.Tensor | None = None


class LSTMAttentionLM(LanguageModel):
    kind = "lstm-attn"
    config_class = LSTMAttentionConfig

    def __init__(self, config: LSTMAttentionConfig):
        super().__init__(config)
        cfg = config
        H = cfg.hidden_size
        self.padded_vocab = padded_vocab(cfg.vocab_size, cfg.vocab_multiple)
        self.wte = nn.Embedding(self.padded_vocab, cfg.n_embd)
        self.drop = Dropout(cfg.dropout)
        self.rnn = nn.LSTM(
            cfg.n_embd, H, num_layers=cfg.n_layer, batch_first=True, dropout=cfg.dropout if cfg.n_layer > 1 else 0.0
        )
        self.qkv = nn.Linear(H, 3 * H, bias=False)
        self.proj = nn.Linear(H, H)
        self.lm_head, self.tied = recurrent_head(self.wte, cfg.hidden_size, cfg.tie_weights)

    def flops_per_token(self) -> float:
        """6 x matrix parameters + the attention over a full training context (4*H*T: scores
        and weighted sum, forward and backward x3)."""
        n = self.num_params() - (0 if self.tied else self.wte.weight.numel())
        return 6.0 * n + 6.0 * 2 * self.config.hidden_size * self.config.block_size

    def _attend(self, out: torch.Tensor, keys: torch.Tensor | None, values: torch.Tensor | None):
        B, T, H = out.shape
        nh = self.config.n_head
        q, k, v = (t.view(B, T, nh, H // nh).transpose(1, 2) for t in self.qkv(out).split(H, dim=2))
        if keys is not None:
            k = torch.cat((keys, k), dim=2)
            v = torch.cat((values, v), dim=2)
        ctx = causal_attention(q, k, v, self.config.dropout if self.training else 0.0)
        ctx = ctx.transpose(1, 2).reshape(B, T, H)
        mixed = out + self.proj(ctx)  # residual: the LSTM path stays intact while attention learns
        logits = self.lm_head(self.drop(mixed))
        if self.padded_vocab != self.config.vocab_size:
            logits = logits[..., : self.config.vocab_size]
        return logits, k, v

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        out, _ = run_rnn(self.rnn, self.drop(self.wte(idx)))
        logits, _, _ = self._attend(out, None, None)
        return logits, (lm_loss(logits, targets) if targets is not None else None)

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> LSTMAttentionState:
        cfg = self.config
        h = torch.zeros(cfg.n_layer, batch_size, cfg.hidden_size, device=device)
        return LSTMAttentionState(lstm=(h, h.clone()))

    def step(self, idx: torch.Tensor, state: LSTMAttentionState):
        out, lstm = run_rnn(self.rnn, self.drop(self.wte(idx)), state.lstm)
        logits, k, v = self._attend(out, state.keys, state.values)
        return logits, LSTMAttentionState(lstm=lstm, keys=k, values=v)

    def reorder_state(self, state: LSTMAttentionState, index: torch.Tensor) -> LSTMAttentionState:
        def sel(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.index_select(0, index)

        return LSTMAttentionState(
            lstm=tuple(s.index_select(1, index) for s in state.lstm), keys=sel(state.keys), values=sel(state.values)
        )
