"""Encoder-decoder (sequence-to-sequence) models for translation: one interface, two kinds.

A source sentence is encoded once; the target is generated token by token, each conditioned on the
source (through attention over the encoder's states) and on the target tokens before it.

    encode(src, src_mask=None) -> EncoderOutput       states [B, S, D], mask [B, S] (True: a real token)
    decode(tgt_in, memory) -> logits [B, T, V]        teacher-forced decoder over a whole prefix
    forward(src, tgt_in, tgt_out=None, src_mask=None) -> (logits, loss)
        tgt_in: [BOS] + target, tgt_out: target + [EOS]; positions of tgt_out equal to -1 are
        padding (ignored by the loss). The loss is the mean label-smoothed cross-entropy in nats
        per target token (``label_smoothing``, 0.1 by default); ``token_nll`` gives the plain one.
    init_state(memory) -> state                       everything the decoder needs from the source,
                                                      computed once (cross-attention K/V, keys)
    step(tgt_new [B, T_new], state) -> (logits, state)    incremental decoding with a cache
    reorder_state(state, index) -> state              select / duplicate rows (beam search)
    num_params(), flops_per_token(), max_source_len, max_target_len

Padding: ``src_mask`` (default: ``src != pad_id``) removes padded source positions from every
attention (and, in the LSTM encoder, from the recurrence: sequences are packed), so the content of
padding changes no output. Targets are right-padded: causal attention never lets a real position
see a later padded one, and the loss ignores -1 targets.

Kinds (``SEQ2SEQ_KINDS``, built by ``build_seq2seq("KIND[/PRESET]", vocab_size)``):

- ``transformer-seq2seq``: Transformer encoder and decoder (self-attention, causal
  self-attention, cross-attention to the encoder output), attention through
  ``F.scaled_dot_product_attention`` with boolean padding masks (``arlm.models.fastops``: its
  math with faster dropout when training on a CPU), GPT-2's initialisation
  (everything at N(0, 0.02)), and the decoder embedding tied to the output head (and shared with
  the encoder when source and target use one id space). Two layer layouts (``norm``):

  * ``pre`` (the config's default): LayerNorm before each sublayer and once at the end of each
    stack, learned (or fixed sinusoidal) positions on the embeddings' 0.02 scale, residual
    projections scaled down with depth. Unit-variance embeddings would dwarf the 0.02-scale
    sublayer outputs here and stall training. Deep stacks train stably this way.
  * ``post``: Vaswani et al.'s original layout, as Marian/opus-mt: LayerNorm after each residual
    addition, token embeddings times sqrt(d_model) beside fixed unit-amplitude sinusoids. The
    ``tiny`` preset uses it: at 2+2 layers it learned faster than ``pre`` under both AdamW and
    Muon (benchmarks/RESULTS.md, "Translation against the peer").
- ``lstm-attn-seq2seq``: a bidirectional LSTM encoder and an LSTM decoder attending over the
  encoder states, Luong's "general" attention (scores h_t^T W m_s after the decoder LSTM, all
  target positions at once) or Bahdanau's additive attention (scores v^T tanh(W s_{t-1} + U m_s)
  before the decoder LSTM, whose input includes the context: one position at a time).

Batches (``make_batch``, ``source_batch``, ``token_batches``, at the end of this file) fix the layout
of pairs as token ids: source + EOS, BOS + target in, target + EOS out; here because the model
layer's evaluation and decoding use it as much as training does.

This family has its own kind table (``SEQ2SEQ_KINDS``/``SEQ2SEQ_PRESETS``), not the decoder-only
``arlm.models.registry.KINDS``: language-model code paths (``list_kinds``, ``build_model``,
``load_model``, ``arlm generate``) never see a translation model, and ``load_seq2seq`` refuses a
language model. Model folders are the same format (``save_seq2seq`` = ``save_model``).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from arlm.errors import ConfigError, DataError
from arlm.models.base import ModelConfig
from arlm.models.common import (
    causal_attention,
    check_dropout,
    check_positive,
    padded_vocab,
)
from arlm.models.fastops import Dropout, attention, cross_entropy
from arlm.models.recurrent import run_rnn

SEQ2SEQ_KINDS: dict[str, str] = {
    "transformer-seq2seq": "arlm.models.seq2seq:TransformerSeq2Seq",
    "lstm-attn-seq2seq": "arlm.models.seq2seq:LSTMAttnSeq2Seq",
}


def _transformer(
    d: int, heads: int, layers: int, ff: int, dropout: float, length: int, norm: str = "pre"
) -> dict[str, Any]:
    post = {"norm": "post", "positions": "sinusoidal"} if norm == "post" else {}
    return {
        **post,
        "d_model": d,
        "n_head": heads,
        "n_encoder_layer": layers,
        "n_decoder_layer": layers,
        "d_ff": ff,
        "dropout": dropout,
        "block_size": length,
        "max_source_len": length,
    }


def _lstm(width: int, layers: int, dropout: float, length: int) -> dict[str, Any]:
    return {
        "n_embd": width,
        "hidden_size": width,
        "n_encoder_layer": layers,
        "n_decoder_layer": layers,
        "dropout": dropout,
        "block_size": length,
        "max_source_len": length,
    }


SEQ2SEQ_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "transformer-seq2seq": {
        # ~1M non-embedding parameters: trains in minutes on 2 CPU cores. Post-norm: at this depth
        # it learned faster than pre-norm (module docstring); the deeper presets keep pre-norm.
        "tiny": _transformer(128, 4, 2, 512, 0.1, 128, norm="post"),
        "small": _transformer(256, 4, 3, 1024, 0.1, 256),
        # Vaswani et al.'s Transformer base and big
        "base": _transformer(512, 8, 6, 2048, 0.1, 512),
        "big": _transformer(1024, 16, 6, 4096, 0.3, 512),
    },
    "lstm-attn-seq2seq": {
        "tiny": _lstm(128, 1, 0.1, 128),
        "small": _lstm(256, 2, 0.2, 256),
        "medium": _lstm(512, 2, 0.3, 256),
    },
}


# -- configs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seq2SeqConfig(ModelConfig):
    """Fields every seq2seq kind has.

    ``vocab_size`` is the target vocabulary (the joint one when both sides share a tokenizer),
    ``block_size`` the longest decoder input (BOS + target tokens), ``max_source_len`` the longest
    source (its EOS included). ``src_vocab_size`` 0 means the source uses the target's id space.
    The defaults of the special ids are arlm's tokenizer layout (``<|endoftext|>`` = 0 serves as
    BOS and EOS, ``<|pad|>`` = 1).
    """

    src_vocab_size: int = 0
    max_source_len: int = 128
    pad_id: int = 1
    bos_id: int = 0
    eos_id: int = 0
    dropout: float = 0.1
    label_smoothing: float = 0.1
    tie_weights: bool = True  # the decoder's input embedding is the output head
    share_embeddings: bool = True  # the encoder's embedding is the decoder's (joint id space only)
    vocab_multiple: int = 64

    @property
    def source_vocab_size(self) -> int:
        return self.src_vocab_size or self.vocab_size

    @property
    def shares_embeddings(self) -> bool:
        return self.share_embeddings and self.source_vocab_size == self.vocab_size

    def _check_common(self, kind: str) -> None:
        check_positive(
            kind,
            vocab_size=self.vocab_size,
            block_size=self.block_size,
            max_source_len=self.max_source_len,
            vocab_multiple=self.vocab_multiple,
        )
        if self.src_vocab_size < 0:
            raise ConfigError(f"model {kind}: src_vocab_size must be >= 0 (0: the target's), got {self.src_vocab_size}")
        check_dropout(kind, self.dropout)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"model {kind}: label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        for name in ("bos_id", "eos_id"):
            value = getattr(self, name)
            if not 0 <= value < self.vocab_size:
                raise ConfigError(
                    f"model {kind}: {name} {value} is outside the target vocabulary [0, {self.vocab_size})"
                )
        if self.pad_id < 0:
            raise ConfigError(f"model {kind}: pad_id must be >= 0, got {self.pad_id}")


@dataclass(frozen=True)
class TransformerSeq2SeqConfig(Seq2SeqConfig):
    d_model: int = 128
    n_head: int = 4
    n_encoder_layer: int = 2
    n_decoder_layer: int = 2
    d_ff: int = 512
    positions: str = "learned"  # or "sinusoidal" (fixed; see SINUSOID_SCALE)
    bias: bool = True
    norm: str = "pre"  # or "post" (Vaswani et al.'s layout; see TransformerSeq2Seq)

    def __post_init__(self) -> None:
        kind = "transformer-seq2seq"
        self._check_common(kind)
        check_positive(
            kind,
            d_model=self.d_model,
            n_head=self.n_head,
            n_encoder_layer=self.n_encoder_layer,
            n_decoder_layer=self.n_decoder_layer,
            d_ff=self.d_ff,
        )
        if self.d_model % self.n_head:
            raise ConfigError(f"model {kind}: d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if self.positions not in ("sinusoidal", "learned"):
            raise ConfigError(f"model {kind}: positions must be 'sinusoidal' or 'learned', got {self.positions!r}")
        if self.norm not in ("pre", "post"):
            raise ConfigError(f"model {kind}: norm must be 'pre' or 'post', got {self.norm!r}")
        if self.norm == "post" and self.positions != "sinusoidal":
            raise ConfigError(
                f"model {kind}: norm 'post' scales token embeddings by sqrt(d_model) beside fixed "
                "unit-amplitude positions: set positions='sinusoidal' with it"
            )


@dataclass(frozen=True)
class LSTMAttnSeq2SeqConfig(Seq2SeqConfig):
    n_embd: int = 128
    hidden_size: int = 128  # decoder state and encoder output (two directions of hidden_size / 2)
    n_encoder_layer: int = 1
    n_decoder_layer: int = 1
    attention: str = "luong"  # or "bahdanau"

    def __post_init__(self) -> None:
        kind = "lstm-attn-seq2seq"
        self._check_common(kind)
        check_positive(
            kind,
            n_embd=self.n_embd,
            hidden_size=self.hidden_size,
            n_encoder_layer=self.n_encoder_layer,
            n_decoder_layer=self.n_decoder_layer,
        )
        if self.hidden_size % 2:
            raise ConfigError(
                f"model {kind}: hidden_size ({self.hidden_size}) must be even (the encoder "
                "runs hidden_size / 2 units in each direction)"
            )
        if self.attention not in ("luong", "bahdanau"):
            raise ConfigError(f"model {kind}: attention must be 'luong' or 'bahdanau', got {self.attention!r}")


# -- the interface ---------------------------------------------------------------------------


@dataclass
class EncoderOutput:
    """What the decoder attends to: ``states`` [B, S, D], ``mask`` [B, S] (True: a real token),
    and ``final`` (the LSTM encoder's last states, for the decoder's initial state)."""

    states: torch.Tensor
    mask: torch.Tensor
    final: tuple[torch.Tensor, torch.Tensor] | None = None

    def select(self, index: torch.Tensor) -> EncoderOutput:
        final = None if self.final is None else tuple(f.index_select(1, index) for f in self.final)
        return EncoderOutput(self.states.index_select(0, index), self.mask.index_select(0, index), final)


def lengths_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """[B, width] bool mask, True on the first ``lengths[b]`` positions of each row."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


class Seq2SeqModel(nn.Module):
    """Base of the seq2seq kinds (see the module docstring for the interface)."""

    kind: ClassVar[str] = "seq2seq"
    task: ClassVar[str] = "translation"
    trainable: ClassVar[bool] = True
    config_class: ClassVar[type[Seq2SeqConfig]] = Seq2SeqConfig

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        self.padded_vocab = padded_vocab(config.vocab_size, config.vocab_multiple)
        self.padded_src_vocab = padded_vocab(config.source_vocab_size, config.vocab_multiple)

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def max_source_len(self) -> int:
        return self.config.max_source_len

    @property
    def max_target_len(self) -> int:
        """Longest decoder input (BOS + generated tokens)."""
        return self.config.block_size

    @property
    def max_context(self) -> int:
        return self.config.block_size

    def num_params(self) -> int:
        """Unique parameters (tied embeddings counted once)."""
        return sum(p.numel() for p in self.parameters())

    # -- shared pieces -------------------------------------------------------------------------
    def source_mask(self, src: torch.Tensor) -> torch.Tensor:
        return src != self.config.pad_id

    def _check_source(self, src: torch.Tensor, src_mask: torch.Tensor | None) -> torch.Tensor:
        if src.dim() != 2:
            raise ValueError(f"{self.kind}: src must be [batch, length], got shape {tuple(src.shape)}")
        if src.size(1) > self.config.max_source_len:
            raise DataError(
                f"{self.kind}: source of {src.size(1)} tokens is longer than this model's limit "
                f"of {self.config.max_source_len} tokens (max_source_len)"
            )
        mask = self.source_mask(src) if src_mask is None else src_mask.to(device=src.device, dtype=torch.bool)
        if mask.shape != src.shape:
            raise ValueError(f"{self.kind}: src_mask shape {tuple(mask.shape)} differs from src {tuple(src.shape)}")
        # a data-dependent check: skipped while torch.compile traces (it would break the graph)
        if not torch.compiler.is_compiling() and src.numel() and not bool(mask.any(dim=1).all()):
            raise DataError(
                f"{self.kind}: a source row has no tokens (all padding): give every source at least one token"
            )
        return mask

    def _check_target(self, start: int, length: int) -> None:
        if start + length > self.config.block_size:
            raise DataError(
                f"{self.kind}: target of {start + length} tokens is longer than this model's limit "
                f"of {self.config.block_size} tokens (block_size)"
            )

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        logits = self.lm_head(h)
        if self.padded_vocab != self.config.vocab_size:
            logits = logits[..., : self.config.vocab_size]
        return logits

    def loss(self, logits: torch.Tensor, tgt_out: torch.Tensor, label_smoothing: float | None = None) -> torch.Tensor:
        """Mean label-smoothed cross-entropy (nats) over target positions that are not -1, in float32."""
        eps = self.config.label_smoothing if label_smoothing is None else label_smoothing
        return cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(), tgt_out.reshape(-1), ignore_index=-1, label_smoothing=eps
        )

    def forward(
        self,
        src: torch.Tensor,
        tgt_in: torch.Tensor,
        tgt_out: torch.Tensor | None = None,
        src_mask: torch.Tensor | None = None,
    ):
        memory = self.encode(src, src_mask)
        logits = self.decode(tgt_in, memory)
        return logits, (self.loss(logits, tgt_out) if tgt_out is not None else None)

    def token_nll(
        self, src: torch.Tensor, tgt_in: torch.Tensor, tgt_out: torch.Tensor, src_mask: torch.Tensor | None = None
    ) -> tuple[float, int]:
        """(summed negative log-likelihood in nats, number of target tokens) without smoothing."""
        logits, _ = self.forward(src, tgt_in, None, src_mask)
        nll = cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(), tgt_out.reshape(-1), ignore_index=-1, reduction="sum"
        )
        return float(nll.detach().double()), int((tgt_out != -1).sum())

    # -- to implement --------------------------------------------------------------------------
    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> EncoderOutput:  # pragma: no cover
        raise NotImplementedError

    def decode(self, tgt_in: torch.Tensor, memory: EncoderOutput) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def init_state(self, memory: EncoderOutput) -> Any:  # pragma: no cover
        raise NotImplementedError

    def step(self, tgt: torch.Tensor, state: Any):  # pragma: no cover
        raise NotImplementedError

    def reorder_state(self, state: Any, index: torch.Tensor) -> Any:  # pragma: no cover
        raise NotImplementedError


# -- transformer-seq2seq ---------------------------------------------------------------------

# Fixed sinusoids are scaled to the token embeddings' size (std 0.02 at init, unscaled) so that
# neither drowns the other in the residual stream; x 0.02 * sqrt(2) gives them the same std.
SINUSOID_SCALE = 0.02 * math.sqrt(2.0)


def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    """[length, dim] sine/cosine position encodings of Vaswani et al. (sines in even columns)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    inv = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * inv)
    table[:, 1::2] = torch.cos(pos * inv[: dim // 2])
    return table


def _heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)


def _merge(y: torch.Tensor) -> torch.Tensor:
    B, H, T, h = y.shape
    return y.transpose(1, 2).reshape(B, T, H * h)


class SelfAttention(nn.Module):
    """Multi-head self-attention: bidirectional with a key padding mask (encoder) or causal with
    a KV cache (decoder)."""

    def __init__(self, cfg: TransformerSeq2SeqConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.proj.residual_projection = True
        self.dropout = cfg.dropout

    def forward(
        self,
        x: torch.Tensor,
        key_mask: torch.Tensor | None = None,
        causal: bool = False,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        q, k, v = (_heads(t, self.n_head) for t in self.qkv(x).chunk(3, dim=-1))
        p = self.dropout if self.training else 0.0
        if causal:
            if past is not None:
                k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
            y = causal_attention(q, k, v, p)
        else:
            y = attention(q, k, v, attn_mask=key_mask, dropout_p=p)
        return self.proj(_merge(y)), (k, v)


class CrossAttention(nn.Module):
    """Decoder queries over the encoder states; ``memory_kv`` computes the keys/values once per source."""

    def __init__(self, cfg: TransformerSeq2SeqConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.q = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.kv = nn.Linear(cfg.d_model, 2 * cfg.d_model, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.proj.residual_projection = True
        self.dropout = cfg.dropout

    def memory_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv(memory).chunk(2, dim=-1)
        return _heads(k, self.n_head), _heads(v, self.n_head)

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor], key_mask: torch.Tensor):
        q = _heads(self.q(x), self.n_head)
        y = attention(q, kv[0], kv[1], attn_mask=key_mask, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(_merge(y))


class FeedForward(nn.Module):
    def __init__(self, cfg: TransformerSeq2SeqConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        self.proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias)
        self.proj.residual_projection = True
        self.drop = Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: TransformerSeq2SeqConfig):
        super().__init__()
        self.post = cfg.norm == "post"
        self.ln_1 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.attn = SelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.ffn = FeedForward(cfg)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        if self.post:
            x = self.ln_1(x + self.drop(self.attn(x, key_mask)[0]))
            return self.ln_2(x + self.ffn(x))
        x = x + self.drop(self.attn(self.ln_1(x), key_mask)[0])
        return x + self.ffn(self.ln_2(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: TransformerSeq2SeqConfig):
        super().__init__()
        self.post = cfg.norm == "post"
        self.ln_1 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.self_attn = SelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.cross_attn = CrossAttention(cfg)
        self.ln_3 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.ffn = FeedForward(cfg)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x, cross_kv, key_mask, past=None):
        if self.post:
            a, kv = self.self_attn(x, causal=True, past=past)
            x = self.ln_1(x + self.drop(a))
            x = self.ln_2(x + self.drop(self.cross_attn(x, cross_kv, key_mask)))
            return self.ln_3(x + self.ffn(x)), kv
        a, kv = self.self_attn(self.ln_1(x), causal=True, past=past)
        x = x + self.drop(a)
        x = x + self.drop(self.cross_attn(self.ln_2(x), cross_kv, key_mask))
        return x + self.ffn(self.ln_3(x)), kv


@dataclass
class TransformerDecoderState:
    """Per decoder layer: the self-attention cache [B, H, T_past, h] and the cross-attention K/V of
    the source [B, H, S, h] (computed once by ``init_state``); the key mask [B, 1, 1, S]; the next
    target position."""

    self_kv: list[tuple[torch.Tensor, torch.Tensor] | None]
    cross_kv: list[tuple[torch.Tensor, torch.Tensor]]
    key_mask: torch.Tensor
    pos: int = 0


class TransformerSeq2Seq(Seq2SeqModel):
    kind = "transformer-seq2seq"
    config_class = TransformerSeq2SeqConfig

    def __init__(self, config: TransformerSeq2SeqConfig):
        super().__init__(config)
        cfg = config
        d = cfg.d_model
        self.tgt_embed = nn.Embedding(self.padded_vocab, d)
        self.src_embed = self.tgt_embed if cfg.shares_embeddings else nn.Embedding(self.padded_src_vocab, d)
        if cfg.positions == "learned":
            self.src_pos = nn.Embedding(cfg.max_source_len, d)
            self.tgt_pos = nn.Embedding(cfg.block_size, d)
        else:
            # pre-norm: on the scale of the token embeddings (N(0, 0.02) init); post-norm: unit
            # amplitude beside embeddings scaled by sqrt(d_model), as Vaswani et al.
            scale = 1.0 if cfg.norm == "post" else SINUSOID_SCALE
            self.register_buffer("src_pos_table", scale * sinusoid_table(cfg.max_source_len, d), persistent=False)
            self.register_buffer("tgt_pos_table", scale * sinusoid_table(cfg.block_size, d), persistent=False)
        self.embed_scale = math.sqrt(d) if cfg.norm == "post" else 1.0
        self.drop = Dropout(cfg.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_encoder_layer))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_decoder_layer))
        # pre-norm's residual stream is normalised once at the end; post-norm layers end normalised
        final_norm = (lambda: nn.LayerNorm(d, bias=cfg.bias)) if cfg.norm == "pre" else nn.Identity
        self.ln_enc = final_norm()
        self.ln_dec = final_norm()
        self.lm_head = nn.Linear(d, self.padded_vocab, bias=False)
        self.apply(self._init_weights)
        if cfg.tie_weights:
            self.lm_head.weight = self.tgt_embed.weight

    def _init_weights(self, module: nn.Module) -> None:
        """GPT-2's initialisation, as ``arlm.models.gpt``: weights and embeddings N(0, 0.02), the
        residual projections N(0, 0.02/sqrt(2 * layers)) so the residual stream does not grow with
        depth (pre-norm only: post-norm layers renormalise after every addition); biases zero."""
        if isinstance(module, nn.Linear):
            std = 0.02
            if getattr(module, "residual_projection", False) and self.config.norm == "pre":
                std = 0.02 / math.sqrt(2 * (self.config.n_encoder_layer + self.config.n_decoder_layer))
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def flops_per_token(self) -> float:
        """Training FLOPs per target token for a source as long as the full context: 6N over the
        non-embedding weights (the head counted, position tables and a separate source embedding
        not) + 12*d per attended position (scores and weighted sums, forward and backward) over the
        encoder self-attention, decoder self-attention and cross-attention at full length."""
        cfg = self.config
        n = self.num_params()
        if cfg.positions == "learned":
            n -= self.src_pos.weight.numel() + self.tgt_pos.weight.numel()
        if self.src_embed is not self.tgt_embed:
            n -= self.src_embed.weight.numel()
        if not cfg.tie_weights:
            n -= self.tgt_embed.weight.numel()  # a lookup; the separate head is counted
        S, T, d = cfg.max_source_len, cfg.block_size, cfg.d_model
        attn = 12.0 * d * (cfg.n_encoder_layer * S + cfg.n_decoder_layer * (T + S))
        return 6.0 * n + attn

    def _embed(self, ids: torch.Tensor, table: nn.Embedding, start: int, source: bool) -> torch.Tensor:
        cfg = self.config
        x = table(ids) * self.embed_scale if self.embed_scale != 1.0 else table(ids)
        pos = torch.arange(start, start + ids.size(1), device=ids.device)
        if cfg.positions == "learned":
            x = x + (self.src_pos if source else self.tgt_pos)(pos)
        else:
            x = x + (self.src_pos_table if source else self.tgt_pos_table)[pos].to(x.dtype)
        return self.drop(x)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> EncoderOutput:
        mask = self._check_source(src, src_mask)
        key_mask = mask[:, None, None, :]
        x = self._embed(src, self.src_embed, 0, source=True)
        for layer in self.encoder:
            x = layer(x, key_mask)
        return EncoderOutput(self.ln_enc(x), mask)

    def _run_decoder(self, tgt: torch.Tensor, cross_kv, key_mask, start: int, past):
        self._check_target(start, tgt.size(1))
        x = self._embed(tgt, self.tgt_embed, start, source=False)
        new_kv = []
        for i, layer in enumerate(self.decoder):
            x, kv = layer(x, cross_kv[i], key_mask, None if past is None else past[i])
            new_kv.append(kv)
        return self._logits(self.ln_dec(x)), new_kv

    def decode(self, tgt_in: torch.Tensor, memory: EncoderOutput) -> torch.Tensor:
        cross = [layer.cross_attn.memory_kv(memory.states) for layer in self.decoder]
        logits, _ = self._run_decoder(tgt_in, cross, memory.mask[:, None, None, :], 0, None)
        return logits

    def init_state(self, memory: EncoderOutput) -> TransformerDecoderState:
        cross = [layer.cross_attn.memory_kv(memory.states) for layer in self.decoder]
        return TransformerDecoderState([None] * len(self.decoder), cross, memory.mask[:, None, None, :], 0)

    def step(self, tgt: torch.Tensor, state: TransformerDecoderState):
        past = None if state.pos == 0 else state.self_kv
        logits, kv = self._run_decoder(tgt, state.cross_kv, state.key_mask, state.pos, past)
        return logits, TransformerDecoderState(kv, state.cross_kv, state.key_mask, state.pos + tgt.size(1))

    def reorder_state(self, state: TransformerDecoderState, index: torch.Tensor) -> TransformerDecoderState:
        def sel(kv):
            return None if kv is None else (kv[0].index_select(0, index), kv[1].index_select(0, index))

        return TransformerDecoderState(
            [sel(kv) for kv in state.self_kv],
            [sel(kv) for kv in state.cross_kv],
            state.key_mask.index_select(0, index),
            state.pos,
        )


# -- lstm-attn-seq2seq -----------------------------------------------------------------------


@dataclass
class LSTMDecoderState:
    """The decoder LSTM's (h, c) [n_layer, B, H]; the source states, their attention keys (computed
    once by ``init_state``) and mask; the next target position."""

    lstm: tuple[torch.Tensor, torch.Tensor]
    states: torch.Tensor
    keys: torch.Tensor
    mask: torch.Tensor
    pos: int = 0


def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis (source positions) with padded positions at exactly zero."""
    return torch.softmax(scores.float().masked_fill(~mask, float("-inf")), dim=-1).to(scores.dtype)


class LSTMAttnSeq2Seq(Seq2SeqModel):
    kind = "lstm-attn-seq2seq"
    config_class = LSTMAttnSeq2SeqConfig

    def __init__(self, config: LSTMAttnSeq2SeqConfig):
        super().__init__(config)
        cfg = config
        H, E = cfg.hidden_size, cfg.n_embd
        self.tgt_embed = nn.Embedding(self.padded_vocab, E)
        self.src_embed = self.tgt_embed if cfg.shares_embeddings else nn.Embedding(self.padded_src_vocab, E)
        self.drop = Dropout(cfg.dropout)
        self.encoder = nn.LSTM(
            E,
            H // 2,
            num_layers=cfg.n_encoder_layer,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.dropout if cfg.n_encoder_layer > 1 else 0.0,
        )
        # the encoder's last forward/backward states -> the decoder's initial state (every layer)
        self.bridge_h = nn.Linear(H, H)
        self.bridge_c = nn.Linear(H, H)
        bahdanau = cfg.attention == "bahdanau"
        self.decoder = nn.LSTM(
            E + (H if bahdanau else 0),
            H,
            num_layers=cfg.n_decoder_layer,
            batch_first=True,
            dropout=cfg.dropout if cfg.n_decoder_layer > 1 else 0.0,
        )
        if bahdanau:
            self.key_proj = nn.Linear(H, H, bias=False)  # U m_s, once per source
            self.query_proj = nn.Linear(H, H, bias=True)  # W s_{t-1}
            self.score_v = nn.Linear(H, 1, bias=False)
        else:
            self.key_proj = nn.Linear(H, H, bias=False)  # W m_s of the "general" score, once per source
        self.combine = nn.Linear(2 * H, E, bias=False)  # tanh(W_c [context; h_t]) -> head input
        self.lm_head = nn.Linear(E, self.padded_vocab, bias=True)
        for emb in {id(self.tgt_embed): self.tgt_embed, id(self.src_embed): self.src_embed}.values():
            nn.init.uniform_(emb.weight, -0.1, 0.1)
        nn.init.zeros_(self.lm_head.bias)
        if cfg.tie_weights:
            self.lm_head.weight = self.tgt_embed.weight
        else:
            nn.init.uniform_(self.lm_head.weight, -0.1, 0.1)

    def flops_per_token(self) -> float:
        """6 x the non-embedding parameters (the head counted) + the attention over a source of
        ``max_source_len`` positions (scores and context, forward and backward: 6 * 2 * H * S)."""
        cfg = self.config
        n = self.num_params()
        if self.src_embed is not self.tgt_embed:
            n -= self.src_embed.weight.numel()
        if not cfg.tie_weights:
            n -= self.tgt_embed.weight.numel()
        return 6.0 * n + 6.0 * 2 * cfg.hidden_size * cfg.max_source_len

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> EncoderOutput:
        mask = self._check_source(src, src_mask)
        lengths = mask.sum(dim=1)
        if not torch.compiler.is_compiling() and not torch.equal(mask, lengths_mask(lengths, src.size(1))):
            raise ValueError(f"{self.kind}: src_mask must mark a prefix of each row (right padding)")
        x = self.drop(self.src_embed(src))
        autocast_cpu = x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
        with torch.autocast("cpu", enabled=False) if autocast_cpu else nullcontext():
            # packed: the backward direction starts at each row's last real token, never on padding
            packed = nn.utils.rnn.pack_padded_sequence(
                x.float() if autocast_cpu else x, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            out, (h, c) = self.encoder(packed)
            states, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        # h, c: [layers * 2, B, H/2] -> the top layer's two directions side by side [B, H]
        h_top = torch.cat((h[-2], h[-1]), dim=-1)
        c_top = torch.cat((c[-2], c[-1]), dim=-1)
        n = self.config.n_decoder_layer
        h0 = torch.tanh(self.bridge_h(h_top))[None].expand(n, -1, -1).contiguous()
        c0 = self.bridge_c(c_top)[None].expand(n, -1, -1).contiguous()
        return EncoderOutput(self.drop(states), mask, (h0, c0))

    def init_state(self, memory: EncoderOutput) -> LSTMDecoderState:
        assert memory.final is not None, "lstm-attn-seq2seq: memory without the encoder's final states"
        return LSTMDecoderState(memory.final, memory.states, self.key_proj(memory.states), memory.mask, 0)

    def _attend_luong(self, out: torch.Tensor, st: LSTMDecoderState) -> torch.Tensor:
        scores = torch.bmm(out, st.keys.transpose(1, 2))  # [B, T, S]
        weights = _masked_softmax(scores, st.mask[:, None, :])
        return torch.bmm(weights, st.states)  # [B, T, H]

    def _attend_bahdanau(self, query: torch.Tensor, st: LSTMDecoderState) -> torch.Tensor:
        scores = self.score_v(torch.tanh(st.keys + self.query_proj(query)[:, None, :])).squeeze(-1)  # [B, S]
        weights = _masked_softmax(scores, st.mask)
        return torch.bmm(weights[:, None, :], st.states).squeeze(1)  # [B, H]

    def _head(self, context: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return self._logits(self.drop(torch.tanh(self.combine(torch.cat((context, out), dim=-1)))))

    def step(self, tgt: torch.Tensor, state: LSTMDecoderState):
        self._check_target(state.pos, tgt.size(1))
        emb = self.drop(self.tgt_embed(tgt))
        if self.config.attention == "luong":
            out, lstm = run_rnn(self.decoder, emb, state.lstm)
            logits = self._head(self._attend_luong(out, state), out)
        else:
            lstm, steps = state.lstm, []
            for t in range(tgt.size(1)):
                context = self._attend_bahdanau(lstm[0][-1], state)
                out, lstm = run_rnn(self.decoder, torch.cat((emb[:, t], context), dim=-1)[:, None], lstm)
                steps.append(self._head(context, out[:, 0]))
            logits = torch.stack(steps, dim=1)
        return logits, replace(state, lstm=lstm, pos=state.pos + tgt.size(1))

    def decode(self, tgt_in: torch.Tensor, memory: EncoderOutput) -> torch.Tensor:
        return self.step(tgt_in, self.init_state(memory))[0]

    def reorder_state(self, state: LSTMDecoderState, index: torch.Tensor) -> LSTMDecoderState:
        return LSTMDecoderState(
            tuple(s.index_select(1, index) for s in state.lstm),
            state.states.index_select(0, index),
            state.keys.index_select(0, index),
            state.mask.index_select(0, index),
            state.pos,
        )


# -- batches: the layout training, evaluation and decoding share -------------------------------
#
# Token ids of sentence pairs to padded tensors, and batches packed by token count.
#
# Layout shared by training, evaluation and decoding (so that a model sees at test time exactly
# what it saw in training):
#
#     source   ids + [EOS]                         padded with pad_id, ``src_mask`` True on real tokens
#     tgt_in   [BOS] + ids                         padded with pad_id (never attended: causal + right padding)
#     tgt_out  ids + [EOS]                         padded with -1 (ignored by the loss)
#
# ``token_batches`` groups pairs of similar length so that each batch holds at most ``max_tokens``
# tokens counting padding (source and target sides each), then orders the batches by a seeded
# shuffle: a step's batch is a function of (seed, epoch) only.


@dataclass
class Seq2SeqBatch:
    src: torch.Tensor  # [B, S] long
    src_mask: torch.Tensor  # [B, S] bool
    tgt_in: torch.Tensor  # [B, T] long
    tgt_out: torch.Tensor  # [B, T] long, -1 on padding

    def to(self, device: torch.device | str) -> Seq2SeqBatch:
        return Seq2SeqBatch(
            self.src.to(device), self.src_mask.to(device), self.tgt_in.to(device), self.tgt_out.to(device)
        )

    @property
    def n_target_tokens(self) -> int:
        return int((self.tgt_out != -1).sum())


def pad_sequences(seqs: Sequence[Sequence[int]], pad_value: int, width: int | None = None) -> torch.Tensor:
    """[len(seqs), width] long tensor of ``seqs`` left-aligned, the rest ``pad_value``."""
    width = max((len(s) for s in seqs), default=0) if width is None else width
    out = torch.full((len(seqs), width), pad_value, dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            out[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out


def source_batch(
    sources: Sequence[Sequence[int]], pad_id: int, eos_id: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(src, src_mask) of ``sources``, each followed by ``eos_id`` (None: as given)."""
    seqs = [list(s) + ([eos_id] if eos_id is not None else []) for s in sources]
    src = pad_sequences(seqs, pad_id)
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    mask = torch.arange(src.size(1))[None, :] < lengths[:, None]
    return src, mask


def make_batch(
    sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], pad_id: int, bos_id: int, eos_id: int
) -> Seq2SeqBatch:
    """The training/evaluation tensors of token-id pairs (layout in the module docstring)."""
    if len(sources) != len(targets):
        raise ValueError(f"make_batch: {len(sources)} sources but {len(targets)} targets")
    src, mask = source_batch(sources, pad_id, eos_id)
    tgt_in = pad_sequences([[bos_id, *t] for t in targets], pad_id)
    tgt_out = pad_sequences([[*t, eos_id] for t in targets], -1)
    return Seq2SeqBatch(src, mask, tgt_in, tgt_out)


def token_batches(
    src_lengths: Sequence[int],
    tgt_lengths: Sequence[int],
    max_tokens: int,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    max_sentences: int | None = None,
) -> list[list[int]]:
    """Indices of pairs grouped into batches of at most ``max_tokens`` padded tokens a side.

    Pairs are sorted by (target length, source length) with a seeded random tie-break, cut into
    consecutive batches while ``n * longest <= max_tokens`` on both sides (lengths as they will be
    in the batch: +1 for EOS/BOS), then the batch order is shuffled with ``(seed, epoch)``. A pair
    longer than ``max_tokens`` on its own is a ConfigError naming it.
    """
    if len(src_lengths) != len(tgt_lengths):
        raise ValueError("token_batches: src_lengths and tgt_lengths differ in length")
    if max_tokens < 1:
        raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
    rng = random.Random(f"{seed}:{epoch}")
    keys = [rng.random() for _ in src_lengths]
    order = sorted(range(len(src_lengths)), key=lambda i: (tgt_lengths[i], src_lengths[i], keys[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    longest_src = longest_tgt = 0
    for i in order:
        s, t = src_lengths[i] + 1, tgt_lengths[i] + 1
        if s > max_tokens or t > max_tokens:
            raise ConfigError(
                f"pair {i} has {s} source / {t} target tokens (with EOS/BOS), more than "
                f"max_tokens={max_tokens}: raise max_tokens or lower the maximum length"
            )
        ls, lt = max(longest_src, s), max(longest_tgt, t)
        n = len(current) + 1
        full = max_sentences is not None and len(current) >= max_sentences
        if current and (full or n * ls > max_tokens or n * lt > max_tokens):
            batches.append(current)
            current, ls, lt = [], s, t
        current.append(i)
        longest_src, longest_tgt = ls, lt
    if current:
        batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    return batches


# -- the kind table, building, saving, loading -------------------------------------------------


def list_seq2seq_kinds() -> list[str]:
    return list(SEQ2SEQ_KINDS)


def list_seq2seq_presets(kind: str) -> list[str]:
    from arlm.models.registry import _check_kind

    _check_kind(kind, SEQ2SEQ_KINDS)
    return list(SEQ2SEQ_PRESETS[kind])


def is_seq2seq_kind(kind: str) -> bool:
    return kind in SEQ2SEQ_KINDS


def resolve_seq2seq_config(
    spec: str, vocab_size: int, block_size: int | None = None, **overrides: Any
) -> tuple[type[Seq2SeqModel], Seq2SeqConfig]:
    """The class and validated config of ``KIND[/PRESET]`` (preset ``tiny`` by default), without
    weights; ``overrides`` replace config fields (``src_vocab_size=``, ``max_source_len=``...)."""
    from arlm.models.registry import resolve_config

    return resolve_config(spec, vocab_size, block_size, kinds=SEQ2SEQ_KINDS, presets=SEQ2SEQ_PRESETS, **overrides)  # type: ignore[return-value]


def build_seq2seq(spec: str, vocab_size: int, block_size: int | None = None, **overrides: Any) -> Seq2SeqModel:
    """A freshly initialised seq2seq model (see ``resolve_seq2seq_config``)."""
    cls, config = resolve_seq2seq_config(spec, vocab_size, block_size, **overrides)
    return cls(config)


def save_seq2seq(model: nn.Module, directory: str | os.PathLike):
    """``model.safetensors`` + ``model_config.json``, the model folder of every kind."""
    from arlm.models.serialization import save_model

    return save_model(model, directory)


def load_seq2seq(directory: str | os.PathLike, device: str | torch.device = "cpu") -> Seq2SeqModel:
    """The seq2seq model saved in ``directory`` (weights checked against their sha256), in eval mode.

    A language-model folder is refused with a DataError that says so."""
    from pathlib import Path

    from arlm.models.serialization import (
        CONFIG_FILE,
        WEIGHTS_FILE,
        config_from_metadata,
        load_weights,
        read_model_metadata,
    )

    directory = Path(directory)
    meta = read_model_metadata(directory)
    if meta["kind"] not in SEQ2SEQ_KINDS:
        raise DataError(
            f"{directory}: holds a {meta['kind']!r} language model, not a translation model "
            f"(seq2seq kinds: {', '.join(SEQ2SEQ_KINDS)})"
        )
    cls, config = config_from_metadata(meta, str(directory / CONFIG_FILE), kinds=SEQ2SEQ_KINDS)
    model = cls(config)
    load_weights(model, directory / WEIGHTS_FILE)
    return model.to(device).eval()
