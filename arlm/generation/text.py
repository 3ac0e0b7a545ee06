"""Text in, text out: a model folder and a tokenizer folder behind one ``generate(prompt)`` call.

This is what the MLflow pyfunc and ``arlm generate`` run. It reads the tokenizer's
``tokenizer.json`` with the HF ``tokenizers`` library directly (not ``arlm.tokenizers``, which pulls
in the fast encoders): the served model then needs only torch, numpy, safetensors and tokenizers.
Special-token strings typed in a prompt are encoded as plain text, as ``arlm.tokenizers`` does, so
a user cannot inject an end-of-text marker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arlm.errors import ConfigError, DataError, NotFoundError
from arlm.generation.config import GenerationConfig
from arlm.generation.decode import generate

EOT = "<|endoftext|>"


class StreamDecoder:
    """Turns a growing list of token ids into text pieces, holding back incomplete UTF-8.

    Byte-level tokens can end in the middle of a character; the piece is released once the
    decoded text no longer ends in U+FFFD.
    """

    def __init__(self, decode: Callable[[list[int]], str]):
        self.decode = decode
        self.ids: list[int] = []
        self.emitted = 0

    def push(self, token: int) -> str:
        self.ids.append(token)
        text = self.decode(self.ids)
        if text.endswith("\ufffd"):
            return ""
        piece, self.emitted = text[self.emitted :], len(text)
        return piece

    def flush(self) -> str:
        text = self.decode(self.ids)
        piece, self.emitted = text[self.emitted :], len(text)
        return piece


class TextGenerator:
    """A loaded model + tokenizer. ``tags`` carries registry metadata when loaded from MLflow."""

    def __init__(
        self, model: Any, hf_tokenizer: Any, eot_id: int, tags: dict[str, str] | None = None, source: str = ""
    ):
        self.model = model
        self.tokenizer = hf_tokenizer
        self.eot_id = eot_id
        self.tags = dict(tags or {})
        self.source = source

    @classmethod
    def from_dirs(
        cls,
        model_dir: str | Path,
        tokenizer_dir: str | Path,
        device: str = "cpu",
        tags: dict[str, str] | None = None,
        source: str = "",
    ) -> TextGenerator:
        from arlm.models import load_model
        from tokenizers import Tokenizer as HFTokenizer

        tok_path = Path(tokenizer_dir)
        tok_path = tok_path / "tokenizer.json" if tok_path.is_dir() else tok_path
        if not tok_path.is_file():
            raise NotFoundError(f"{tok_path}: tokenizer.json missing")
        try:
            hf = HFTokenizer.from_file(str(tok_path))
        except Exception as exc:  # HF raises a bare Exception on a malformed file
            raise DataError(f"{tok_path}: not a valid tokenizer.json ({exc})") from None
        hf.encode_special_tokens = True
        eot_id = hf.token_to_id(EOT)
        meta_path = tok_path.parent / "tokenizer_meta.json"
        if eot_id is None and meta_path.is_file():
            eot_id = json.loads(meta_path.read_text(encoding="utf-8")).get("eot_id")
        if eot_id is None:
            raise DataError(f"{tok_path}: no {EOT} token")
        model = load_model(model_dir, device=device)
        vocab = getattr(model.config, "vocab_size", None)
        if vocab is not None and hf.get_vocab_size(with_added_tokens=True) > vocab:
            raise DataError(
                f"{tok_path}: tokenizer has {hf.get_vocab_size()} ids but the model in "
                f"{model_dir} only {vocab}: they do not belong together"
            )
        return cls(model, hf, int(eot_id), tags=tags, source=source)

    # -- text <-> ids --------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def config(self, cfg: GenerationConfig) -> GenerationConfig:
        """``cfg`` with the end-of-text id added to its stop ids (a document ends there)."""
        if self.eot_id in cfg.stop_token_ids:
            return cfg
        from dataclasses import replace

        return replace(cfg, stop_token_ids=tuple(cfg.stop_token_ids) + (self.eot_id,))

    # -- generation ------------------------------------------------------------------------------
    def generate(
        self,
        prompts: list[str],
        cfg: GenerationConfig,
        on_text: Callable[[int, str], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Continuations of ``prompts`` (prompt text excluded), cut before the first stop string.

        ``on_text(row, piece)`` streams text pieces as tokens arrive (a stop string may already
        have been streamed when it is detected; the returned text is cut before it).
        ``on_notice(line)`` gets notices such as a prompt cut to the model's context (without it,
        a ``PromptTruncatedWarning``).
        """
        ids = []
        for i, p in enumerate(prompts):
            if not isinstance(p, str) or not p:
                raise ConfigError(f"prompt {i} is empty: give some text to continue")
            ids.append(self.encode(p))
        on_token = None
        streams: dict[int, StreamDecoder] = {}
        if on_text is not None:

            def on_token(row: int, tok: int) -> None:
                piece = streams.setdefault(row, StreamDecoder(self.decode)).push(tok)
                if piece:
                    on_text(row, piece)

        out = generate(self.model, ids, self.config(cfg), on_token=on_token, decode=self.decode, on_notice=on_notice)
        if on_text is not None:
            for row, stream in streams.items():
                piece = stream.flush()
                if piece:
                    on_text(row, piece)
        return [cut_at_stop(self.decode(row), cfg.stop) for row in out]


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """Text before the earliest stop string (the stop string itself is dropped)."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return text if cut < 0 else text[:cut]
