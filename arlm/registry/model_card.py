"""The model card: the registered version's description (data, size, metrics, intended use, limits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def model_card(meta: Mapping[str, Any], num_params: int, metrics: Mapping[str, Any], tags: Mapping[str, str]) -> str:
    """Markdown describing the model from its config, size, evaluation metrics and lineage tags."""
    config = meta.get("config", {})
    kind = meta.get("kind", "?")
    lines = [
        f"# arlm {kind} language model",
        "",
        f"An autoregressive {kind} language model ({num_params:,} parameters, context "
        f"{config.get('block_size', '?')} tokens, vocabulary {config.get('vocab_size', '?')}) trained by arlm.",
        "",
        "## Data",
        f"- corpus version: `{tags.get('arlm.corpus_version', 'unknown')}`",
        f"- tokenizer version: `{tags.get('arlm.tokenizer_version', 'unknown')}`",
        f"- token dataset version: `{tags.get('arlm.token_dataset_version', 'unknown')}`",
        f"- code: git `{tags.get('arlm.git_commit', 'unknown')}`",
        "",
        "## Model",
        "| field | value |",
        "| --- | --- |",
        *[f"| {k} | {_fmt(v)} |" for k, v in sorted(config.items())],
        "",
        "## Evaluation",
    ]
    if metrics:
        lines += ["| metric | value |", "| --- | --- |", *[f"| {k} | {_fmt(v)} |" for k, v in sorted(metrics.items())]]
        lines += [
            "",
            "Bits per byte are summed nats over the UTF-8 byte count of the held-out text, "
            "over ln 2: comparable across tokenizers and with the gzip/bzip2/xz baselines.",
        ]
    else:
        lines.append("Not evaluated when logged.")
    lines += [
        "",
        "## Intended use",
        "Text continuation for experiments, demos and teaching: input a `prompt` column, get the "
        "generated continuation (params: max_new_tokens, temperature, top_k, top_p, num_beams, seed).",
        "",
        "## Limits",
        "- Small model trained on a narrow corpus: output is often wrong, repetitive or nonsensical "
        "outside that corpus; no instruction following, no safety tuning.",
        "- It reproduces patterns of its training text, including its biases and any personal data in it.",
        f"- Prompt plus generated tokens must fit the context of {config.get('block_size', '?')} tokens "
        "for the GPT (longer prompts are truncated on the left).",
    ]
    return "\n".join(lines) + "\n"
