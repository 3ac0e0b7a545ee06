"""Text in, text out: a seq2seq model with its tokenizer(s).

``Translator(model, src_tokenizer, tgt_tokenizer=None)`` encodes sources with the source tokenizer
(a joint tokenizer serves both sides), decodes them with ``translate_ids`` and turns the output
ids back into text. This is what a served translator, ``arlm translate`` and the evaluation of a
pairs file need; the tokenizers are any objects with ``encode(str) -> ids`` / ``encode_batch`` and
``decode(ids) -> str`` (``arlm.tokenizers.Tokenizer``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arlm.errors import DataError
from arlm.translation.decode import DecodeConfig, translate_ids


@dataclass
class Translator:
    model: Any
    src_tokenizer: Any
    tgt_tokenizer: Any = None

    @property
    def target_tokenizer(self) -> Any:
        return self.tgt_tokenizer if self.tgt_tokenizer is not None else self.src_tokenizer

    def encode_sources(self, texts: Sequence[str]) -> list[list[int]]:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise DataError(f"source {i} is a {type(t).__name__}, expected a string")
        batch = getattr(self.src_tokenizer, "encode_batch", None)
        return [list(ids) for ids in (batch(list(texts)) if batch else map(self.src_tokenizer.encode, texts))]

    def encode_targets(self, texts: Sequence[str]) -> list[list[int]]:
        tok = self.target_tokenizer
        batch = getattr(tok, "encode_batch", None)
        return [list(ids) for ids in (batch(list(texts)) if batch else map(tok.encode, texts))]

    def translate(self, texts: Sequence[str], cfg: DecodeConfig | None = None) -> list[str]:
        """One translation per text (an empty or blank text translates to ""); ``cfg`` None: greedy."""
        cfg = cfg or DecodeConfig()
        texts = list(texts)
        ids = self.encode_sources(texts)
        todo = [i for i, t in enumerate(texts) if t.strip() and ids[i]]
        outs = translate_ids(self.model, [ids[i] for i in todo], cfg) if todo else []
        result = [""] * len(texts)
        tok = self.target_tokenizer
        for i, out in zip(todo, outs):
            result[i] = tok.decode(out).strip()
        return result
