"""Encoders that give the HF tokenizer's ids faster, chosen from what tokenizer.json says.

* ``TiktokenEncoder``: a tiktoken ``Encoding`` built from a byte-level BPE's vocabulary, rank =
  id. It matches HF exactly when the tokenizer is what ``kinds.train_bpe`` writes (a known regex,
  no normalizer, all 256 bytes, ``ignore_merges``): HF's merge order and tiktoken's lowest-rank
  rule coincide for a vocabulary learned by BPE training, and ``ignore_merges`` is tiktoken's
  whole-piece lookup; the pieces come from the same regex (``patterns``). ``select_encoder``
  checks that the ids rise in merge order (``rank_order_problem``) and falls back to HF, with a
  notice, when they do not. ``tests/tokenizers`` checks the ids on arbitrary Unicode. tiktoken
  releases the GIL, so threads encode in parallel.
* ``ByteTableEncoder``: byte tokenizers (no merges): a 256-entry lookup table over the UTF-8 bytes.
* ``CharTableEncoder``: the char kind (tiktoken cannot express a byte fallback): a code-point
  table in numpy.
* ``HFEncoder``: anything else (foreign tokenizer.json files).

Special-token text: every encoder treats the strings ``<|endoftext|>`` / ``<|pad|>`` inside text
as ordinary text (HF ``encode_special_tokens=True``; tiktoken's ordinary encoding), so a corpus
that quotes them never injects document boundaries. Specials enter token streams only where the
code puts them (one ``<|endoftext|>`` after each document).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from arlm.tokenizers.byte_level import token_to_bytes, unicode_to_bytes
from arlm.tokenizers.patterns import pattern_of


class Encoder(Protocol):
    name: str

    def encode(self, text: str) -> list[int]: ...

    def encode_numpy(self, text: str) -> np.ndarray:
        """Ids of one text as a uint32 array (no per-token Python objects)."""
        ...


class HFEncoder:
    """The reference: the HF tokenizer itself, specials in text treated as text."""

    name = "hf"

    def __init__(self, hf: Any) -> None:
        self.hf = hf

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_numpy(self, text: str) -> np.ndarray:
        return np.asarray(self.encode(text), dtype=np.uint32)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.hf.encode_batch(list(texts), add_special_tokens=False)]


class TiktokenEncoder:
    name = "tiktoken"

    def __init__(self, ranks: dict[bytes, int], specials: dict[str, int], pattern: str) -> None:
        import tiktoken

        self.enc = tiktoken.Encoding("arlm-bpe", pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)

    def encode(self, text: str) -> list[int]:
        return self.enc.encode_ordinary(text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        import os

        return self.enc.encode_ordinary_batch(list(texts), num_threads=max(1, os.cpu_count() or 1))

    def encode_numpy(self, text: str) -> np.ndarray:
        # allowed_special empty: special strings are ordinary text, same ids as encode_ordinary.
        return self.enc.encode_to_numpy(text, allowed_special=set(), disallowed_special=())


class ByteTableEncoder:
    name = "bytes"

    def __init__(self, table: np.ndarray) -> None:
        self.table = table  # uint32[256]: id of each byte

    def encode(self, text: str) -> list[int]:
        return self.encode_numpy(text).tolist()

    def encode_numpy(self, text: str) -> np.ndarray:
        return self.table[np.frombuffer(text.encode("utf-8"), dtype=np.uint8)]


UNKNOWN = np.uint32(0xFFFFFFFF)


class CharTableEncoder:
    """Char kind: one id per known character, UTF-8 byte tokens for the rest, all in numpy.

    Gives exactly what HF's BPE does with no merges and ``byte_fallback`` (checked by the tests):
    a table lookup over the text's code points, and the unknown characters' UTF-8 bytes computed
    arithmetically, so even a text of unseen characters costs no Python loop.
    """

    name = "char-table"

    def __init__(self, char_ids: dict[str, int], byte_ids: np.ndarray) -> None:
        top = max((ord(c) for c in char_ids), default=0)
        self.table = np.full(top + 1, UNKNOWN, dtype=np.uint32)
        for c, i in char_ids.items():
            self.table[ord(c)] = i
        self.byte_ids = byte_ids  # uint32[256]: id of <0xNN>

    def encode(self, text: str) -> list[int]:
        return self.encode_numpy(text).tolist()

    def encode_numpy(self, text: str) -> np.ndarray:
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        inside = cps < len(self.table)
        ids = np.full(len(cps), UNKNOWN, dtype=np.uint32)
        ids[inside] = self.table[cps[inside]]
        unknown = ids == UNKNOWN
        if not unknown.any():
            return ids
        u = cps[unknown]
        n = np.where(u < 0x80, 1, np.where(u < 0x800, 2, np.where(u < 0x10000, 3, 4)))
        lengths = np.ones(len(cps), dtype=np.int64)
        lengths[unknown] = n
        starts = np.cumsum(lengths) - lengths
        out = np.empty(int(lengths.sum()), dtype=np.uint32)
        out[starts[~unknown]] = ids[~unknown]
        s = starts[unknown]
        lead = np.where(
            n == 1, u, np.where(n == 2, 0xC0 | (u >> 6), np.where(n == 3, 0xE0 | (u >> 12), 0xF0 | (u >> 18)))
        )
        out[s] = self.byte_ids[lead]
        for k in (1, 2, 3):  # continuation bytes, most significant first
            m = n > k
            shift = (6 * (n[m] - 1 - k)).astype(np.uint32)
            out[s[m] + k] = self.byte_ids[0x80 | ((u[m] >> shift) & 0x3F)]
        return out


def _char_tables(spec: dict) -> tuple[dict[str, int], np.ndarray] | None:
    """(char -> id, byte -> id) if ``spec`` is the char kind's shape: single characters, byte fallback."""
    model = spec.get("model") or {}
    if (
        model.get("type") != "BPE"
        or not model.get("byte_fallback")
        or model.get("merges")
        or model.get("ignore_merges")
        or model.get("dropout")
        or model.get("unk_token") is not None
    ):
        return None
    if spec.get("normalizer") is not None or spec.get("pre_tokenizer") is not None:
        return None
    added = {t["content"] for t in spec.get("added_tokens", [])}
    byte_ids = np.full(256, UNKNOWN, dtype=np.uint32)
    chars: dict[str, int] = {}
    for tok, i in (model.get("vocab") or {}).items():
        if tok in added:
            continue
        if len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">"):
            byte_ids[int(tok[3:5], 16)] = i
        elif len(tok) == 1:
            chars[tok] = i
        else:
            return None
    if (byte_ids == UNKNOWN).any():
        return None
    return chars, byte_ids


def _plain_byte_level_bpe(spec: dict) -> bool:
    """A BPE over byte-level characters with nothing tiktoken lacks (normalizer, dropout, affixes...)."""
    model = spec.get("model") or {}
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers") or [] if pre.get("type") == "Sequence" else [pre]
    if model.get("type") != "BPE" or not steps or steps[-1].get("type") != "ByteLevel":
        return False
    if steps[-1].get("add_prefix_space") or spec.get("normalizer") is not None:
        return False
    if (
        model.get("byte_fallback")
        or model.get("dropout")
        or model.get("continuing_subword_prefix")
        or model.get("end_of_word_suffix")
    ):
        return False
    vocab = model.get("vocab") or {}
    return all(c in vocab for c in unicode_to_bytes())  # else some byte would be unencodable


def _merge_pairs(merges: Sequence[Any]) -> list[tuple[str, str]]:
    """tokenizer.json's merges as pairs: ``["a", "b"]`` (tokenizers >= 0.20) or ``"a b"`` (older files)."""
    return [(m[0], m[1]) if isinstance(m, (list, tuple)) else tuple(m.split(" ", 1)) for m in merges]


def rank_order_problem(merges: Sequence[Any], vocab: dict[str, int]) -> str | None:
    """Why tiktoken, given ranks = ids, could merge differently from HF's BPE; None if it cannot.

    HF applies the merges in list order; tiktoken merges the adjacent pair whose result has the
    lowest rank. They agree when each merge makes a new token, every multi-byte token of ``vocab``
    (specials excluded) is made by a merge, and the ids of the merges' results rise in merge order:
    ranks equal ids. BPE training writes exactly that; a vocabulary renumbered afterwards does not."""
    made: dict[str, int] = {}
    last = -1
    for n, (a, b) in enumerate(_merge_pairs(merges)):
        token = a + b
        if a not in vocab or b not in vocab or token not in vocab:
            return f"merge {n} ({a!r} + {b!r}): a part or the result is not in the vocabulary"
        if token in made:
            return f"merge {n} ({a!r} + {b!r}) makes {token!r} again (merge {made[token]} made it)"
        if vocab[token] <= last:
            return f"merge {n} ({a!r} + {b!r}) gives id {vocab[token]}, not above the {last} of the merge before it"
        made[token], last = n, vocab[token]
    unmade = next((t for t in vocab if len(t) > 1 and t not in made), None)
    if unmade is not None:
        return f"token {unmade!r} (id {vocab[unmade]}) is made by no merge"
    return None


def _notice(line: str) -> None:
    print(f"arlm: notice: {line}", file=sys.stderr, flush=True)


def select_encoder(hf: Any, on_notice: Callable[[str], None] | None = None) -> Encoder:
    """The fastest encoder that gives ``hf``'s ids for this tokenizer.json.

    ``on_notice(line)`` hears why a byte-level BPE that tiktoken could encode falls back to HF
    (default: a line on stderr)."""
    spec = json.loads(hf.to_str())
    char = _char_tables(spec)
    if char is not None:
        return CharTableEncoder(*char)
    if not _plain_byte_level_bpe(spec):
        return HFEncoder(hf)
    model = spec["model"]
    added = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
    plain = {tok: i for tok, i in model["vocab"].items() if tok not in added}
    if not model.get("merges"):  # one token per byte whatever the pieces
        table = np.zeros(256, dtype=np.uint32)
        for tok, i in plain.items():
            if len(tok) == 1:
                table[unicode_to_bytes()[tok]] = i
        return ByteTableEncoder(table)
    pattern = pattern_of(spec.get("pre_tokenizer"))
    if pattern is None or not model.get("ignore_merges"):
        return HFEncoder(hf)
    try:
        ranks = {token_to_bytes(tok): i for tok, i in plain.items()}
    except KeyError:  # a token outside the byte-level alphabet
        return HFEncoder(hf)
    if len(ranks) != len(plain):
        return HFEncoder(hf)
    problem = rank_order_problem(model["merges"], plain)
    if problem is not None:
        (on_notice or _notice)(
            f"BPE ids are not in merge order ({problem}): encoding with the HF "
            "tokenizer, not tiktoken (slower, same ids)"
        )
        return HFEncoder(hf)
    return TiktokenEncoder(ranks, added, pattern)
