"""Token datasets: each split of a corpus as flat, memory-mappable token shards plus a manifest.

Layout of ``out_root/<dataset_id>/`` (docs/architecture.md, "On-disk formats"): per split,
``<split>-<NNNNN>.bin`` (token ids, uint16 when the vocabulary fits, else uint32; every document
is followed by one ``<|endoftext|>``; documents never straddle shards), ``<split>-<NNNNN>.idx.npy``
(int64 start offset of each document inside its shard), and ``manifest.json`` with counts and a
sha256 per shard. ``n_bytes`` is the UTF-8 size of the split's text (the bits-per-byte denominator).

The id hashes the corpus id, the tokenizer id and the shard size, so the same inputs give the
same folder name and byte-identical shards, and a second ``tokenize`` call reuses the folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from arlm.errors import DataError, NotFoundError
from arlm.tokenizers.corpus_io import CorpusLike, SplitTexts, split_names
from arlm.versioning import atomic_dir, atomic_write_json, clean_stale_tmp, content_hash, read_json, sha256_file

if TYPE_CHECKING:  # reading and writing token datasets needs no tokenizer config (nor pydantic)
    from arlm.tokenizers.artifact import TokenizerArtifact
    from arlm.tokenizers.parallel import Backend

MANIFEST = "manifest.json"
FORMAT = 1
DEFAULT_SHARD_TOKENS = 1 << 27  # 256 MiB of uint16: large enough to be few, small enough to copy


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 65535 else np.dtype(np.uint32)


def token_dataset_id(corpus_id: str, tokenizer_id: str, shard_tokens: int) -> str:
    return content_hash("token-dataset", FORMAT, corpus_id, tokenizer_id, shard_tokens)


class _ShardWriter:
    """Appends encoded documents of one split into shards, hashing as it writes."""

    def __init__(self, folder: Path, split: str, dtype: np.dtype, shard_tokens: int) -> None:
        self.folder, self.split, self.dtype, self.shard_tokens = folder, split, dtype, shard_tokens
        self.shards: list[dict[str, Any]] = []
        self._file: BinaryIO | None = None
        self._hash: Any = None
        self._starts: list[np.ndarray] = []
        self._n = 0

    def _open(self) -> None:
        name = f"{self.split}-{len(self.shards):05d}.bin"
        self._file = open(self.folder / name, "wb")
        self._hash = hashlib.sha256()
        self._starts, self._n = [], 0

    def add(self, tokens: np.ndarray, doc_lengths: np.ndarray) -> None:
        """Write whole documents; a shard closes at the first document boundary past ``shard_tokens``."""
        ends = np.cumsum(doc_lengths)
        begin_doc = 0
        while begin_doc < len(doc_lengths):
            if self._file is None:
                self._open()
            base = ends[begin_doc - 1] if begin_doc else 0
            room = self.shard_tokens - self._n
            # documents that start before the shard is full go into this shard: up to the first
            # one whose end reaches the limit, included
            rel_ends = ends[begin_doc:] - base
            last = begin_doc + min(int(np.searchsorted(rel_ends, room, side="left")), len(rel_ends) - 1)
            stop = int(ends[last])
            chunk = tokens[base:stop].astype(self.dtype, copy=False)
            starts = np.concatenate(([0], ends[begin_doc:last])) - base + self._n
            self._starts.append(starts.astype(np.int64))
            data = chunk.tobytes()
            self._file.write(data)
            self._hash.update(data)
            self._n += len(chunk)
            begin_doc = last + 1
            if self._n >= self.shard_tokens:
                self._close()

    def _close(self) -> None:
        if self._file is None:
            return
        self._file.close()
        file = Path(self._file.name).name
        idx = file[: -len(".bin")] + ".idx.npy"
        starts = np.concatenate(self._starts) if self._starts else np.zeros(0, dtype=np.int64)
        np.save(self.folder / idx, starts)
        self.shards.append(
            {
                "file": file,
                "index": idx,
                "n_tokens": int(self._n),
                "n_docs": int(len(starts)),
                "sha256": self._hash.hexdigest(),
            }
        )
        self._file = None

    def finish(self) -> list[dict[str, Any]]:
        if self._file is not None and self._n == 0:  # never leave an empty shard (cannot be memory-mapped)
            self._file.close()
            Path(self._file.name).unlink()
            self._file = None
        self._close()
        return self.shards


def tokenize(
    corpus_version: CorpusLike,
    tokenizer_artifact: TokenizerArtifact,
    out_root: Path,
    *,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    backend: Backend = "auto",
    workers: int | None = None,
) -> TokenDataset:
    """Encode every split of ``corpus_version`` into ``out_root/<id>/``; reuse the folder if it exists."""
    from arlm.tokenizers.artifact import STALE_TMP_S
    from arlm.tokenizers.parallel import encode_parallel

    out_root = Path(out_root)
    did = token_dataset_id(corpus_version.id, tokenizer_artifact.id, shard_tokens)
    final = out_root / did
    if (final / MANIFEST).exists():
        return TokenDataset.open(final, reused=True)
    clean_stale_tmp(out_root, max_age_s=STALE_TMP_S)
    tok = tokenizer_artifact.load()
    dtype = dtype_for_vocab(tok.vocab_size)
    splits: dict[str, Any] = {}
    with atomic_dir(final) as tmp:
        for split in split_names(corpus_version):
            writer = _ShardWriter(tmp, split, dtype, shard_tokens)
            texts = SplitTexts(corpus_version, split)
            for tokens, lengths in encode_parallel(tok, texts, append_eot=True, backend=backend, workers=workers):
                writer.add(tokens, lengths)
            shards = writer.finish()
            n_tokens = sum(s["n_tokens"] for s in shards)
            n_bytes, n_docs = texts.n_bytes, texts.n_docs
            splits[split] = {
                "n_tokens": n_tokens,
                "n_bytes": n_bytes,
                "n_docs": n_docs,
                "tokens_per_byte": n_tokens / n_bytes if n_bytes else 0.0,  # end-of-text included
                "shards": shards,
            }
        manifest = {
            "format": FORMAT,
            "id": did,
            "tokenizer_id": tokenizer_artifact.id,
            "corpus_id": corpus_version.id,
            "tokenizer_kind": tok.kind,
            "dtype": dtype.name,
            "vocab_size": tok.vocab_size,
            "eot_id": tok.eot_id,
            "pad_id": tok.pad_id,
            "shard_tokens": shard_tokens,
            "layout": "each document is followed by one eot token; idx.npy holds int64 document starts per shard",
            "splits": splits,
        }
        atomic_write_json(tmp / MANIFEST, manifest)
    return TokenDataset.open(final, reused=False)


def token_dataset_from_arrays(
    path: str | Path,
    splits: dict[str, np.ndarray],
    *,
    vocab_size: int,
    eot_id: int,
    pad_id: int,
    n_bytes: dict[str, int] | None = None,
    source: str = "arrays",
) -> TokenDataset:
    """A token dataset of already-encoded splits (one document each), in the same on-disk format as
    ``tokenize`` writes and atomically: for benchmarks and callers that tokenize by other means.
    ``n_bytes`` gives each split's UTF-8 size (the bits-per-byte denominator; default: one byte per
    token, right for a byte or character-level vocabulary of ASCII text)."""
    final = Path(path)
    dtype = dtype_for_vocab(vocab_size)
    entries: dict[str, Any] = {}
    with atomic_dir(final) as tmp:
        for split, tokens in splits.items():
            tokens = np.asarray(tokens)
            if tokens.size and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
                raise DataError(f"split {split!r}: token ids must lie in [0, {vocab_size})")
            writer = _ShardWriter(tmp, split, dtype, max(len(tokens), 1))
            writer.add(tokens, np.array([len(tokens)], dtype=np.int64))
            shards = writer.finish()
            nb = int((n_bytes or {}).get(split, len(tokens)))
            entries[split] = {
                "n_tokens": int(len(tokens)),
                "n_bytes": nb,
                "n_docs": 1,
                "tokens_per_byte": len(tokens) / nb if nb else 0.0,
                "shards": shards,
            }
        manifest = {
            "format": FORMAT,
            "id": final.name,
            "tokenizer_id": source,
            "corpus_id": source,
            "tokenizer_kind": source,
            "dtype": dtype.name,
            "vocab_size": int(vocab_size),
            "eot_id": int(eot_id),
            "pad_id": int(pad_id),
            "shard_tokens": 0,
            "layout": "one document per split",
            "splits": entries,
        }
        atomic_write_json(tmp / MANIFEST, manifest)
    return TokenDataset.open(final)


def random_token_dataset(
    path: str | Path, vocab_size: int, n_train: int, n_val: int | None = None, seed: int = 0
) -> TokenDataset:
    """Uniformly random tokens in the token-dataset format, for throughput benchmarks (what a step
    costs does not depend on the ids); reused when ``path`` already holds one."""
    final = Path(path)
    if (final / MANIFEST).exists():
        return TokenDataset.open(final)
    rng = np.random.default_rng(seed)
    n_val = n_val if n_val is not None else max(n_train // 20, 4096)
    return token_dataset_from_arrays(
        final,
        {"train": rng.integers(0, vocab_size, n_train), "val": rng.integers(0, vocab_size, n_val)},
        vocab_size=vocab_size,
        eot_id=0,
        pad_id=min(1, vocab_size - 1),
        source="random",
    )


@dataclass
class TokenDataset:
    """A token dataset folder, read through memory maps (the training loader's view)."""

    path: Path
    manifest: dict[str, Any] = field(repr=False)
    reused: bool = False

    def __post_init__(self) -> None:
        self._verified: set[str] = set()

    @classmethod
    def open(cls, path: str | Path, reused: bool = False) -> TokenDataset:
        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.exists():
            raise NotFoundError(f"{path}: not a token dataset (no {MANIFEST}; run `arlm tokenize`)")
        try:
            manifest = read_json(mpath)
        except ValueError as e:
            raise DataError(f"{mpath}: not valid JSON ({e})") from None
        return cls(path=path, manifest=manifest, reused=reused)

    # -- manifest views -------------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self.manifest["id"])

    @property
    def tokenizer_id(self) -> str:
        return str(self.manifest["tokenizer_id"])

    @property
    def corpus_id(self) -> str:
        return str(self.manifest["corpus_id"])

    @property
    def vocab_size(self) -> int:
        return int(self.manifest["vocab_size"])

    @property
    def eot_id(self) -> int:
        return int(self.manifest["eot_id"])

    @property
    def pad_id(self) -> int:
        return int(self.manifest["pad_id"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.manifest["dtype"])

    @property
    def splits(self) -> list[str]:
        return list(self.manifest["splits"])

    def _split(self, split: str) -> dict[str, Any]:
        try:
            return self.manifest["splits"][split]
        except KeyError:
            raise NotFoundError(
                f"{self.path}: token dataset has no split '{split}' (splits: {', '.join(self.splits)})"
            ) from None

    def n_tokens(self, split: str) -> int:
        return int(self._split(split)["n_tokens"])

    def n_bytes(self, split: str) -> int:
        return int(self._split(split)["n_bytes"])

    def n_docs(self, split: str) -> int:
        return int(self._split(split)["n_docs"])

    # -- data -----------------------------------------------------------------------------
    def _check_shard(self, entry: dict[str, Any], checksum: bool) -> Path:
        p = self.path / entry["file"]
        if not p.exists():
            raise DataError(f"{p}: token shard is missing; delete {self.path} and run `arlm tokenize` again")
        expected = int(entry["n_tokens"]) * self.dtype.itemsize
        size = p.stat().st_size
        if size != expected:
            raise DataError(
                f"{p}: token shard is corrupt ({size} bytes, manifest says {expected}); "
                f"delete {self.path} and run `arlm tokenize` again"
            )
        if checksum:
            digest = sha256_file(p)
            if digest != entry["sha256"]:
                raise DataError(
                    f"{p}: token shard is corrupt (sha256 {digest[:12]}..., manifest says "
                    f"{entry['sha256'][:12]}...); delete {self.path} and run `arlm tokenize` again"
                )
        return p

    def verify(self, splits: list[str] | None = None) -> None:
        """Check every shard's size and sha256 against the manifest; ``DataError`` names the bad file."""
        for split in splits or self.splits:
            for entry in self._split(split)["shards"]:
                self._check_shard(entry, checksum=True)
            self._verified.add(split)

    def shards(self, split: str, verify: bool = True) -> list[np.memmap]:
        """Read-only memory maps of the split's shards; checksums are verified on first access."""
        if verify and split not in self._verified:
            self.verify([split])
        out = []
        for entry in self._split(split)["shards"]:
            p = self._check_shard(entry, checksum=False)
            out.append(np.memmap(p, dtype=self.dtype, mode="r", shape=(int(entry["n_tokens"]),)))
        return out

    def doc_starts(self, split: str) -> list[np.ndarray]:
        """Per shard, the int64 start offset of each document."""
        return [np.load(self.path / e["index"]) for e in self._split(split)["shards"]]

    def tokens(self, split: str, verify: bool = True) -> np.ndarray:
        """All tokens of a split: the memory map itself when there is one shard, else a concatenated copy."""
        shards = self.shards(split, verify=verify)
        if len(shards) == 1:
            return shards[0]
        if not shards:
            return np.zeros(0, dtype=self.dtype)
        return np.concatenate(shards)
