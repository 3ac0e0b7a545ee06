"""The ``Tokenizer`` every consumer uses: HF tokenizer.json as the source of truth, fast encoder inside.

``load_tokenizer`` accepts a tokenizer folder (tokenizer.json + tokenizer_meta.json) or a bare
tokenizer.json; the folder's meta supplies the kind, a bare file's kind is inferred.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arlm.errors import DataError, NotFoundError
from arlm.tokenizers.config import EOT, PAD
from arlm.tokenizers.fast_encoders import Encoder, HFEncoder, select_encoder

TOKENIZER_JSON = "tokenizer.json"
META_JSON = "tokenizer_meta.json"


def infer_kind(spec: dict) -> str:
    model = spec.get("model") or {}
    if model.get("byte_fallback"):
        return "char"
    if (spec.get("pre_tokenizer") or {}).get("type") == "ByteLevel" and not model.get("merges"):
        return "bytes"
    return "bpe"


class Tokenizer:
    """Text <-> ids. ``encode`` treats special-token strings in text as plain text (see fast_encoders)."""

    def __init__(self, hf: Any, kind: str | None = None, meta: dict | None = None) -> None:
        hf.encode_special_tokens = True  # not stored in tokenizer.json: set on every load
        self.hf = hf
        self.meta = dict(meta or {})
        spec = json.loads(hf.to_str())
        self.kind: str = kind or self.meta.get("kind") or infer_kind(spec)
        self.vocab_size: int = hf.get_vocab_size(with_added_tokens=True)
        eot, pad = hf.token_to_id(EOT), hf.token_to_id(PAD)
        if eot is None:
            raise DataError(f"tokenizer has no {EOT} token: arlm needs it to separate documents")
        self.eot_id: int = eot
        self.pad_id: int = pad if pad is not None else eot
        self.encoder: Encoder = select_encoder(hf)
        self._reference = HFEncoder(hf)

    # -- encoding -------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self.encoder.encode(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        batch = getattr(self.encoder, "encode_batch", None)  # HF and tiktoken encode a batch on threads
        return batch(texts) if batch is not None else [self.encoder.encode(t) for t in texts]

    def encode_numpy(self, text: str) -> np.ndarray:
        return self.encoder.encode_numpy(text)

    def encode_documents(self, texts: Iterable[str], append_eot: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated ids of ``texts`` (each followed by ``<|endoftext|>``) and each document's length."""
        parts: list[np.ndarray] = []
        lengths: list[int] = []
        eot = np.asarray([self.eot_id], dtype=np.uint32)
        if isinstance(self.encoder, HFEncoder):  # one HF call: it releases the GIL and may use its own threads
            encoded = [np.asarray(ids, dtype=np.uint32) for ids in self.encoder.encode_batch(list(texts))]
        else:
            encoded = (self.encoder.encode_numpy(t) for t in texts)
        for ids in encoded:
            parts.append(ids)
            if append_eot:
                parts.append(eot)
            lengths.append(len(ids) + int(append_eot))
        tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)
        return tokens.astype(np.uint32, copy=False), np.asarray(lengths, dtype=np.int64)

    def reference_encode(self, text: str) -> list[int]:
        """HF's own ids (the slow path the fast encoder must match)."""
        return self._reference.encode(text)

    # -- decoding -------------------------------------------------------------------------
    def _check_ids(self, ids: Iterable[int]) -> list[int]:
        out = [int(i) for i in ids]
        bad = [i for i in out if i < 0 or i >= self.vocab_size]
        if bad:
            raise DataError(f"token id {bad[0]} is out of range for this tokenizer (vocab_size {self.vocab_size})")
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; specials decode to their strings; invalid UTF-8 becomes U+FFFD."""
        return self.hf.decode(self._check_ids(ids), skip_special_tokens=False)

    def token_bytes(self, token_id: int) -> bytes:
        """The exact bytes one token stands for (a special: its UTF-8 string)."""
        from arlm.tokenizers.byte_level import token_to_bytes
        from arlm.tokenizers.config import SPECIAL_TOKENS

        (tid,) = self._check_ids([token_id])
        tok = self.hf.id_to_token(tid)
        if tok in SPECIAL_TOKENS:
            return tok.encode("utf-8")
        if self.kind == "char":
            if len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">"):
                return bytes([int(tok[3:5], 16)])
            return tok.encode("utf-8")
        try:
            return token_to_bytes(tok)
        except KeyError:
            return tok.encode("utf-8")

    def pieces(self, text: str) -> list[tuple[int, bytes]]:
        """(id, bytes) per token of ``text``: how the text splits."""
        return [(i, self.token_bytes(i)) for i in self.encode(text)]

    def to_json_str(self) -> str:
        return self.hf.to_str()

    def __repr__(self) -> str:
        return f"Tokenizer(kind={self.kind!r}, vocab_size={self.vocab_size}, encoder={self.encoder.name!r})"


def tokenizer_from_json_str(spec: str, kind: str | None = None, meta: dict | None = None) -> Tokenizer:
    from tokenizers import Tokenizer as HFTokenizer

    return Tokenizer(HFTokenizer.from_str(spec), kind=kind, meta=meta)


def load_tokenizer(dir_or_json: str | Path) -> Tokenizer:
    """A tokenizer folder (tokenizer.json + tokenizer_meta.json) or a tokenizer.json file."""
    p = Path(dir_or_json)
    json_path = p / TOKENIZER_JSON if p.is_dir() else p
    if not json_path.exists():
        raise NotFoundError(f"{json_path}: no tokenizer.json there (build one with `arlm tokenizer build`)")
    meta_path = json_path.parent / META_JSON
    meta = None
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"{meta_path}: not valid JSON ({e})") from None
    try:
        text = json_path.read_text(encoding="utf-8")
        return tokenizer_from_json_str(text, meta=meta)
    except DataError:
        raise
    except Exception as e:  # HF raises a bare Exception for a malformed file
        raise DataError(f"{json_path}: not a valid HF tokenizer.json ({e})") from None
