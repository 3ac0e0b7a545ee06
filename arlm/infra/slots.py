"""The training slot: a Prefect global concurrency limit held through a lease that cannot outlive
its holder.

Why not plain ``prefect.concurrency.sync.concurrency``: its lease lasts 300 s, the temporary
(ephemeral) Prefect server keeps leases in its own memory and does not run the service that revokes
expired ones, so one ``kill -9`` left the slot taken in the database for ever. Here:

- the lease lasts :data:`LEASE_SECONDS` (60 s, the server's minimum) and a thread renews it every
  :data:`RENEW_SECONDS` while the holder lives;
- the CLI sets ``PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE`` to Prefect's file storage, so leases
  survive the server that granted them and every temporary server of this ``PREFECT_HOME`` sees
  the same ones;
- each holder writes a record (pid, process start time, host, command, since) beside them, so a
  waiter can say who holds the slot, and a holder that died on this host is reclaimed at once;
- a waiter (and ``arlm doctor``) revokes expired leases itself, and, on the temporary server, resets
  slots that no live lease accounts for (left by an older arlm, or by a server that kept leases in
  memory). A long-running server revokes expired leases by itself (its repossessor service).

Prefect is imported lazily; nothing else in ``arlm`` needs it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from arlm.infra import procs

TRAINING_SLOT = "arlm-training"
LEASE_STORAGE_ENV = "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"
FILE_LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"
LEASE_SECONDS = 60.0  # the Prefect API refuses less
RENEW_SECONDS = 15.0
REPORT_EVERY_SECONDS = 30.0

Say = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _settings():
    from prefect.settings.context import get_current_settings

    return get_current_settings()


def holders_dir() -> Path:
    """Where holder records live: beside Prefect's own state (``PREFECT_HOME``)."""
    return Path(_settings().home) / "arlm-slot-holders"


def on_temporary_server() -> bool:
    """True when no ``PREFECT_API_URL`` is set: each process runs a temporary server on the
    ``PREFECT_HOME`` database, with this process's settings (so its lease storage is ours)."""
    return not _settings().api.url


def lease_dir() -> Path | None:
    """The folder of Prefect's file lease storage, when leases are visible from here."""
    s = _settings()
    if s.server.concurrency.lease_storage != FILE_LEASE_STORAGE or not on_temporary_server():
        return None
    return Path(s.home) / "concurrency_leases"


@dataclass
class Holder:
    """What one holder wrote when it took a slot."""

    lease_id: str
    limit: str
    pid: int
    start_time: int
    host: str
    since: float
    command: str = ""
    label: str = ""
    path: Path | None = None

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname()

    @property
    def alive(self) -> bool:
        """Dead only when known dead: a holder on another host is taken as alive (its lease
        expires by itself if it is not)."""
        return not self.local or procs.is_alive(self.pid, self.start_time)

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.since).strftime("%Y-%m-%d %H:%M:%S")
        mins = (time.time() - self.since) / 60
        what = f"pid {self.pid}" + ("" if self.local else f" on {self.host}")
        extra = f", {self.label}" if self.label else ""
        cmd = f" ({self.command[:80]}{extra})" if self.command else (f" ({self.label})" if self.label else "")
        return f"{what}{cmd} since {since} ({mins:.0f} min ago)"


def read_holders(limit: str | None = None) -> list[Holder]:
    d = holders_dir()
    out: list[Holder] = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            data = json.loads(p.read_text())
            h = Holder(
                **{k: data[k] for k in ("lease_id", "limit", "pid", "start_time", "host", "since")},
                command=data.get("command", ""),
                label=data.get("label", ""),
                path=p,
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if limit is None or h.limit == limit:
            out.append(h)
    return out


def _write_holder(lease_id: str, limit: str, label: str) -> Path:
    d = holders_dir()
    d.mkdir(parents=True, exist_ok=True)
    rec = {
        "lease_id": lease_id,
        "limit": limit,
        "pid": os.getpid(),
        "start_time": procs.start_time_of(os.getpid()) or 0,
        "host": socket.gethostname(),
        "since": time.time(),
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300],
        "label": label,
    }
    path = d / f"{lease_id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec))
    os.replace(tmp, path)
    return path


@dataclass
class Lease:
    """A lease of Prefect's file storage, as read from its file."""

    id: str
    resource_ids: list[str]
    slots: int
    expiration: datetime
    created_at: datetime

    @property
    def expired(self) -> bool:
        return self.expiration <= datetime.now(timezone.utc)


def read_leases() -> list[Lease] | None:
    """Leases in the file storage (None when they are not visible from this process)."""
    d = lease_dir()
    if d is None:
        return None
    out = []
    for p in d.glob("*.json") if d.is_dir() else []:
        if p.name == "expirations.json":
            continue
        try:
            data = json.loads(p.read_text())
            out.append(
                Lease(
                    id=data["id"],
                    resource_ids=list(data["resource_ids"]),
                    slots=int((data.get("metadata") or {}).get("slots") or 0),
                    expiration=datetime.fromisoformat(data["expiration"]),
                    created_at=datetime.fromisoformat(data["created_at"]),
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


def ensure_limit(name: str = TRAINING_SLOT, limit: int = 1) -> None:
    """Create the global concurrency limit on first use."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with _client() as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            except ObjectAlreadyExists:  # another process created it first
                pass


@dataclass
class SlotReport:
    """The state of one limit: what the database says and who holds it."""

    name: str
    exists: bool = False
    limit: int = 0
    active_slots: int = 0
    holders: list[Holder] = field(default_factory=list)
    leases: list[Lease] | None = None  # None: not visible from this process
    limit_id: str = ""

    @property
    def live_leases(self) -> list[Lease]:
        return [le for le in self.leases or [] if not le.expired and self.limit_id in le.resource_ids]

    @property
    def expired_leases(self) -> list[Lease]:
        return [le for le in self.leases or [] if le.expired and self.limit_id in le.resource_ids]

    @property
    def dead_holders(self) -> list[Holder]:
        return [h for h in self.holders if not h.alive]

    @property
    def unaccounted_slots(self) -> int:
        """Slots taken in the database that no live lease explains (only known when leases are
        visible)."""
        if self.leases is None:
            return 0
        return max(0, self.active_slots - sum(le.slots for le in self.live_leases))


def inspect(name: str = TRAINING_SLOT) -> SlotReport:
    from prefect.exceptions import ObjectNotFound

    rep = SlotReport(name=name, holders=read_holders(name), leases=read_leases())
    with _client() as client:
        try:
            lim = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            return rep
    rep.exists, rep.limit, rep.active_slots, rep.limit_id = True, lim.limit, lim.active_slots, str(lim.id)
    return rep


def _release(client, lease_id: str) -> None:
    from uuid import UUID

    client.release_concurrency_slots_with_lease(UUID(lease_id))


def release(lease_id: str) -> None:
    """Give back a slot taken by :func:`acquire`."""
    with _client() as client:
        _release(client, lease_id)


def reclaim(name: str = TRAINING_SLOT, *, dry_run: bool = False) -> list[str]:
    """Free what dead holders left: their leases, expired leases, and (on the temporary server)
    slots no live lease accounts for. Returns one line per action (what would be done, with
    ``dry_run``)."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    done: list[str] = []
    rep = inspect(name)
    verb = "would release" if dry_run else "released"
    with _client() as client:
        for h in rep.dead_holders:
            done.append(f"{name}: {verb} the slot of dead holder {h.describe()}")
            if not dry_run:
                try:
                    _release(client, h.lease_id)
                except Exception as exc:  # the lease may be gone with its server; counted below
                    done.append(
                        f"{name}: releasing lease {h.lease_id} failed ({type(exc).__name__}); "
                        "its slot is reset below if nothing accounts for it"
                    )
                if h.path is not None:
                    h.path.unlink(missing_ok=True)
        for le in rep.expired_leases:
            if any(h.lease_id == le.id for h in rep.dead_holders):
                continue
            done.append(f"{name}: {verb} expired lease {le.id} (expired {le.expiration:%Y-%m-%d %H:%M:%S} UTC)")
            if not dry_run:
                try:
                    _release(client, le.id)
                except Exception:
                    pass
        # Records of holders whose lease is gone and who are gone too
        if not rep.exists:
            return done
        if rep.leases is not None:
            if not dry_run and done:
                rep = inspect(name)  # counts after the releases above
            extra = rep.unaccounted_slots
            if extra and not dry_run:
                time.sleep(1.0)  # a slot is taken a moment before its lease is written
                rep = inspect(name)
                extra = rep.unaccounted_slots
            if extra:
                keep = rep.active_slots - extra
                done.append(
                    f"{name}: {'would reset' if dry_run else 'reset'} {extra} slot(s) held by no live "
                    f"lease (active slots {rep.active_slots} -> {keep})"
                )
                if not dry_run:
                    client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=keep))
    return done


def _try_acquire(client, name: str, holder) -> tuple[str | None, float]:
    """One attempt: (lease id, 0) or (None, seconds to wait)."""
    import httpx

    try:
        resp = client.increment_concurrency_slots_with_lease([name], 1, "concurrency", LEASE_SECONDS, holder=holder)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 423:
            try:
                wait = float(exc.response.headers.get("Retry-After") or 2.0)
            except ValueError:
                wait = 2.0
            return None, min(max(wait, 0.5), 5.0)
        raise
    data = resp.json()
    if not data.get("limits"):
        raise RuntimeError(f"concurrency limit {name!r} does not exist")
    return str(data["lease_id"]), 0.0


def _waiting_line(rep: SlotReport, waited: float) -> str:
    live = [h for h in rep.holders if h.alive]
    if live:
        who = "; ".join(h.describe() for h in live)
    elif rep.live_leases:
        le = rep.live_leases[0]
        who = (
            f"a holder with no arlm record (lease {le.id[:8]}, taken {le.created_at:%H:%M:%S} UTC, "
            f"expires {le.expiration:%H:%M:%S} UTC unless renewed)"
        )
    else:
        who = f"a holder arlm cannot see (its lease expires at most {LEASE_SECONDS:.0f} s after it stops)"
    return (
        f"[slot] waiting for the training slot '{rep.name}' held by {who}; waited {waited:.0f} s "
        f"(`arlm doctor` shows and clears stale holders)"
    )


def acquire(
    name: str = TRAINING_SLOT, *, say: Say | None = None, label: str = "", timeout_s: float | None = None
) -> str:
    """Take one slot of ``name`` (created with limit 1 if missing) and return the lease id. While
    waiting, reclaim what dead holders left and say who holds the slot every
    :data:`REPORT_EVERY_SECONDS`."""
    say = say or _stderr
    ensure_limit(name)
    holder = _prefect_holder()
    t0 = time.monotonic()
    last_report = -REPORT_EVERY_SECONDS
    with _client() as client:
        while True:
            lease_id, wait = _try_acquire(client, name, holder)
            if lease_id is not None:
                if time.monotonic() - t0 > 1.0:
                    say(f"[slot] took the training slot '{name}' after {time.monotonic() - t0:.0f} s")
                return lease_id
            freed = reclaim(name)
            for line in freed:
                say(f"[slot] {line}")
            now = time.monotonic()
            if freed:  # try again soon, without a stale "waiting" line
                wait = min(wait, 0.5)
            elif now - last_report >= REPORT_EVERY_SECONDS:
                say(_waiting_line(inspect(name), now - t0))
                last_report = now
            if timeout_s is not None and now - t0 > timeout_s:
                raise TimeoutError(f"the training slot '{name}' was not free within {timeout_s:.0f} s")
            time.sleep(wait)


def _prefect_holder():
    """The task run taking the slot, for Prefect's UI (None outside a task run)."""
    try:
        from prefect.client.schemas.objects import ConcurrencyLeaseHolder
        from prefect.context import TaskRunContext

        ctx = TaskRunContext.get()
        if ctx is not None and ctx.task_run is not None:
            return ConcurrencyLeaseHolder(type="task_run", id=ctx.task_run.id)
    except Exception:
        pass
    return None


def _renew_loop(lease_id: str, stop: threading.Event, say: Say) -> None:
    from uuid import UUID

    failures = 0
    with _client() as client:
        while not stop.wait(RENEW_SECONDS):
            try:
                client.renew_concurrency_lease(UUID(lease_id), LEASE_SECONDS)
                failures = 0
            except Exception as exc:
                failures += 1
                if failures == 1 or failures % 4 == 0:
                    say(
                        f"[slot] warning: renewing the training slot lease failed ({type(exc).__name__}: "
                        f"{str(exc)[:120]}); it expires {LEASE_SECONDS:.0f} s after the last renewal"
                    )


@contextmanager
def hold(
    name: str = TRAINING_SLOT, *, say: Say | None = None, label: str = "", timeout_s: float | None = None
) -> Iterator[str]:
    """Hold one slot of ``name`` for the block: acquire (waiting visibly), renew, release."""
    say = say or _stderr
    lease_id = acquire(name, say=say, label=label, timeout_s=timeout_s)
    record = None
    stop = threading.Event()
    try:
        record = _write_holder(lease_id, name, label)
        renewer = threading.Thread(
            target=_renew_loop, args=(lease_id, stop, say), daemon=True, name=f"arlm-slot-renewal-{lease_id[:8]}"
        )
        renewer.start()
        yield lease_id
    finally:
        stop.set()
        try:
            with _client() as client:
                _release(client, lease_id)
        except Exception as exc:  # the lease then expires within LEASE_SECONDS
            say(
                f"[slot] warning: releasing the training slot failed ({type(exc).__name__}); "
                f"it frees itself within {LEASE_SECONDS:.0f} s"
            )
        if record is not None:
            record.unlink(missing_ok=True)


def summary(rep: SlotReport) -> list[str]:
    """Human lines for ``arlm doctor``."""
    if not rep.exists:
        return [f"slot {rep.name}: no such limit yet (created by the first training)"]
    lines = [f"slot {rep.name}: {rep.active_slots}/{rep.limit} taken"]
    for h in rep.holders:
        lines.append(f"  holder {h.describe()}: {'alive' if h.alive else 'DEAD'}")
    if rep.leases is None:
        lines.append("  leases: kept by the Prefect server in PREFECT_API_URL (it revokes expired ones)")
    else:
        for le in rep.live_leases:
            lines.append(f"  lease {le.id[:8]}: expires {le.expiration:%H:%M:%S} UTC")
        for le in rep.expired_leases:
            lines.append(f"  lease {le.id[:8]}: EXPIRED {le.expiration:%Y-%m-%d %H:%M:%S} UTC")
        if rep.unaccounted_slots:
            lines.append(f"  {rep.unaccounted_slots} slot(s) held by no live lease: STALE")
    return lines


def describe_holders(name: str = TRAINING_SLOT) -> dict[str, Any]:
    rep = inspect(name)
    return {
        "name": name,
        "limit": rep.limit,
        "active_slots": rep.active_slots,
        "holders": [{**{k: v for k, v in h.__dict__.items() if k != "path"}, "alive": h.alive} for h in rep.holders],
    }
