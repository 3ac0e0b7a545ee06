"""Pair token datasets: each split of a parallel corpus as token ids per side, memory-mappable.

Layout of ``out_root/<dataset_id>/``::

    manifest.json                 task "translation", ids, special ids, per split: counts, files, sha256
    <split>.src.npy               source ids of every pair, concatenated (uint16 or uint32)
    <split>.src.off.npy           int64 [n_pairs + 1]: pair i's source is src[off[i]:off[i+1]]
    <split>.tgt.npy / .tgt.off.npy   the same for targets

Ids are the tokenizers' own: no BOS/EOS is stored (``arlm.models.seq2seq.make_batch`` adds them).
``n_bytes`` of a split is the UTF-8 size of its target sentences; ``n_tgt_tokens`` counts the
target ids plus one EOS per pair: the tokens a model's reference loss is averaged over.

The id hashes the corpus version and both tokenizer ids, so the same inputs give the same folder
and a second call reuses it; the folder appears whole or not at all (``atomic_dir``). Every array's
size and sha256 are checked when a split is opened, so a damaged file is named, never read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from arlm.errors import DataError, NotFoundError
from arlm.versioning import atomic_dir, atomic_write_json, clean_stale_tmp, content_hash, read_json, sha256_file

MANIFEST = "manifest.json"
FORMAT = "arlm-pair-tokens-1"
TASK = "translation"
SIDES = ("src", "tgt")


def is_pair_dataset(path: str | Path) -> bool:
    """True when ``path`` holds a pair token dataset (its manifest says task "translation")."""
    try:
        return read_json(Path(path) / MANIFEST).get("task") == TASK
    except (OSError, ValueError, AttributeError):
        return False


def pair_dataset_id(corpus_id: str, src_tokenizer_id: str, tgt_tokenizer_id: str) -> str:
    return content_hash("pair-token-dataset", FORMAT, corpus_id, src_tokenizer_id, tgt_tokenizer_id)


def _dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 65535 else np.dtype(np.uint32)


def _flatten(seqs: Sequence[Sequence[int]], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    off = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    flat = np.empty(int(off[-1]), dtype=dtype)
    for i, s in enumerate(seqs):
        if len(s):
            flat[off[i] : off[i + 1]] = s
    return flat, off


def write_pair_dataset(
    out_root: str | Path,
    *,
    corpus_id: str,
    src_tokenizer_id: str,
    tgt_tokenizer_id: str,
    src_vocab_size: int,
    vocab_size: int,
    splits: dict[str, tuple[Sequence[Sequence[int]], Sequence[Sequence[int]], int]],
    pad_id: int = 1,
    bos_id: int = 0,
    eos_id: int = 0,
    meta: dict[str, Any] | None = None,
) -> PairTokenDataset:
    """Write (or reuse) the dataset of ``splits``: ``{split: (source ids, target ids, target UTF-8
    bytes)}``. ``vocab_size`` is the target's (the joint one when one tokenizer serves both sides),
    ``meta`` extra manifest fields (``src_lang``, ``tgt_lang``, ``joint``...)."""
    out_root = Path(out_root)
    did = pair_dataset_id(corpus_id, src_tokenizer_id, tgt_tokenizer_id)
    final = out_root / did
    if (final / MANIFEST).exists():
        return PairTokenDataset.open(final, reused=True)
    out_root.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(out_root)
    manifest: dict[str, Any] = {
        **(meta or {}),
        "format": FORMAT,
        "task": TASK,
        "id": did,
        "corpus_id": corpus_id,
        "tokenizer_id": tgt_tokenizer_id,
        "src_tokenizer_id": src_tokenizer_id,
        "joint": src_tokenizer_id == tgt_tokenizer_id,
        "vocab_size": int(vocab_size),
        "src_vocab_size": int(src_vocab_size),
        "pad_id": int(pad_id),
        "bos_id": int(bos_id),
        "eos_id": int(eos_id),
        "eot_id": int(eos_id),
        "splits": {},
    }
    with atomic_dir(final) as tmp:
        for split, (src, tgt, n_bytes) in splits.items():
            if len(src) != len(tgt):
                raise DataError(f"pair dataset split {split!r}: {len(src)} sources but {len(tgt)} targets")
            entry: dict[str, Any] = {"n_pairs": len(src), "n_bytes": int(n_bytes), "files": {}}
            for side, seqs, vocab in (("src", src, src_vocab_size), ("tgt", tgt, vocab_size)):
                flat, off = _flatten(seqs, _dtype(vocab))
                for suffix, arr in (("", flat), (".off", off)):
                    name = f"{split}.{side}{suffix}.npy"
                    np.save(tmp / name, arr, allow_pickle=False)
                    entry["files"][name] = {"bytes": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)}
                entry[f"n_{side}_tokens"] = int(len(flat)) + len(seqs)  # each with its EOS
            manifest["splits"][split] = entry
        atomic_write_json(tmp / MANIFEST, manifest)
    return PairTokenDataset.open(final)


@dataclass
class PairTokenDataset:
    path: Path
    manifest: dict[str, Any]
    reused: bool = False
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str | Path, reused: bool = False) -> PairTokenDataset:
        path = Path(path)
        if not (path / MANIFEST).is_file():
            raise NotFoundError(f"{path}: no pair token dataset here (no {MANIFEST})")
        try:
            manifest = read_json(path / MANIFEST)
        except (OSError, ValueError) as e:
            raise DataError(f"{path / MANIFEST}: unreadable manifest ({e})") from None
        if manifest.get("task") != TASK:
            raise DataError(f"{path}: a language-model token dataset, not a translation (pair) dataset")
        if manifest.get("format") != FORMAT:
            raise DataError(f"{path}: pair dataset format {manifest.get('format')!r}, expected {FORMAT!r}")
        return cls(path, manifest, reused)

    # -- what the manifest says --------------------------------------------------------------
    id = property(lambda self: self.manifest["id"])
    corpus_id = property(lambda self: self.manifest["corpus_id"])
    tokenizer_id = property(lambda self: self.manifest["tokenizer_id"])  # the target's (or joint)
    src_tokenizer_id = property(lambda self: self.manifest["src_tokenizer_id"])
    vocab_size = property(lambda self: int(self.manifest["vocab_size"]))
    src_vocab_size = property(lambda self: int(self.manifest["src_vocab_size"]))
    pad_id = property(lambda self: int(self.manifest["pad_id"]))
    bos_id = property(lambda self: int(self.manifest["bos_id"]))
    eos_id = property(lambda self: int(self.manifest["eos_id"]))
    joint = property(lambda self: bool(self.manifest.get("joint")))

    @property
    def splits(self) -> list[str]:
        return list(self.manifest["splits"])

    def _split(self, split: str) -> dict[str, Any]:
        try:
            return self.manifest["splits"][split]
        except KeyError:
            raise DataError(
                f"{self.path}: pair dataset has no {split!r} split (splits: {', '.join(self.splits)})"
            ) from None

    def n_pairs(self, split: str) -> int:
        return int(self._split(split)["n_pairs"])

    def n_tokens(self, split: str) -> int:
        """Target tokens of the split, one EOS per pair included (what the loss averages over)."""
        return int(self._split(split)["n_tgt_tokens"])

    def n_bytes(self, split: str) -> int:
        return int(self._split(split)["n_bytes"])

    # -- arrays ------------------------------------------------------------------------------
    def _array(self, split: str, name: str) -> np.ndarray:
        key = f"{split}.{name}.npy"
        if key not in self._arrays:
            entry = self._split(split)["files"].get(key)
            file = self.path / key
            if entry is None or not file.is_file():
                raise DataError(f"{file}: missing from the pair dataset (was it deleted?)")
            if file.stat().st_size != entry["bytes"] or sha256_file(file) != entry["sha256"]:
                raise DataError(f"{file}: damaged (size or sha256 differs from the manifest); re-tokenize")
            self._arrays[key] = np.load(file, mmap_mode="r", allow_pickle=False)
        return self._arrays[key]

    def lengths(self, split: str, side: str) -> np.ndarray:
        """Token count of each pair's ``side`` ("src" or "tgt"), without EOS/BOS."""
        return np.diff(self._array(split, f"{side}.off"))

    def sequences(self, split: str, side: str, indices: Iterable[int]) -> list[list[int]]:
        flat, off = self._array(split, side), self._array(split, f"{side}.off")
        return [flat[off[i] : off[i + 1]].astype(np.int64).tolist() for i in indices]

    def pairs(self, split: str, indices: Iterable[int] | None = None) -> tuple[list[list[int]], list[list[int]]]:
        idx = list(range(self.n_pairs(split)) if indices is None else indices)
        return self.sequences(split, "src", idx), self.sequences(split, "tgt", idx)

    def verify(self) -> None:
        for split in self.splits:
            for side in SIDES:
                self._array(split, side)
                self._array(split, f"{side}.off")
