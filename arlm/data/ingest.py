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
from collections.abc import Callable
from pathlib import Path

from arlm.data.cleaning import Policy, Tally
from arlm.data.config import IngestConfig
from arlm.data.lake import LAKE_FORMAT, SPLITS, CorpusVersion, load_corpus_version
from arlm.data.parallel import choose_backend, map_units
from arlm.data.parts import PartSink, drop_docs
from arlm.data.report import build_report
from arlm.data.sources import NAMED_CORPORA_DIR, SourcePlan, plan_source
from arlm.data.splits import HeldOutGuard
from arlm.data.units import FileOutcome, Job
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
    plan = plan_source(cfg, home.cache / "downloads", (home.root / "corpora", NAMED_CORPORA_DIR))
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
        atomic_write_json(tmp / OWNER_FILE, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        _write_version(cfg, plan, vid, tmp, progress)
        (tmp / OWNER_FILE).unlink()
    cv = load_corpus_version(home, vid)
    return cv


def _write_version(cfg: IngestConfig, plan: SourcePlan, vid: str, tmp: Path, progress: ProgressFn | None) -> dict:
    policy = Policy.from_config(cfg)
    job = Job(
        policy=policy, source=plan.spec, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction, dedup=cfg.dedup
    )
    sink = PartSink(tmp, SPLITS)
    guard = HeldOutGuard(cfg.val_fraction, cfg.test_fraction)
    counts = dict.fromkeys(SPLITS, 0)
    tally = Tally()
    seen: set[bytes] = set()
    outcomes: dict[str, FileOutcome] = {}  # by uri: row-group / row-range units share a file
    backend, n_workers = choose_backend(plan.units, cfg.workers, cfg.ray_address, cfg.executor)
    started = time.perf_counter()
    done_files = done_bytes = 0
    total_files = sum(len(u.files) for u in plan.units)
    results = map_units(plan.units, job, cfg.workers, cfg.ray_address, cfg.executor)
    for index, result in enumerate(results):
        tally.merge(result.tally)
        _merge_outcomes(outcomes, result.outcomes)
        _place_parts(index, result, sink, guard, counts, seen if cfg.dedup else None, tally)
        done_files += len(result.outcomes)
        done_bytes += result.n_input_bytes
        if progress is not None:
            progress(
                {
                    "files_done": done_files,
                    "files_total": total_files,
                    "bytes_done": done_bytes,
                    "bytes_total": plan.n_bytes,
                    "elapsed_s": time.perf_counter() - started,
                    "backend": backend,
                }
            )
    if not sum(counts.values()):
        raise DataError(f"{plan.spec}: no documents left after cleaning ({_why(tally)})")
    moves = guard.moves(counts)
    for split, _, _ in moves:
        counts["train"] -= 1
        counts[split] += 1
    check_splits(plan.spec, counts, guard.needed, tally.counts.get("segmented-documents", 0) > 0)
    for split, unit_index, doc_id in moves:
        sink.move(doc_id, unit_index, "train", split)
    split_counts, content = sink.summary()
    n_kept = sum(c["n_docs"] for c in split_counts.values())
    n_dupes = tally.counts.get("skipped:duplicate", 0)
    if n_kept != tally.counts.get("emitted-documents", 0) - n_dupes:  # an ingest bug, not bad input
        raise RuntimeError(
            f"ingest counts disagree: {tally.counts.get('emitted-documents', 0)} documents "
            f"emitted - {n_dupes} duplicates != {n_kept} in the splits"
        )
    elapsed = time.perf_counter() - started
    stats = {
        "splits": split_counts,
        "n_docs": sum(c["n_docs"] for c in split_counts.values()),
        "n_bytes": sum(c["n_bytes"] for c in split_counts.values()),
        "n_input_files": len(plan.entries),
        "n_input_bytes": plan.n_bytes,
        "content_sha256": content,
        "cleaning": build_report(tally, list(outcomes.values()), n_dupes, len(moves), policy),
        "ingest_seconds": round(elapsed, 3),
        "backend": backend,
        "workers": n_workers,
    }
    config = cfg.output_fields()
    config["corpus"] = plan.spec
    meta = {
        "id": vid,
        "spec": plan.spec,
        "kind": plan.kind,
        "config": config,
        "stats": stats,
        "files": sink.listing(),
        "python_version": plan.python_version,
        "manifest_hash": content_hash(plan.manifest()),
        "format": LAKE_FORMAT,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_json(
        tmp / "sources.json",
        {
            "entries": [
                {"uri": e.uri, "size": e.size, "mtime_ns": e.mtime_ns, "sha256": e.sha256} for e in plan.entries
            ],
            "outcomes": [
                {
                    "uri": o.uri,
                    "n_docs": o.n_docs,
                    "n_bytes": o.n_bytes,
                    "reason": o.reason,
                    "encoding": o.encoding,
                    "replaced": o.replaced,
                }
                for o in outcomes.values()
            ],
        },
    )
    atomic_write_json(tmp / "corpus.json", meta)
    return meta


def _merge_outcomes(outcomes: dict[str, FileOutcome], new: list[FileOutcome]) -> None:
    for o in new:
        prev = outcomes.get(o.uri)
        if prev is None:
            outcomes[o.uri] = o
            continue
        prev.n_docs += o.n_docs
        prev.n_bytes += o.n_bytes
        prev.reason = "" if prev.n_docs else (prev.reason or o.reason)
        prev.replaced = prev.replaced or o.replaced
        prev.encoding = prev.encoding or o.encoding


def check_splits(spec: str, counts: dict[str, int], needed: list[str], segmented: bool = False) -> None:
    """Refuse a corpus whose train split, or a held-out split with a non-zero fraction, would be
    empty: training or evaluation would fail on it much later, after the costly steps."""
    empty = [s for s in ["train", *needed] if counts.get(s, 0) == 0]
    if not empty:
        return
    n = sum(counts.values())
    fixes = ["more text"]
    if segmented:
        fixes.append("a smaller --segment-chars (long documents cut into more pieces)")
    held = [s for s in empty if s != "train"]
    if "train" in empty:
        fixes.append("smaller --val-fraction/--test-fraction")
    if held:
        fixes.append(
            " ".join(f"--{s}-fraction 0" for s in held)
            + (f" (no {held[0]} split)" if len(held) == 1 else " (no such splits)")
        )
    raise DataError(
        f"{spec}: only {n} document{'s' if n != 1 else ''} after cleaning (train {counts.get('train', 0)}, "
        f"val {counts.get('val', 0)}, test {counts.get('test', 0)}): the {' and '.join(empty)} "
        f"split{'s' if len(empty) > 1 else ''} would be empty; give {', '.join(fixes[:-1])} or {fixes[-1]}"
    )


def _place_parts(
    index: int,
    result,
    sink: PartSink,
    guard: HeldOutGuard,
    counts: dict[str, int],
    seen: set[bytes] | None,
    tally: Tally,
) -> None:
    """Write a unit's parts, minus documents already written by an earlier unit."""
    dropped: set[str] = set()
    for doc_id, u, split in result.kept:
        if seen is not None:
            key = bytes.fromhex(doc_id[:32])
            if key in seen:
                dropped.add(doc_id)
                tally.add("skipped:duplicate")
                continue
            seen.add(key)
        counts[split] += 1
        if split == "train":
            guard.observe(u, index, doc_id)
    for split, data in result.parts.items():
        if dropped:
            data = drop_docs(data, dropped)
        if data is not None:
            sink.write(split, index, data)


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
        line = (
            f"ingest: {p['files_done']:,}/{p['files_total']:,} files, "
            f"{mb:,.1f}/{p['bytes_total'] / 1e6:,.1f} MB, {rate:,.1f} MB/s ({p['backend']})"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if last else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


__all__ = ["ingest", "remove_dead_tmp", "version_id_for", "SPLITS", "StderrProgress"]
