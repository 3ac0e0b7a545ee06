"""Evaluating any text file with a model's own tokenizer, and sample continuations.

The text is scored as one document exactly as a token dataset holds it: its tokens followed by one
end-of-text token, after an end-of-text token that serves as the context of the first token, so
the summed nats cover every byte of the file (``arlm.evaluation.bits.bits_per_byte``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arlm.errors import DataError
from arlm.evaluation.baselines import compression_baselines
from arlm.evaluation.metrics import evaluate_tokens


def read_text_file(path: str | Path) -> str:
    """UTF-8 text of ``path``; missing, empty and binary files are DataErrors naming the file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    data = p.read_bytes()
    if not data.strip():
        raise DataError(f"{p}: file is empty: nothing to evaluate")
    if b"\x00" in data:
        raise DataError(f"{p}: looks binary (NUL bytes): give a UTF-8 text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def context_length(model: Any) -> int:
    """The window used for scoring: the model's context limit, else its training block size."""
    return model.max_context or model.config.block_size


def evaluate_text(generator: Any, text: str, batch_size: int = 16) -> dict[str, float]:
    """Metrics of ``generator.model`` on ``text`` (tokenized by its tokenizer) plus the compressors'
    bits per byte of the same bytes (``gzip_bits_per_byte``...)."""
    import numpy as np

    data = text.encode("utf-8")
    ids = generator.encode(text)
    if not ids:
        raise DataError("text encodes to no tokens: nothing to evaluate")
    tokens = np.asarray([*ids, generator.eot_id], dtype=np.int64)
    metrics = evaluate_tokens(
        generator.model, tokens, len(data), context_length(generator.model), batch_size, bos_id=generator.eot_id
    )
    for name, bpb in compression_baselines(data).items():
        metrics[f"{name}_bits_per_byte"] = bpb
    return metrics


def sample_prompts(text: str, n: int = 3, chars: int = 48) -> list[str]:
    """``n`` prompts cut from evenly spaced lines of ``text`` (non-blank, first ``chars`` characters)."""
    lines = [ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 8]
    if not lines:
        return [text[:chars]] if text.strip() else []
    step = max(1, len(lines) // n)
    return [ln[:chars] for ln in lines[::step][:n]]


def sample_continuations(generator: Any, prompts: list[str], max_new_tokens: int = 32) -> list[dict[str, str]]:
    """Greedy continuations of ``prompts`` (bounded by the model's context)."""
    from arlm.generation import GenerationConfig

    limit = generator.model.max_context
    n = max_new_tokens if limit is None else max(1, min(max_new_tokens, limit // 2))
    prompts = [p for p in prompts if p]
    if not prompts:
        return []
    outs = generator.generate(prompts, GenerationConfig(max_new_tokens=n))
    return [{"prompt": p, "continuation": o} for p, o in zip(prompts, outs)]
