"""Start, watch and stop background processes by pid, without touching anyone else's.

Why not ``pkill``/``ray stop``: several people and test sessions share this machine; ``ray stop``
kills every Ray on it. A service here is started in a new session (so it leads its own process
group), its pid, process group and kernel start time are recorded, and stopping it signals that
group plus any descendant that moved to another group (Prefect's worker starts flow runs, Ray's
raylet starts workers). The start time guards against a recycled pid.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass
class ProcInfo:
    """A started service process, as recorded in the stack state file."""

    name: str
    pid: int
    pgid: int
    start_time: int  # clock ticks after boot (start_time_of): identifies this process even if the pid is reused
    log: str
    url: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


_ZOMBIE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process(pid: int) -> psutil.Process | None:
    """The process ``pid`` (a zombie included), or None if there is none we can read."""
    try:
        return psutil.Process(pid)
    except (psutil.Error, ValueError):  # gone, not ours to read, or pid <= 0
        return None


def _start_ticks(proc: psutil.Process) -> int | None:
    """Kernel start time of ``proc`` in clock ticks after boot (``/proc/<pid>/stat`` field 22).

    psutil gives seconds since the epoch (boot time + ticks / ticks per second); converting back
    keeps the integers already recorded in state files (stack, reaper, slot, MLflow owner tags)
    comparable with new ones."""
    try:
        return round((proc.create_time() - psutil.boot_time()) * _CLOCK_TICKS)
    except psutil.Error:
        return None


def start_time_of(pid: int) -> int | None:
    """Start time of ``pid`` (clock ticks after boot; a zombie's too); None if there is no such process."""
    proc = _process(pid)
    return None if proc is None else _start_ticks(proc)


def is_alive(pid: int, start_time: int | None = None) -> bool:
    """True if ``pid`` runs (not a zombie) and, when given, started at ``start_time``."""
    proc = _process(pid)
    try:
        if proc is None or proc.status() in _ZOMBIE:
            return False
    except psutil.Error:
        return False
    return start_time is None or _start_ticks(proc) == start_time


def all_processes() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, pgid) of every live (not zombie) process."""
    out: dict[int, tuple[int, int]] = {}
    for proc in psutil.process_iter(["ppid", "status"]):
        if proc.info["status"] in _ZOMBIE or proc.info["ppid"] is None:
            continue
        try:
            out[proc.pid] = (proc.info["ppid"], os.getpgid(proc.pid))
        except OSError:  # ended meanwhile
            continue
    return out


def tree_of(info: ProcInfo) -> set[int]:
    """Live pids belonging to a service: its process group and all descendants of its pid."""
    procs = all_processes()
    members = {p for p, (_, g) in procs.items() if g == info.pgid}
    if is_alive(info.pid, info.start_time):
        members.add(info.pid)
    frontier = set(members)
    while frontier:
        children = {p for p, (pp, _) in procs.items() if pp in frontier and p not in members}
        members |= children
        frontier = children
    return members


def spawn(
    name: str, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None, url: str = ""
) -> ProcInfo:
    """Start ``argv`` in a new session with stdout+stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n=== arlm infra: starting {name} at {time.strftime('%Y-%m-%dT%H:%M:%S')} ===\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    st = start_time_of(proc.pid) or 0
    # The Popen object is dropped on purpose: the service outlives this process; a reaper thread
    # is not needed because `down` runs in another process (and a zombie counts as not alive).
    return ProcInfo(name=name, pid=proc.pid, pgid=proc.pid, start_time=st, log=str(log_path), url=url)


def stop(info: ProcInfo, timeout: float = 20.0) -> list[int]:
    """SIGTERM the service's tree, wait up to ``timeout``, SIGKILL what is left. Returns survivors."""
    members = tree_of(info)
    if not members:
        return []
    _signal_all(members, info.pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        members = {p for p in members if is_alive(p)} | tree_of(info)
        if not members:
            return []
        time.sleep(0.2)
    _signal_all(members, info.pgid, signal.SIGKILL)
    time.sleep(0.5)
    return sorted(p for p in members | tree_of(info) if is_alive(p))


def _signal_all(pids: set[int], pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for p in pids:
        try:
            os.kill(p, sig)
        except (ProcessLookupError, PermissionError):
            pass


def port_in_use(host: str, port: int) -> bool:
    """True if something accepts TCP connections on host:port (or the port cannot be bound)."""
    probe = "127.0.0.1" if host in ("0.0.0.0", "") else host
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((probe, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host or "0.0.0.0", port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel says is free now (tests use it to avoid fixed ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http_ok(url: str, headers: dict[str, str] | None = None, timeout: float = 3.0) -> bool:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return 200 <= r.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tcp_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check, timeout: float, info: ProcInfo | None = None, every: float = 0.5) -> bool:
    """Poll ``check()`` until true; give up early when the service process has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if info is not None and not is_alive(info.pid, info.start_time):
            return False
        time.sleep(every)
    return bool(check())


def log_tail(path: str | Path, n: int = 15) -> str:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(lines[-n:])


# --------------------------------------------------------------------------------------------
# Children that die with their parent
# --------------------------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Linux: have the kernel send ``sig`` to this process when its parent *thread* exits (meant
    for a ``preexec_fn`` run in the child). False where unsupported."""
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent_preexec(sig: int = signal.SIGTERM):
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``sig`` when the parent dies,
    even by SIGKILL, and gets it at once if the parent already died while it was being forked."""
    parent = os.getpid()

    def preexec() -> None:
        set_parent_death_signal(sig)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


def watch_parent(parent_pid: int, on_parent_death=None, every: float = 1.0) -> threading.Thread:
    """A daemon thread that calls ``on_parent_death`` (default: SIGTERM to this process, then
    exit after 10 s) once ``parent_pid`` is no longer this process's parent. Unlike
    PR_SET_PDEATHSIG it is bound to the parent process, not to the thread that forked us."""

    def default() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
        os._exit(1)

    def loop() -> None:
        while os.getppid() == parent_pid and is_alive(parent_pid):
            time.sleep(every)
        (on_parent_death or default)()

    t = threading.Thread(target=loop, daemon=True, name=f"arlm-watch-parent-{parent_pid}")
    t.start()
    return t


def descendants(pid: int) -> set[int]:
    """Live descendants of ``pid`` (children, grandchildren, ...)."""
    procs = all_processes()
    out: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {p for p, (pp, _) in procs.items() if pp in frontier and p not in out}
        out |= children
        frontier = children
    return out
