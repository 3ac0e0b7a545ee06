"""The GPT decoder: a nanoGPT-style Transformer in one readable file.

Pre-norm residual blocks (LayerNorm -> causal self-attention -> residual, LayerNorm -> MLP ->
residual), attention through ``F.scaled_dot_product_attention`` so GPUs use the flash kernels
(``arlm.models.fastops`` runs its math with faster dropout when training on a CPU),
the token embedding tied to the output head, GPT-2's scaled initialisation (residual projections
get std 0.02/sqrt(2*n_layer) so the residual stream's variance does not grow with depth), and
learned or rotary positions. ``step`` keeps a KV cache: each new token costs one row of attention
instead of a forward over the whole prefix.

Two options exist for checkpoints trained elsewhere (``arlm.hf`` imports GPT-2 with them):
``activation="gelu_tanh"`` (GPT-2's tanh approximation of GELU; the default ``"gelu"`` is the exact
erf form) and ``norm_eps`` (the layer norms' epsilon, 1e-5 as in GPT-2 and PyTorch's default). Their
defaults are what every preset always computed, so older model folders, which lack the two fields,
load and compute exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from arlm.errors import ConfigError
from arlm.models.base import LanguageModel, ModelConfig
from arlm.models.common import causal_attention, check_dropout, check_positive, lm_loss, padded_vocab
from arlm.models.fastops import Dropout

POSITION_KINDS = ("learned", "rope")
# activation name -> the ``approximate`` argument of nn.GELU
ACTIVATIONS = {"gelu": "none", "gelu_tanh": "tanh"}


@dataclass(frozen=True)
class GPTConfig(ModelConfig):
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False  # biases in Linear/LayerNorm: GPT-2 has them; without is a bit faster
    positions: str = "learned"  # "learned" (GPT-2) or "rope" (rotary, applied to q and k)
    rope_base: float = 10000.0
    tie_weights: bool = True
    vocab_multiple: int = 64  # embedding/head rows padded to a multiple of this (1: no padding)
    activation: str = "gelu"  # MLP non-linearity: "gelu" (exact, erf) or "gelu_tanh" (GPT-2's approximation)
    norm_eps: float = 1e-5  # epsilon of every LayerNorm

    def __post_init__(self) -> None:
        check_positive(
            "gpt",
            vocab_size=self.vocab_size,
            block_size=self.block_size,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_embd=self.n_embd,
            vocab_multiple=self.vocab_multiple,
        )
        check_dropout("gpt", self.dropout)
        if self.n_embd % self.n_head:
            raise ConfigError(f"model gpt: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.positions not in POSITION_KINDS:
            raise ConfigError(f"model gpt: positions must be one of {POSITION_KINDS}, got {self.positions!r}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"model gpt: activation must be one of {tuple(ACTIVATIONS)}, got {self.activation!r}")
        if not isinstance(self.norm_eps, (int, float)) or not 0 < self.norm_eps < 1:
            raise ConfigError(f"model gpt: norm_eps must be in (0, 1), got {self.norm_eps!r}")
        if self.positions == "rope" and (self.n_embd // self.n_head) % 2:
            raise ConfigError(f"model gpt: rotary positions need an even head size, got {self.n_embd // self.n_head}")

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head


@dataclass
class KVCache:
    """Per-layer keys and values [B, n_head, T_past, head_size] and the next position."""

    layers: list[tuple[torch.Tensor, torch.Tensor] | None]
    pos: int = 0


def rotary_tables(head_size: int, length: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [length, head_size/2] of the rotary embedding (RoFormer)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_size, 2, dtype=torch.float32) / head_size))
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x[..., :h/2], x[..., h/2:]) of x [B, H, T, h] by the angles of each position."""
    x1, x2 = x.float().chunk(2, dim=-1)
    out = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.type_as(x)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.c_proj.residual_projection = True  # scaled init, see GPT._init_weights
        self.dropout = cfg.dropout
        self.resid_dropout = Dropout(cfg.dropout)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        """Attend causally over ``past`` keys/values then the new ones; return (y, (k, v))."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        if past is not None:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        y = causal_attention(q, k, v, self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y)), (k, v)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.gelu = nn.GELU(approximate=ACTIVATIONS[cfg.activation])
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.c_proj.residual_projection = True
        self.dropout = Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=cfg.norm_eps, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=cfg.norm_eps, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x, rope=None, past=None):
        a, kv = self.attn(self.ln_1(x), rope, past)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, kv


class GPT(LanguageModel):
    kind = "gpt"
    config_class = GPTConfig

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        cfg = config
        self.padded_vocab = padded_vocab(cfg.vocab_size, cfg.vocab_multiple)
        self.wte = nn.Embedding(self.padded_vocab, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.positions == "learned" else None
        self.drop = Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.norm_eps, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, self.padded_vocab, bias=False)
        if cfg.tie_weights:
            self.lm_head.weight = self.wte.weight
        if cfg.positions == "rope":
            cos, sin = rotary_tables(cfg.head_size, cfg.block_size, cfg.rope_base)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            std = 0.02
            if getattr(module, "residual_projection", False):
                std = 0.02 / math.sqrt(2 * self.config.n_layer)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    # -- sizes -------------------------------------------------------------------------------
    @property
    def max_context(self) -> int:
        return self.config.block_size

    def num_params(self, non_embedding: bool = False) -> int:
        """Unique parameters (the tied head counted once); ``non_embedding`` drops the position
        table, as nanoGPT/Kaplan et al. do for FLOP estimates."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.wpe is not None:
            n -= self.wpe.weight.numel()
        return n

    def flops_per_token(self) -> float:
        """Training FLOPs per token: 6N (forward+backward of the weights) + 12*L*H*Q*T (the
        attention scores and weighted sums over a full context T), the PaLM/nanoGPT estimate."""
        cfg = self.config
        return (
            6.0 * self.num_params(non_embedding=True) + 12.0 * cfg.n_layer * cfg.n_head * cfg.head_size * cfg.block_size
        )

    # -- forward -----------------------------------------------------------------------------
    def _rope(self, start: int, length: int):
        if self.config.positions != "rope":
            return None
        return self.rope_cos[start : start + length], self.rope_sin[start : start + length]

    def _run(self, idx: torch.Tensor, start: int, past: list | None):
        B, T = idx.shape
        if start + T > self.config.block_size:
            raise ValueError(f"gpt: context of {start + T} tokens exceeds block_size {self.config.block_size}")
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(start, start + T, device=idx.device))
        x = self.drop(x)
        rope = self._rope(start, T)
        new_kv = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, rope, past[i] if past is not None else None)
            new_kv.append(kv)
        logits = self.lm_head(self.ln_f(x))
        if self.padded_vocab != self.config.vocab_size:
            logits = logits[..., : self.config.vocab_size]
        return logits, new_kv

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits, _ = self._run(idx, 0, None)
        loss = lm_loss(logits, targets) if targets is not None else None
        return logits, loss

    # -- generation --------------------------------------------------------------------------
    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> KVCache:
        return KVCache(layers=[None] * self.config.n_layer, pos=0)

    def step(self, idx: torch.Tensor, state: KVCache):
        past = None if state.pos == 0 else state.layers
        logits, kv = self._run(idx, state.pos, past)
        return logits, KVCache(layers=kv, pos=state.pos + idx.size(1))

    def reorder_state(self, state: KVCache, index: torch.Tensor) -> KVCache:
        layers = [
            None if kv is None else (kv[0].index_select(0, index), kv[1].index_select(0, index)) for kv in state.layers
        ]
        return KVCache(layers=layers, pos=state.pos)
