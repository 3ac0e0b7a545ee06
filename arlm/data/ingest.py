"""``ingest``: a corpus SPEC to a versioned, cleaned, split Parquet folder in the lake.

The version id is the hash of the source manifest (every input's path, size and mtime, or
content hash for downloads) and of the output-deciding config, so re-ingesting unchanged input
is a no-op that returns the existing version (``reused=True``), and a changed file gives a new id.
The folder is written under a temporary name with an owner file (pid, host) and renamed when
complete; a later ingest removes temporary folders whose owner is dead, so a killed ingest leaves
nothing visible and the next run starts clean.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Callable

from arlm.data.cleaning import Policy, Tally
from arlm.data.config import IngestConfig
from arlm.data.lake import LAKE_FORMAT, SPLITS, CorpusVersion, LakeWriter, load_corpus_version
from arlm.data.parallel import choose_backend, map_units
from arlm.data.report import build_report
from arlm.data.sources import SourcePlan, plan_source
from arlm.data.splits import Splitter
from arlm.data.units import FileOutcome
from arlm.errors import DataError
from arlm.versioning import TMP_MARK, atomic_dir, atomic_write_json, content_hash

OWNER_FILE = ".ingest-owner.json"
ProgressFn = Callable[[dict], None]


def version_id_for(cfg: IngestConfig, plan: SourcePlan) -> str:
    config = cfg.output_fields()
    config["corpus"] = plan.spec
    return content_hash({"manifest": plan.manifest(), "config": config, "format": LAKE_FORMAT})


def ingest(cfg: IngestConfig, home=None, progress: ProgressFn | None = None) -> CorpusVersion:
    """Ingest ``cfg.corpus`` into ``home``'s lake; returns the (new or reused) version.

    Raises ``ArlmError`` subclasses for bad input, before anything is visible in the lake.
    ``progress`` (or ``cfg.progress``: a line on stderr) gets a dict after each work unit.
    """
    from arlm.home import Home, get_home

    home = home if isinstance(home, Home) else get_home(home)
    home.ensure()
    plan = plan_source(cfg, home.cache / "downloads")
    vid = version_id_for(cfg, plan)
    final = home.lake / vid
    if (final / "corpus.json").exists():
        cv = load_corpus_version(home, vid)
        cv.reused = True
        return cv
    remove_dead_tmp(home.lake)
    if progress is None and cfg.progress:
        progress = StderrProgress()
    with atomic_dir(final) as tmp:
        atomic_write_json(tmp / OWNER_FILE, {"pid": os.getpid(), "host": socket.gethostname(),
                                             "started": time.time()})
        _write_version(cfg, plan, vid, tmp, progress)
        (tmp / OWNER_FILE).unlink()
    cv = load_corpus_version(home, vid)
    return cv


def _write_version(cfg: IngestConfig, plan: SourcePlan, vid: str, tmp: Path,
                   progress: ProgressFn | None) -> dict:
    policy = Policy.from_config(cfg)
    writer = LakeWriter(tmp, source=plan.spec)
    splitter = Splitter(cfg.val_fraction, cfg.test_fraction, cfg.seed)
    tally = Tally()
    seen: set[bytes] = set()
    outcomes: dict[str, FileOutcome] = {}  # by uri: row-group / row-range units share a file
    backend, n_workers = choose_backend(plan.units, cfg.workers, cfg.ray_address)
    started = time.perf_counter()
    done_files = done_bytes = 0
    total_files = sum(len(u.files) for u in plan.units)
    try:
        for result in map_units(plan.units, policy, cfg.workers, cfg.ray_address):
            tally.merge(result.tally)
            for o in result.outcomes:
                if o.uri in outcomes:
                    prev = outcomes[o.uri]
                    prev.n_docs += o.n_docs
                    prev.n_bytes += o.n_bytes
                    prev.reason = "" if prev.n_docs else (prev.reason or o.reason)
                else:
                    outcomes[o.uri] = o
            _route(result, splitter, writer, seen if cfg.dedup else None, tally)
            done_files += len(result.outcomes)
            done_bytes += result.n_input_bytes
            if progress is not None:
                progress({"files_done": done_files, "files_total": total_files,
                          "bytes_done": done_bytes, "bytes_total": plan.n_bytes,
                          "elapsed_s": time.perf_counter() - started, "backend": backend})
        for split, (row, doc_id) in splitter.finish():
            writer.add(split, row, [doc_id])
        files = writer.close()
    except BaseException:
        writer.abort()
        raise
    elapsed = time.perf_counter() - started
    counts = writer.counts
    n_docs = sum(c["n_docs"] for c in counts.values())
    if n_docs == 0:
        raise DataError(f"{plan.spec}: no documents left after cleaning ({_why(tally)})")
    stats = {
        "splits": counts,
        "n_docs": n_docs,
        "n_bytes": sum(c["n_bytes"] for c in counts.values()),
        "n_input_files": len(plan.entries),
        "n_input_bytes": plan.n_bytes,
        "content_sha256": writer.content_sha256(),
        "cleaning": build_report(tally, list(outcomes.values()), tally.counts.get("skipped:duplicate", 0), splitter.moved, policy),
        "ingest_seconds": round(elapsed, 3),
        "backend": backend,
        "workers": n_workers,
    }
    config = cfg.output_fields()
    config["corpus"] = plan.spec
    meta = {
        "id": vid, "spec": plan.spec, "kind": plan.kind, "config": config, "stats": stats,
        "files": files, "python_version": plan.python_version,
        "manifest_hash": content_hash(plan.manifest()), "format": LAKE_FORMAT,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_json(tmp / "sources.json", {
        "entries": [{"uri": e.uri, "size": e.size, "mtime_ns": e.mtime_ns, "sha256": e.sha256}
                    for e in plan.entries],
        "outcomes": [{"uri": o.uri, "n_docs": o.n_docs, "n_bytes": o.n_bytes, "reason": o.reason}
                     for o in outcomes.values()],
    })
    atomic_write_json(tmp / "corpus.json", meta)
    return meta


def _route(result, splitter: Splitter, writer: LakeWriter, seen: set[bytes] | None, tally: Tally) -> None:
    """Dedup the unit's documents, place each in a split, hand each split its rows (by index)."""
    batch = result.batch
    if batch is None or not batch.num_rows:
        return
    rows: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i, doc_id in enumerate(result.doc_ids):
        if seen is not None:
            key = bytes.fromhex(doc_id[:32])
            if key in seen:
                tally.add("skipped:duplicate")
                continue
            seen.add(key)
        split = splitter.place(doc_id)
        if split == "hold":  # a compact copy, so the unit's batch is not kept alive
            evicted = splitter.hold((batch.take([i]), doc_id))
            if evicted is not None:
                writer.add("train", evicted[0], [evicted[1]])
        else:
            rows[split].append(i)
    for split, idx in rows.items():
        if idx:
            writer.add(split, batch.take(idx), [result.doc_ids[i] for i in idx])


def _why(tally: Tally) -> str:
    reasons = {k.split(":", 1)[1]: v for k, v in tally.counts.items() if k.startswith("skipped:")}
    if not reasons:
        return "the input holds no text"
    return "skipped: " + ", ".join(f"{v} {k}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_tmp(lake: Path, orphan_age_s: float = 300.0) -> int:
    """Remove temporary version folders of dead ingests (their owner pid is gone on this host).

    A folder without a readable owner file (killed in the first instant) is removed once it is
    ``orphan_age_s`` old; folders of live ingests, here or on another host, are left alone.
    """
    import shutil

    n = 0
    if not lake.exists():
        return 0
    for p in lake.iterdir():
        if TMP_MARK not in p.name or not p.is_dir():
            continue
        try:
            owner = json.loads((p / OWNER_FILE).read_text())
            dead = owner.get("host") == socket.gethostname() and not _pid_alive(int(owner["pid"]))
        except (OSError, ValueError, KeyError):
            try:
                dead = time.time() - p.stat().st_mtime > orphan_age_s
            except OSError:
                continue
        if dead:
            shutil.rmtree(p, ignore_errors=True)
            n += 1
    return n


class StderrProgress:
    """Progress on stderr: files read, MB read, MB/s.

    On a terminal one line rewrites itself (at most 4 times a second); in a log, a line every
    few seconds.
    """

    def __init__(self, stream=None, min_interval_s: float | None = None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.min_interval_s = min_interval_s if min_interval_s is not None else (0.25 if self.tty else 5.0)
        self._last = time.monotonic()

    def __call__(self, p: dict) -> None:
        now = time.monotonic()
        last = p["files_done"] >= p["files_total"]
        if not last and now - self._last < self.min_interval_s:
            return
        self._last = now
        mb = p["bytes_done"] / 1e6
        rate = mb / max(p["elapsed_s"], 1e-9)
        line = (f"ingest: {p['files_done']:,}/{p['files_total']:,} files, "
                f"{mb:,.1f}/{p['bytes_total'] / 1e6:,.1f} MB, {rate:,.1f} MB/s ({p['backend']})")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if last else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


__all__ = ["ingest", "remove_dead_tmp", "version_id_for", "SPLITS", "StderrProgress"]
