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
    """Assigns documents to splits.

    ``place(doc_id)`` answers a split name, or ``"hold"``: then the caller passes the document's
    payload to ``hold(payload)``, which may hand back an earlier held payload that now goes to
    train. ``finish()`` returns the held payloads with their final split.
    """

    def __init__(self, val_fraction: float, test_fraction: float, seed: int):
        self.val = val_fraction
        self.test = test_fraction
        self.seed = seed
        self.needed = [s for s, f in (("val", val_fraction), ("test", test_fraction)) if f > 0]
        self.counts = {"train": 0, "val": 0, "test": 0}
        self._held: list[tuple[float, int, object]] = []  # sorted by (u, order); len <= len(needed)
        self._order = 0
        self._pending: tuple[float, int] | None = None
        self.moved = 0

    def assign(self, u: float) -> str:
        if u < self.val:
            return "val"
        if u < self.val + self.test:
            return "test"
        return "train"

    def place(self, doc_id: str) -> str:
        u = hash_unit(doc_id, self.seed)
        split = self.assign(u)
        if split == "train" and self.needed:
            self._order += 1
            key = (u, self._order)
            if len(self._held) < len(self.needed) or key < self._held[-1][:2]:
                self._pending = key
                return "hold"
        self.counts[split] += 1
        return split

    def hold(self, payload: object) -> object | None:
        """Keep the document just placed as ``"hold"``; returns an evicted payload (train) or None."""
        assert self._pending is not None
        u, order = self._pending
        self._pending = None
        bisect.insort(self._held, (u, order, payload), key=lambda e: e[:2])
        if len(self._held) > len(self.needed):
            self.counts["train"] += 1
            return self._held.pop()[2]
        return None

    def finish(self) -> list[tuple[str, object]]:
        """The held payloads: into empty held-out splits (keeping >= 1 train doc), else train."""
        out: list[tuple[str, object]] = []
        held = list(self._held)
        self._held = []
        for split in self.needed:
            if self.counts[split] == 0 and held and self.counts["train"] + len(held) > 1:
                self.counts[split] += 1
                self.moved += 1
                out.append((split, held.pop(0)[2]))
        for _, _, payload in held:
            self.counts["train"] += 1
            out.append(("train", payload))
        return out
