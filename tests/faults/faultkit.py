"""Helpers of the fault tests: the CLI (or a script) in a subprocess with its own Prefect home,
and the processes it left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
ARLM = [sys.executable, "-m", "arlm.cli.main"]


def isolated_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A child environment with its own PREFECT_HOME (database, leases) and the CLI's defaults."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "RAY_ADDRESS", "ARLM_HOME")
    }
    env.update(
        {
            "PREFECT_HOME": str(tmp / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem",
            "RAY_USAGE_STATS_ENABLED": "0",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def wait_for_text(path: Path, text: str, timeout: float, proc: subprocess.Popen | None = None) -> float:
    """Seconds until ``text`` appears in the file ``path``; fails on timeout or early exit."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if path.exists() and text in path.read_text(errors="replace"):
            return time.monotonic() - t0
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"process exited ({proc.returncode}) before {text!r}:\n" + path.read_text(errors="replace")[-3000:]
            )
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not seen within {timeout:.0f} s:\n" + path.read_text(errors="replace")[-3000:])


class Tree:
    """Every process ever seen below a root pid (pid + create time, so reuse is no match)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.seen: dict[int, float] = {}

    def snapshot(self) -> None:
        try:
            for c in psutil.Process(self.pid).children(recursive=True):
                try:
                    self.seen.setdefault(c.pid, c.create_time())
                except psutil.Error:
                    pass
        except psutil.Error:
            pass

    def alive(self) -> list[str]:
        out = []
        for pid, ct in self.seen.items():
            try:
                p = psutil.Process(pid)
                if p.create_time() == ct and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(f"{pid} {' '.join(p.cmdline())[:120]}")
            except psutil.Error:
                pass
        return out

    def wait_gone(self, timeout: float) -> list[str]:
        t0 = time.monotonic()
        left = self.alive()
        while left and time.monotonic() - t0 < timeout:
            time.sleep(0.5)
            left = self.alive()
        return left

    def kill_leftovers(self) -> None:
        for pid, ct in self.seen.items():
            try:
                p = psutil.Process(pid)
                if p.create_time() == ct:
                    p.kill()
            except psutil.Error:
                pass


def write_corpus(folder: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from testkit import write_prose_corpus

    return write_prose_corpus(folder, n_docs=20, sentences=60)
