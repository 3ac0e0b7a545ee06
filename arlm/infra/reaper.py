"""A small watcher that ends a CLI run's process tree when the CLI dies, even by SIGKILL.

Ray gives the processes it starts itself (GCS, raylet, dashboard) a parent-death signal, but the
dashboard and runtime-env agents that the raylet starts notice its death and then hang (seen with
Ray 2.60), and other children may have no such signal. ``arlm`` therefore starts this watcher for
every command that runs flows: in its own session (a terminal's Ctrl-C does not reach it), it
notes the CLI's descendants every second into ``<home>/procs/<pid>-<start>.json``, and once the
CLI is gone it sends them SIGTERM, then SIGKILL after a grace period, removes the record and
exits. If the watcher itself was killed, ``arlm doctor`` finds the record and does the same.

Run as ``python -m arlm.infra.reaper PID START_TIME RECORD``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from arlm.infra import procs

POLL_SECONDS = 1.0
GRACE_SECONDS = 5.0

_started: dict[int, subprocess.Popen] = {}


def record_path(procs_dir: Path, pid: int, start_time: int) -> Path:
    return procs_dir / f"{pid}-{start_time}.json"


def start(procs_dir: Path) -> Path | None:
    """Start the watcher for this process (once). Returns its record path."""
    me = os.getpid()
    st = procs.start_time_of(me)
    if st is None or not sys.platform.startswith("linux"):
        return None
    path = record_path(procs_dir, me, st)
    if me in _started:
        return path
    procs_dir.mkdir(parents=True, exist_ok=True)
    write_record(path, me, st, {}, command=" ".join(sys.argv)[:300])
    _started[me] = subprocess.Popen(
        [sys.executable, "-m", "arlm.infra.reaper", str(me), str(st), str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    return path


def write_record(path: Path, pid: int, start_time: int, children: dict[int, int], command: str = "") -> None:
    data = {
        "pid": pid,
        "start_time": start_time,
        "command": command,
        "updated": time.time(),
        "children": {str(k): v for k, v in children.items()},
    }
    if path.exists() and not command:
        try:
            data["command"] = json.loads(path.read_text()).get("command", "")
        except (OSError, ValueError):
            pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def read_record(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
        data["children"] = {int(k): int(v) for k, v in data.get("children", {}).items()}
        return data
    except (OSError, ValueError, AttributeError):
        return None


def terminate(children: dict[int, int], grace: float = GRACE_SECONDS) -> list[int]:
    """SIGTERM the live ones (same pid and start time), SIGKILL what is left after ``grace``.
    Returns the pids that were still alive (and so were signalled)."""
    live = [p for p, st in children.items() if procs.is_alive(p, st)]
    for p in live:
        try:
            os.kill(p, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(procs.is_alive(p, children[p]) for p in live):
        time.sleep(0.2)
    for p in live:
        if procs.is_alive(p, children[p]):
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    return live


def watch(pid: int, start_time: int, path: Path) -> None:
    me = os.getpid()
    seen: dict[int, int] = {}
    last: dict[int, int] = {}
    while procs.is_alive(pid, start_time):
        for p in procs.descendants(pid) - {me}:
            if p not in seen:
                st = procs.start_time_of(p)
                if st is not None:
                    seen[p] = st
        seen = {p: st for p, st in seen.items() if procs.is_alive(p, st)}
        if seen != last:
            write_record(path, pid, start_time, seen)
            last = dict(seen)
        time.sleep(POLL_SECONDS)
    # The CLI is gone: what it started goes too (orphans are re-parented, so use what was seen)
    for p in procs.descendants(pid) - {me}:
        st = procs.start_time_of(p)
        if st is not None:
            seen[p] = st
    terminate(seen)
    path.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pid, start_time, path = int(argv[0]), int(argv[1]), Path(argv[2])
    watch(pid, start_time, path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
