"""Small pieces every neural kind shares: the padded vocabulary, the recurrent kinds' embedding and
head, and the language-model loss."""

from __future__ import annotations

import torch

from arlm.errors import ConfigError
from arlm.models.fastops import attention, cross_entropy

VOCAB_MULTIPLE = 64


def padded_vocab(vocab_size: int, multiple: int = VOCAB_MULTIPLE) -> int:
    """Round the embedding/head rows up to ``multiple``: matmuls with a ragged dimension (50257)
    run markedly slower on GPUs than with a multiple of 64 (50304). The padded rows are never
    input ids and are sliced off the logits, so they change nothing the caller sees."""
    if multiple <= 1:
        return vocab_size
    return ((vocab_size + multiple - 1) // multiple) * multiple


def recurrent_head(wte, hidden: int, tie: bool):
    """(output head, tied?) of the recurrent kinds over embedding ``wte``: uniform(-0.1, 0.1)
    weights, a zero bias, and the head tied to the embedding when the sizes allow."""
    from torch import nn

    tied = tie and hidden == wte.embedding_dim
    head = nn.Linear(hidden, wte.num_embeddings, bias=True)
    nn.init.uniform_(wte.weight, -0.1, 0.1)
    nn.init.zeros_(head.bias)
    if tied:
        head.weight = wte.weight
    else:
        nn.init.uniform_(head.weight, -0.1, 0.1)
    return head, tied


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy in nats over positions whose target is not -1.

    Computed in float32 even under bf16 autocast: the logits are cast (``fastops.cross_entropy``
    computes in its input's dtype)."""
    return cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-1)


def check_positive(kind: str, **fields: float) -> None:
    """Reject non-positive sizes with a message naming the kind and the field."""
    for name, value in fields.items():
        if value is None or value <= 0:
            raise ConfigError(f"model {kind}: {name} must be > 0, got {value!r}")


def check_dropout(kind: str, dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model {kind}: dropout must be in [0, 1), got {dropout!r}")


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float = 0.0) -> torch.Tensor:
    """Scaled dot-product attention of the T new queries over ``k``/``v`` whose last T rows are
    those same positions and whose first rows (if any) are a cache of earlier ones.

    ``is_causal`` is used whenever it is right (it selects the flash kernels); with a cache and
    several new rows an explicit mask is needed, since ``is_causal`` aligns its triangle top-left."""
    T, S = q.size(-2), k.size(-2)
    n_past = S - T
    if n_past == 0:
        return attention(q, k, v, dropout_p=dropout_p, is_causal=True)
    if T == 1:  # one new token sees everything before it
        return attention(q, k, v, dropout_p=dropout_p)
    mask = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(diagonal=n_past)
    return attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
