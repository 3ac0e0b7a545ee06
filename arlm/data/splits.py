"""Deterministic train/val/test assignment by hash, with non-empty held-out splits.

A document's split depends only on its content hash and the seed (workers compute it), so it
never moves between versions that share it. Pure hashing can leave a small corpus with no
validation or test document (12 documents at 5 %: more often than not), which breaks evaluation
downstream; so ``HeldOutGuard`` remembers the train documents with the smallest hashes and, at
the end, one of them moves into each held-out split that stayed empty. The rule only looks at
hashes, so it is deterministic too, and needs no second pass over the data.
"""

from __future__ import annotations

import bisect
import hashlib


def hash_unit(doc_id: str, seed: int) -> float:
    """A uniform number in [0, 1) from the document id and the seed."""
    h = hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def assign_split(u: float, val_fraction: float, test_fraction: float) -> str:
    if u < val_fraction:
        return "val"
    if u < val_fraction + test_fraction:
        return "test"
    return "train"


class HeldOutGuard:
    """Tracks the k train documents with the smallest split hash (k = held-out splits in use)."""

    def __init__(self, val_fraction: float, test_fraction: float):
        self.needed = [s for s, f in (("val", val_fraction), ("test", test_fraction)) if f > 0]
        self._best: list[tuple[float, int, str]] = []  # (u, unit index, doc_id), sorted

    def observe(self, u: float, unit_index: int, doc_id: str) -> None:
        k = len(self.needed)
        if k and (len(self._best) < k or (u, unit_index, doc_id) < self._best[-1]):
            bisect.insort(self._best, (u, unit_index, doc_id))
            del self._best[k:]

    def moves(self, counts: dict[str, int]) -> list[tuple[str, int, str]]:
        """[(held-out split, unit index, doc_id)] to fill empty held-out splits, keeping >= 1 train doc."""
        out = []
        best = list(self._best)
        train = counts.get("train", 0)
        for split in self.needed:
            if counts.get(split, 0) == 0 and best and train > 1:
                _, unit_index, doc_id = best.pop(0)
                out.append((split, unit_index, doc_id))
                train -= 1
        return out
