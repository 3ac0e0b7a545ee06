"""An arlm GPT model folder + its tokenizer -> a folder stock ``transformers`` loads as it is.

``AutoModelForCausalLM.from_pretrained(OUT_DIR)`` and ``AutoTokenizer.from_pretrained(OUT_DIR)``
work with no ``trust_remote_code``: the folder holds ``config.json`` (a stock architecture, the
end-of-text id as bos/eos, the pad id), ``generation_config.json``, ``model.safetensors`` (no
pickle, every tensor the stock class expects and no other), ``tokenizer.json`` (arlm's own,
unchanged) with ``tokenizer_config.json``, and a short ``README.md`` naming where it came from.

Learned positions -> ``GPT2LMHeadModel``; rotary -> ``GPTNeoXForCausalLM`` with the sequential
residual (``arlm.hf.mapping`` says why that computes the same function). Before the folder is put
in place, the stock model is loaded from it and its logits on a fixed prompt are compared with
arlm's: a difference above ``VERIFY_ATOL`` is an error, not a silently wrong export.

The recurrent kinds (rnn, lstm, gru, lstm-attn) and the n-gram are refused: no stock
``transformers`` class computes them, and arlm does not write custom modelling code (which would
need ``trust_remote_code``). Export them with ``arlm`` itself (``mlflow.pyfunc``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch

from arlm.errors import ConfigError, DataError
from arlm.hf import mapping
from arlm.versioning import TMP_MARK

VERIFY_ATOL = 1e-4  # float32 logits of the two implementations agree to ~1e-6 in practice
VERIFY_TOKENS = 16


def check_out_dir(out_dir: Path, force: bool) -> None:
    """Refuse a non-empty ``out_dir`` unless ``force`` (it is then replaced whole)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise ConfigError(f"{out_dir}: folder not empty; pass --force to replace its contents")


def _check_exportable(model) -> None:
    if model.kind != "gpt":
        raise ConfigError(
            f"export-hf: model kind {model.kind!r} has no stock transformers architecture; arlm "
            "exports GPT models only (learned positions -> GPT2LMHeadModel, rotary -> "
            "GPTNeoXForCausalLM) and writes no custom modelling code (trust_remote_code); "
            "serve this kind through its MLflow model instead"
        )


def _write_tokenizer(tok, out: Path, block_size: int) -> None:
    from transformers import PreTrainedTokenizerFast

    from arlm.tokenizers.config import EOT, PAD
    from tokenizers import Tokenizer as HFTokenizer

    hf = HFTokenizer.from_str(tok.to_json_str())  # a copy: arlm's sets encode_special_tokens on its own
    pad = PAD if hf.token_to_id(PAD) is not None else EOT
    fast = PreTrainedTokenizerFast(
        tokenizer_object=hf,
        bos_token=EOT,
        eos_token=EOT,
        pad_token=pad,
        model_max_length=block_size,
        clean_up_tokenization_spaces=False,
    )
    fast.save_pretrained(str(out))


def _readme(cfg, arch: str, source: str | None) -> str:
    return "\n".join(
        [
            "---",
            "library_name: transformers",
            "tags: [arlm]",
            "---",
            "",
            f"# {source or 'arlm model'}",
            "",
            f"Exported by arlm from {source or 'a model folder'}: a {cfg.n_layer}-layer, {cfg.n_embd}-wide GPT "
            f"({cfg.positions} positions) as stock `{mapping.ARCHITECTURES[arch]}`.",
            "",
            "```python",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "model = AutoModelForCausalLM.from_pretrained(PATH)",
            "tokenizer = AutoTokenizer.from_pretrained(PATH)",
            "```",
            "",
            "arlm encodes `<|endoftext|>` written inside text as plain text; `transformers` reads it as the special "
            "token. Pass `split_special_tokens=True` to the tokenizer for arlm's ids on such text.",
            "",
        ]
    )


def verify_export(model, out: Path, n_tokens: int = VERIFY_TOKENS) -> float:
    """Max |logit difference| between arlm's model and the stock model loaded from ``out``."""
    from transformers import AutoModelForCausalLM

    hf_model = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True, dtype=torch.float32)
    hf_model.eval()
    g = torch.Generator().manual_seed(0)
    n = min(n_tokens, model.config.block_size)
    ids = torch.randint(0, model.config.vocab_size, (2, n), generator=g)
    with torch.no_grad():
        mine = model(ids)[0]
        theirs = hf_model(ids).logits
    return float((mine - theirs).abs().max())


def export_model_dir(
    model_dir: str | Path,
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    *,
    force: bool = False,
    source: str | None = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Write the stock-``transformers`` folder of an arlm model folder into ``out_dir``.

    The folder is written under a temporary name beside ``out_dir`` and renamed into place, so a
    failure leaves ``out_dir`` as it was. Returns ``{"out_dir", "architecture", "files",
    "max_abs_logit_diff"}``."""
    from safetensors.torch import save_file
    from transformers import AutoConfig, GenerationConfig

    from arlm.models import load_model
    from arlm.tokenizers import load_tokenizer

    out_dir = Path(out_dir).expanduser().resolve()
    check_out_dir(out_dir, force)
    model = load_model(model_dir)  # checks the weights' sha256
    _check_exportable(model)
    cfg = model.config
    tok = load_tokenizer(tokenizer_dir)
    if tok.vocab_size != cfg.vocab_size:
        raise DataError(
            f"{tokenizer_dir}: tokenizer has {tok.vocab_size} tokens, the model {cfg.vocab_size}: "
            "not the model's tokenizer"
        )
    arch = mapping.architecture_of(cfg)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}{TMP_MARK}{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        tensors = mapping.to_hf(model.state_dict(), cfg)
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        fields = mapping.hf_config(cfg, eot_id=tok.eot_id, pad_id=tok.pad_id)
        model_type = fields.pop("model_type")
        AutoConfig.for_model(model_type, **fields).save_pretrained(str(tmp))
        GenerationConfig(
            bos_token_id=tok.eot_id, eos_token_id=tok.eot_id, pad_token_id=tok.pad_id, max_length=cfg.block_size
        ).save_pretrained(str(tmp))
        _write_tokenizer(tok, tmp, cfg.block_size)
        (tmp / "README.md").write_text(_readme(cfg, arch, source), encoding="utf-8")
        diff = verify_export(model, tmp) if verify else None
        if diff is not None and diff > VERIFY_ATOL:
            raise DataError(
                f"export-hf: the stock {mapping.ARCHITECTURES[arch]} loaded from the export differs "
                f"from arlm's model by {diff:.3g} in logits (> {VERIFY_ATOL}); nothing written"
            )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    files = sorted(p.name for p in out_dir.iterdir())
    return {
        "out_dir": str(out_dir),
        "architecture": mapping.ARCHITECTURES[arch],
        "files": files,
        "max_abs_logit_diff": diff,
    }
