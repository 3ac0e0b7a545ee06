"""Pretrained models in and out of arlm, in Hugging Face's format.

* ``gpt2_import``: a local Hugging Face folder (``config.json``, ``model.safetensors``, tokenizer
  files) of a GPT-2 (or of a GPT-NeoX that arlm itself exported) -> arlm's GPT and its tokenizer;
* ``export``: an arlm GPT + tokenizer -> a folder that stock ``transformers`` loads with
  ``AutoModelForCausalLM`` / ``AutoTokenizer`` (learned positions: ``GPT2LMHeadModel``; rotary:
  ``GPTNeoXForCausalLM`` with its sequential residual);
* ``mapping``: the weight names and layouts of both, in both directions;
* ``adapters``: LoRA through ``peft`` for fine-tuning, merged back into a plain GPT;
* ``hub``: ``hf:NAME`` resolved through the local Hugging Face cache only;
* ``stages``: import / fine-tune / export recorded in the registry and the catalog.

A layer below the CLI and the flows: it imports ``arlm.models``, ``arlm.registry``,
``arlm.catalog`` and ``arlm.stages``, never ``arlm.cli`` or ``flows``. ``transformers`` and
``peft`` (the ``pretrained`` extra) are imported inside the functions that need them; nothing in
the core, the training loop (unless LoRA is asked for) or the served pyfunc model imports them.
"""

from __future__ import annotations

from arlm.lazy import lazy_getattr

_EXPORTS = {
    "read_hf_checkpoint": "arlm.hf.gpt2_import",
    "load_hf_model": "arlm.hf.gpt2_import",
    "export_model_dir": "arlm.hf.export",
    "resolve_source": "arlm.hf.hub",
    "import_stage": "arlm.hf.stages",
    "export_stage": "arlm.hf.stages",
    "finetune_stage": "arlm.hf.stages",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
