"""Deterministic train/val/test assignment by hash, with non-empty held-out splits.

A document's split depends only on its content hash and the seed, so it never moves between
versions that share it. Pure hashing can leave a small corpus with no validation or test document
(12 documents at 5 %: more often than not), which breaks evaluation downstream; so the splitter
withholds the few train documents closest to each held-out interval and, at the end, moves one
into each held-out split that stayed empty. The rule only looks at hashes, so it is deterministic
too, and it needs no second pass over the data.
"""

from __future__ import annotations

import bisect
import hashlib


def hash_unit(doc_id: str, seed: int) -> float:
    """A uniform number in [0, 1) from the document id and the seed."""
    h = hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


class Splitter:
    """Assigns documents to splits; ``push`` returns those ready to write now, ``finish`` the rest."""

    def __init__(self, val_fraction: float, test_fraction: float, seed: int):
        self.val = val_fraction
        self.test = test_fraction
        self.seed = seed
        self.needed = [s for s, f in (("val", val_fraction), ("test", test_fraction)) if f > 0]
        self.counts = {"train": 0, "val": 0, "test": 0}
        self._held: list[tuple[float, int, tuple]] = []  # (u, order, doc), sorted, len <= len(needed)
        self._order = 0
        self.moved = 0

    def assign(self, u: float) -> str:
        if u < self.val:
            return "val"
        if u < self.val + self.test:
            return "test"
        return "train"

    def push(self, doc_id: str, doc: tuple) -> list[tuple[str, tuple]]:
        """Decide a document; returns [(split, doc)] to write now (0, 1 or 2 entries)."""
        u = hash_unit(doc_id, self.seed)
        split = self.assign(u)
        if split != "train" or not self.needed:
            self.counts[split] += 1
            return [(split, doc)]
        self._order += 1
        entry = (u, self._order, doc)
        if len(self._held) < len(self.needed):
            bisect.insort(self._held, entry)
            return []
        if entry < self._held[-1]:
            evicted = self._held.pop()
            bisect.insort(self._held, entry)
            self.counts["train"] += 1
            return [("train", evicted[2])]
        self.counts["train"] += 1
        return [("train", doc)]

    def finish(self) -> list[tuple[str, tuple]]:
        """The withheld documents: into empty held-out splits (keeping >= 1 train doc), else train."""
        out: list[tuple[str, tuple]] = []
        held = list(self._held)
        self._held = []
        for split in self.needed:
            if self.counts[split] == 0 and held and self.counts["train"] + len(held) > 1:
                _, _, doc = held.pop(0)
                self.counts[split] += 1
                self.moved += 1
                out.append((split, doc))
        for _, _, doc in held:
            self.counts["train"] += 1
            out.append(("train", doc))
        return out
