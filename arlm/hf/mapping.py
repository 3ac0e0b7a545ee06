"""arlm's GPT <-> two stock ``transformers`` architectures: configs, weight names and layouts.

* learned positions <-> ``GPT2LMHeadModel`` (``model_type`` "gpt2"). GPT-2 keeps its projections in
  ``Conv1D`` modules whose weight is (in, out): the transpose of ``nn.Linear``'s (out, in).
* rotary positions <-> ``GPTNeoXForCausalLM`` (``model_type`` "gpt_neox") with
  ``use_parallel_residual=False`` (x + attn(ln1(x)), then + mlp(ln2(.)): arlm's block), rotary on
  the whole head (``partial_rotary_factor`` 1.0) and biases that are zero where arlm has none.
  NeoX rotates the halves (x[:h/2], x[h/2:]) of each head with inv_freq = base^(-2i/h): the same
  convention as ``arlm.models.gpt.apply_rotary``, so q and k need no permutation inside a head.
  Its fused ``query_key_value`` output is laid out per head ([q_h, k_h, v_h] for each head h),
  where arlm's ``c_attn`` is [q (all heads), k, v]: those rows are regrouped.

Both have one GELU MLP of width 4 x n_embd, LayerNorms with an epsilon, and an output head that
may be tied to the token embedding. arlm pads its embedding rows to a multiple of
``vocab_multiple``; the padded rows are dropped on export and zero-filled on import (they are
never input ids and their logits are sliced off).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from arlm.errors import ConfigError, DataError

GPT2, NEOX = "gpt2", "gpt_neox"
ARCHITECTURES = {GPT2: "GPT2LMHeadModel", NEOX: "GPTNeoXForCausalLM"}
SUPPORTED = "GPT2LMHeadModel (GPT-2) and GPTNeoXForCausalLM with use_parallel_residual=false and full rotary"

# how a tensor moves between the layouts
COPY, TRANSPOSE, QKV, VOCAB, HEAD = "copy", "transpose", "qkv", "vocab", "head"

# (arlm name inside a block, HF name inside a layer, transform, is a bias)
_GPT2_LAYER = [
    ("ln_1.weight", "ln_1.weight", COPY, False),
    ("ln_1.bias", "ln_1.bias", COPY, True),
    ("attn.c_attn.weight", "attn.c_attn.weight", TRANSPOSE, False),
    ("attn.c_attn.bias", "attn.c_attn.bias", COPY, True),
    ("attn.c_proj.weight", "attn.c_proj.weight", TRANSPOSE, False),
    ("attn.c_proj.bias", "attn.c_proj.bias", COPY, True),
    ("ln_2.weight", "ln_2.weight", COPY, False),
    ("ln_2.bias", "ln_2.bias", COPY, True),
    ("mlp.c_fc.weight", "mlp.c_fc.weight", TRANSPOSE, False),
    ("mlp.c_fc.bias", "mlp.c_fc.bias", COPY, True),
    ("mlp.c_proj.weight", "mlp.c_proj.weight", TRANSPOSE, False),
    ("mlp.c_proj.bias", "mlp.c_proj.bias", COPY, True),
]
_NEOX_LAYER = [
    ("ln_1.weight", "input_layernorm.weight", COPY, False),
    ("ln_1.bias", "input_layernorm.bias", COPY, True),
    ("attn.c_attn.weight", "attention.query_key_value.weight", QKV, False),
    ("attn.c_attn.bias", "attention.query_key_value.bias", QKV, True),
    ("attn.c_proj.weight", "attention.dense.weight", COPY, False),
    ("attn.c_proj.bias", "attention.dense.bias", COPY, True),
    ("ln_2.weight", "post_attention_layernorm.weight", COPY, False),
    ("ln_2.bias", "post_attention_layernorm.bias", COPY, True),
    ("mlp.c_fc.weight", "mlp.dense_h_to_4h.weight", COPY, False),
    ("mlp.c_fc.bias", "mlp.dense_h_to_4h.bias", COPY, True),
    ("mlp.c_proj.weight", "mlp.dense_4h_to_h.weight", COPY, False),
    ("mlp.c_proj.bias", "mlp.dense_4h_to_h.bias", COPY, True),
]
_TOP = {
    GPT2: [
        ("wte.weight", "transformer.wte.weight", VOCAB, False),
        ("wpe.weight", "transformer.wpe.weight", COPY, False),
        ("ln_f.weight", "transformer.ln_f.weight", COPY, False),
        ("ln_f.bias", "transformer.ln_f.bias", COPY, True),
        ("lm_head.weight", "lm_head.weight", HEAD, False),
    ],
    NEOX: [
        ("wte.weight", "gpt_neox.embed_in.weight", VOCAB, False),
        ("ln_f.weight", "gpt_neox.final_layer_norm.weight", COPY, False),
        ("ln_f.bias", "gpt_neox.final_layer_norm.bias", COPY, True),
        ("lm_head.weight", "lm_head.weight", HEAD, False),
    ],
}
_LAYER = {GPT2: (_GPT2_LAYER, "transformer.h.{i}."), NEOX: (_NEOX_LAYER, "gpt_neox.layers.{i}.")}
_BASE_PREFIX = {GPT2: "transformer.", NEOX: "gpt_neox."}
# Names some checkpoints use for the same tensors, and buffers that hold no weights
_ALIASES = {NEOX: {"embed_out.weight": "lm_head.weight"}}
_BUFFER_SUFFIXES = (
    ".attn.bias",
    ".attn.masked_bias",
    ".attention.bias",
    ".attention.masked_bias",
    ".attention.rotary_emb.inv_freq",
    "rotary_emb.inv_freq",
)

GELU_NAMES = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}


def architecture_of(cfg) -> str:
    """The stock architecture an arlm GPT config maps to."""
    return GPT2 if cfg.positions == "learned" else NEOX


def _table(arch: str, n_layer: int) -> list[tuple[str, str, str, bool]]:
    rows = []
    layer, prefix = _LAYER[arch]
    for i in range(n_layer):
        for a, h, how, is_bias in layer:
            rows.append((f"blocks.{i}.{a}", prefix.format(i=i) + h, how, is_bias))
    return rows + _TOP[arch]


def _attention_bias(arch: str, hf_name: str) -> bool:
    return arch == NEOX and ".attention." in hf_name


# -- configs -----------------------------------------------------------------------------------
def hf_config(cfg, *, eot_id: int, pad_id: int) -> dict[str, Any]:
    """The ``config.json`` fields of the stock model computing what GPT config ``cfg`` computes."""
    arch = architecture_of(cfg)
    act = {"gelu": "gelu", "gelu_tanh": "gelu_new" if arch == GPT2 else "gelu_pytorch_tanh"}[cfg.activation]
    common = dict(
        vocab_size=cfg.vocab_size,
        bos_token_id=eot_id,
        eos_token_id=eot_id,
        pad_token_id=pad_id,
        tie_word_embeddings=cfg.tie_weights,
        architectures=[ARCHITECTURES[arch]],
    )
    if arch == GPT2:
        return dict(
            common,
            model_type=GPT2,
            n_positions=cfg.block_size,
            n_embd=cfg.n_embd,
            n_layer=cfg.n_layer,
            n_head=cfg.n_head,
            n_inner=None,
            activation_function=act,
            resid_pdrop=cfg.dropout,
            embd_pdrop=cfg.dropout,
            attn_pdrop=cfg.dropout,
            layer_norm_epsilon=cfg.norm_eps,
            scale_attn_weights=True,
            scale_attn_by_inverse_layer_idx=False,
            reorder_and_upcast_attn=False,
        )
    return dict(
        common,
        model_type=NEOX,
        hidden_size=cfg.n_embd,
        num_hidden_layers=cfg.n_layer,
        num_attention_heads=cfg.n_head,
        intermediate_size=4 * cfg.n_embd,
        hidden_act=act,
        attention_dropout=cfg.dropout,
        hidden_dropout=cfg.dropout,
        max_position_embeddings=cfg.block_size,
        layer_norm_eps=cfg.norm_eps,
        use_parallel_residual=False,
        attention_bias=cfg.bias,
        rope_parameters={"rope_type": "default", "rope_theta": float(cfg.rope_base), "partial_rotary_factor": 1.0},
    )


def _need(config: dict[str, Any], key: str, where: str) -> Any:
    if key not in config or config[key] is None:
        raise DataError(f"{where}: config.json has no {key!r}")
    return config[key]


def _refuse(where: str, what: str) -> ConfigError:
    return ConfigError(f"{where}: architecture arlm cannot hold: {what}; arlm imports {SUPPORTED}")


def _activation(config: dict[str, Any], key: str, default: str, where: str) -> str:
    name = config.get(key, default)
    if name not in GELU_NAMES:
        raise _refuse(where, f"activation {key}={name!r} (arlm's GPT has exact or tanh GELU)")
    return GELU_NAMES[name]


def arch_of_config(config: dict[str, Any], where: str) -> str:
    """ "gpt2" or "gpt_neox" for a config.json arlm can hold; a clear refusal naming the architecture
    otherwise."""
    model_type = config.get("model_type")
    names = config.get("architectures") or []
    if model_type in (GPT2, NEOX):
        heads = [n for n in names if n not in (ARCHITECTURES[model_type], "GPT2Model", "GPTNeoXModel")]
        if heads:
            raise _refuse(where, f"architectures {heads} (a {model_type} body with another head)")
        return model_type
    named = ", ".join(names) or "no architectures listed"
    raise _refuse(where, f"{named} (model_type {model_type!r})")


def gpt_fields(config: dict[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    """(architecture, GPTConfig fields but ``bias``) of a Hugging Face ``config.json``; anything arlm's
    GPT cannot compute exactly is refused with the setting named."""
    arch = arch_of_config(config, where)
    if config.get("add_cross_attention") or config.get("is_encoder_decoder"):
        raise _refuse(where, "cross-attention / encoder-decoder")
    if arch == GPT2:
        n_embd = int(_need(config, "n_embd", where))
        n_inner = config.get("n_inner")
        if n_inner not in (None, 4 * n_embd):
            raise _refuse(where, f"n_inner={n_inner} (arlm's MLP is 4 x n_embd = {4 * n_embd} wide)")
        if config.get("scale_attn_weights", True) is False:
            raise _refuse(where, "scale_attn_weights=false (arlm scales attention by 1/sqrt(head size))")
        if config.get("scale_attn_by_inverse_layer_idx"):
            raise _refuse(where, "scale_attn_by_inverse_layer_idx=true")
        fields = dict(
            n_layer=int(_need(config, "n_layer", where)),
            n_head=int(_need(config, "n_head", where)),
            n_embd=n_embd,
            block_size=int(_need(config, "n_positions", where)),
            positions="learned",
            activation=_activation(config, "activation_function", "gelu_new", where),
            norm_eps=float(config.get("layer_norm_epsilon", 1e-5)),
            dropout=float(config.get("resid_pdrop", 0.1)),
        )
    else:
        n_embd = int(_need(config, "hidden_size", where))
        if config.get("use_parallel_residual", True):
            raise _refuse(where, "GPT-NeoX with use_parallel_residual=true (arlm's blocks are sequential)")
        if int(config.get("intermediate_size", 4 * n_embd)) != 4 * n_embd:
            raise _refuse(where, f"intermediate_size={config.get('intermediate_size')} (arlm's MLP is 4 x hidden_size)")
        rope = dict(config.get("rope_parameters") or {})
        rope.setdefault("partial_rotary_factor", config.get("rotary_pct", 1.0))
        rope.setdefault("rope_theta", config.get("rotary_emb_base", config.get("rope_theta", 10000.0)))
        if float(rope["partial_rotary_factor"]) != 1.0 or rope.get("rope_type", "default") != "default":
            raise _refuse(where, f"rotary settings {rope} (arlm rotates whole heads, unscaled)")
        fields = dict(
            n_layer=int(_need(config, "num_hidden_layers", where)),
            n_head=int(_need(config, "num_attention_heads", where)),
            n_embd=n_embd,
            block_size=int(_need(config, "max_position_embeddings", where)),
            positions="rope",
            rope_base=float(rope["rope_theta"]),
            activation=_activation(config, "hidden_act", "gelu", where),
            norm_eps=float(config.get("layer_norm_eps", 1e-5)),
            dropout=float(config.get("hidden_dropout", 0.0)),
        )
    fields.update(
        vocab_size=int(_need(config, "vocab_size", where)), tie_weights=bool(config.get("tie_word_embeddings", True))
    )
    return arch, fields


# -- weights -----------------------------------------------------------------------------------
def _qkv_to_hf(t: torch.Tensor, n_head: int) -> torch.Tensor:
    """[q; k; v] rows (each head-major) -> [q_0; k_0; v_0; q_1; ...] (NeoX's per-head layout)."""
    rest = t.shape[1:]
    return t.reshape(3, n_head, -1, *rest).transpose(0, 1).reshape(-1, *rest)


def _qkv_from_hf(t: torch.Tensor, n_head: int) -> torch.Tensor:
    rest = t.shape[1:]
    return t.reshape(n_head, 3, -1, *rest).transpose(0, 1).reshape(-1, *rest)


def to_hf(state: dict[str, torch.Tensor], cfg) -> dict[str, torch.Tensor]:
    """arlm GPT state dict -> the stock model's tensors (contiguous float copies, no shared storage)."""
    arch = architecture_of(cfg)
    out: dict[str, torch.Tensor] = {}
    for a, h, how, is_bias in _table(arch, cfg.n_layer):
        if how == HEAD and cfg.tie_weights:
            continue  # tied: transformers ties it back to the embedding
        if a in state:
            t = state[a].detach().to("cpu", torch.float32)
        elif is_bias:
            if _attention_bias(arch, h) and not cfg.bias:
                continue  # attention_bias=false: the stock layer has no bias
            t = torch.zeros(state[a[: -len("bias")] + "weight"].shape[0])
        else:
            raise DataError(f"model has no tensor {a!r}: not a {arch} compatible GPT")
        if how == TRANSPOSE:
            t = t.t()
        elif how == QKV:
            t = _qkv_to_hf(t, cfg.n_head)
        elif how in (VOCAB, HEAD):
            t = t[: cfg.vocab_size]
        out[h] = t.contiguous().clone()
    return out


def normalise_names(tensors: dict[str, torch.Tensor], arch: str) -> dict[str, torch.Tensor]:
    """HF names as the ``...LMHeadModel`` writes them: a checkpoint of the bare body (``GPT2Model``,
    as the original ``gpt2`` repository holds) lacks the ``transformer.`` prefix; buffers dropped."""
    base = _BASE_PREFIX[arch]
    out = {}
    for name, t in tensors.items():
        if name.endswith(_BUFFER_SUFFIXES):
            continue
        name = _ALIASES.get(arch, {}).get(name, name)
        if not name.startswith(base) and name != "lm_head.weight":
            name = base + name
        out[name] = t
    return out


def from_hf(
    tensors: dict[str, torch.Tensor], cfg, arch: str, where: str, expected: dict[str, torch.Size]
) -> dict[str, torch.Tensor]:
    """The stock model's tensors -> an arlm GPT state dict (``expected``: the arlm model's shapes).

    Missing tensors are a DataError, leftovers an architecture refusal, shapes are checked."""
    tensors = normalise_names(tensors, arch)
    used: set[str] = set()
    out: dict[str, torch.Tensor] = {}
    for a, h, how, is_bias in _table(arch, cfg.n_layer):
        if how == HEAD and cfg.tie_weights:
            used.add(h)  # a tied head saved anyway is the embedding again
            continue
        if a not in expected:  # a bias arlm's config has none of (bias=false): zero, checked by the caller
            used.add(h)
            continue
        if h not in tensors:
            if is_bias and _attention_bias(arch, h):  # attention_bias=false, other biases kept
                out[a] = torch.zeros(expected[a])
                continue
            raise DataError(f"{where}: tensor {h!r} missing (config.json describes {cfg.n_layer} layers)")
        used.add(h)
        t = tensors[h].to(torch.float32)
        if how not in (VOCAB, HEAD) and t.numel() != math.prod(expected[a]):
            raise DataError(
                f"{where}: {h} has shape {tuple(t.shape)}, config.json implies "
                f"{math.prod(expected[a])} values ({tuple(expected[a])} in arlm's layout)"
            )
        if how == TRANSPOSE:
            t = t.t()
        elif how == QKV:
            t = _qkv_from_hf(t, cfg.n_head)
        if how in (VOCAB, HEAD) and t.shape[0] != cfg.vocab_size:
            raise DataError(f"{where}: {h} has {t.shape[0]} rows but config.json says vocab_size {cfg.vocab_size}")
        if how in (VOCAB, HEAD) and expected[a][0] > t.shape[0]:  # arlm's padded rows
            t = torch.cat([t, t.new_zeros(expected[a][0] - t.shape[0], *t.shape[1:])])
        if tuple(t.shape) != tuple(expected[a]):
            raise DataError(
                f"{where}: {h} has shape {tuple(tensors[h].shape)}, config.json implies "
                f"{tuple(expected[a])} (arlm layout)"
            )
        out[a] = t.contiguous()
    left = sorted(set(tensors) - used)
    if left:
        raise _refuse(where, f"{len(left)} tensor(s) with no place in arlm's GPT, e.g. {left[:4]}")
    return out


def bias_tensors(tensors: dict[str, torch.Tensor], arch: str) -> list[torch.Tensor]:
    """The bias tensors of a stock checkpoint (normalised names)."""
    names = {h for _, h, _, is_bias in _table(arch, 0) if is_bias}
    layer, _ = _LAYER[arch]
    suffixes = tuple("." + h for _, h, _, is_bias in layer if is_bias)
    return [t for n, t in normalise_names(tensors, arch).items() if n in names or n.endswith(suffixes)]
