"""Small corpus versions in the lake's schema (zstd Parquet with a ``text`` column), written here.

``arlm.tokenizers`` accepts any object with ``.id`` and ``.files``; these fixtures build one without
``arlm.data`` so the tokenizer tests stand alone.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest

WORDS = (
    "the model reads text and learns to predict the next token from the ones before it so that it "
    "can write new text one token at a time def return class import self None True False for in if "
    "else while lambda yield naïve café 東京 данные λόγος 🙂"
).split()


@dataclass
class FakeCorpus:
    id: str
    path: Path
    files: dict[str, list[Path]]
    stats: dict = field(default_factory=dict)


def make_docs(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        lines = []
        for _ in range(rng.randint(1, 12)):
            indent = "    " * rng.randint(0, 2)
            lines.append(
                indent
                + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 14)))
                + rng.choice([".", ":", "()", ""])
            )
        docs.append("\n".join(lines) + "\n")
    return docs


def write_corpus(root: Path, splits: dict[str, list[str]], files_per_split: int = 2) -> FakeCorpus:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Path]] = {}
    for split, docs in splits.items():
        files[split] = []
        per = max(1, -(-len(docs) // files_per_split))
        for k in range(0, max(len(docs), 1), per):
            chunk = docs[k : k + per]
            table = pa.table(
                {
                    "doc_id": [hashlib.sha256(t.encode()).hexdigest() for t in chunk],
                    "source": ["test"] * len(chunk),
                    "uri": [f"mem://{split}/{k + i}" for i in range(len(chunk))],
                    "text": chunk,
                    "n_bytes": [len(t.encode()) for t in chunk],
                    "split": [split] * len(chunk),
                }
            )
            p = root / f"part-{split}-{k:05d}.parquet"
            pq.write_table(table, p, compression="zstd", row_group_size=7)
            files[split].append(p)
    digest = hashlib.sha256("\x00".join(f"{s}:{t}" for s, d in splits.items() for t in d).encode()).hexdigest()[:16]
    return FakeCorpus(
        id=f"corpus-{digest}", path=root, files=files, stats={s: {"n_docs": len(d)} for s, d in splits.items()}
    )


@pytest.fixture()
def corpus(tmp_path: Path) -> FakeCorpus:
    return write_corpus(
        tmp_path / "lake" / "c1", {"train": make_docs(120, 1), "val": make_docs(20, 2), "test": make_docs(20, 3)}
    )


@pytest.fixture(scope="module")
def module_corpus(tmp_path_factory: pytest.TempPathFactory) -> FakeCorpus:
    root = tmp_path_factory.mktemp("lake")
    return write_corpus(root / "c1", {"train": make_docs(200, 1), "val": make_docs(20, 2)})
