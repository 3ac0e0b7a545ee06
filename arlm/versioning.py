"""Content-addressed versions and atomic writes, shared by every stage.

A stage's output is named by the hash of its config and of its inputs' versions (Marin's habit):
rerunning a stage whose output exists is free, and lineage falls out of the naming. Outputs are
written under a temporary name beside their final place and renamed when complete, so a reader
never sees a partial artifact and a killed process leaves only a ``.tmp-*`` folder that the next
run removes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TMP_MARK = ".tmp-"


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace; dataclasses and paths made plain."""

    def default(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        if isinstance(o, Path):
            return str(o)
        if hasattr(o, "model_dump"):
            return o.model_dump()
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        raise TypeError(f"cannot hash object of type {type(o).__name__}")

    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=default, ensure_ascii=False)


def content_hash(*parts: Any, length: int = 16) -> str:
    """Hex digest of the canonical JSON of ``parts`` (configs, input versions)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(canonical_json(p).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:length]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def clean_stale_tmp(parent: Path, max_age_s: float = 0.0) -> int:
    """Remove ``*.tmp-*`` leftovers of killed writers under ``parent``; returns how many."""
    if not parent.exists():
        return 0
    n = 0
    now = time.time()
    for p in parent.iterdir():
        if TMP_MARK in p.name and now - p.stat().st_mtime >= max_age_s:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            n += 1
    return n


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; rename it into place when the block succeeds.

    On error the temporary folder is removed and ``final`` is untouched. If ``final`` appeared
    meanwhile (a concurrent writer of the same content-addressed version), ours is dropped.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{final.name}{TMP_MARK}{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if final.exists():  # another writer finished the same version first
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{path.name}{TMP_MARK}{uuid.uuid4().hex[:8]}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def git_commit() -> str:
    """The commit of the arlm sources, or "unknown" outside a git checkout (a tag on runs and models)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
