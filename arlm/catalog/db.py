"""Short-lived DuckDB connections with retry on the single-writer file lock, and migrations.

DuckDB lets one process hold a database file read-write (and no reader may share the file with
it), so every operation opens a connection, does its work in one transaction and closes: two
processes (two ingests, a flow and the CLI) then take turns instead of failing. A lock conflict
is retried with exponential backoff up to ``timeout_s``.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from arlm.data_catalog import shipped_dir
from arlm.errors import ArlmError

# data_catalog/migrations of the repository, installed as package data of ``arlm.data_catalog``
MIGRATIONS_DIR = shipped_dir("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_([\w-]+)\.sql$")


class CatalogBusyError(ArlmError):
    """The catalog stayed locked by another process longer than the timeout."""


def _is_lock_error(exc: Exception) -> bool:
    msg = str(exc).lower()
    return "lock" in msg and ("could not set lock" in msg or "conflicting lock" in msg)


@contextmanager
def connect(path: Path, read_only: bool = False, timeout_s: float = 120.0) -> Iterator:
    """A DuckDB connection to ``path``, retried while another process holds the lock."""
    import duckdb

    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise ArlmError(f"{path}: cannot open the catalog ({exc})") from None
            if time.monotonic() > deadline:
                raise CatalogBusyError(
                    f"{path}: catalog locked by another process for {timeout_s:.0f} s ({exc})"
                ) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
    try:
        yield con
    finally:
        con.close()


def migrations(folder: Path = MIGRATIONS_DIR) -> list[tuple[int, str, str]]:
    """(version, name, sql) of every ``NNNN_name.sql`` in ``folder``, in order."""
    out = []
    for p in sorted(folder.glob("*.sql")):
        m = _MIGRATION_NAME.match(p.name)
        if m:
            out.append((int(m.group(1)), m.group(2), p.read_text(encoding="utf-8")))
    versions = [v for v, _, _ in out]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"{folder}: migrations must be numbered 0001, 0002, ... without gaps")
    return out


def apply_migrations(con, folder: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply the migrations not yet recorded in ``schema_migrations``, each in a transaction."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, sql in migrations(folder):
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def schema_version(con) -> int:
    try:
        return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    except Exception:
        return 0
