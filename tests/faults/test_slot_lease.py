"""The training slot never stays taken after its holder dies (real processes, real Prefect)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faults.faultkit import Tree, isolated_env, wait_for_text

HOLDER = """
import sys, time
from arlm.infra import prefect_server
prefect_server.install()
from arlm.infra import slots
with slots.hold(slots.TRAINING_SLOT, label="test holder"):
    print("HELD", flush=True)
    time.sleep(900)
"""

ACQUIRER = """
import sys, time
from arlm.infra import prefect_server
prefect_server.install()
from arlm.infra import slots
slots.ensure_limit(slots.TRAINING_SLOT)
t0 = time.monotonic()
lease = slots.acquire(slots.TRAINING_SLOT, say=lambda m: print(m, flush=True), timeout_s=float(sys.argv[1]))
print(f"ACQUIRED after {time.monotonic() - t0:.1f} s", flush=True)
slots.release(lease)
"""


def _start(script: str, env: dict, log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT
    )


def _acquire(env: dict, log: Path, timeout: float) -> float:
    t0 = time.monotonic()
    p = _start(ACQUIRER, env, log, str(timeout))
    try:
        p.wait(timeout=timeout + 120)
    finally:
        if p.poll() is None:
            p.kill()
    out = log.read_text()
    assert p.returncode == 0 and "ACQUIRED" in out, out[-3000:]
    return time.monotonic() - t0


def _hold_then_kill(env: dict, tmp: Path, name: str, forget_record: bool) -> None:
    log = tmp / f"{name}.log"
    holder = _start(HOLDER, env, log)
    tree = Tree(holder.pid)
    try:
        wait_for_text(log, "HELD", 180, holder)
        tree.snapshot()
        if forget_record:  # a holder arlm cannot check (another host): only the lease can free it
            for rec in (Path(env["PREFECT_HOME"]) / "arlm-slot-holders").glob("*.json"):
                rec.unlink()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        # its temporary Prefect server dies with it
        assert tree.wait_gone(20) == [], tree.alive()
    finally:
        if holder.poll() is None:
            holder.kill()
        tree.kill_leftovers()


@pytest.mark.slow
def test_killed_holder_blocks_nobody(tmp_path: Path):
    env = isolated_env(tmp_path)
    # 1. a holder this host can see die: its slot is reclaimed at once
    _hold_then_kill(env, tmp_path, "holder1", forget_record=False)
    log = tmp_path / "acquire1.log"
    _acquire(env, log, timeout=60)
    out = log.read_text()
    assert "released the slot of dead holder pid" in out, out

    # 2. a holder without a record (as if on another host): its 60 s lease expires, then the
    # slot is reclaimed; meanwhile the waiter says who holds it
    _hold_then_kill(env, tmp_path, "holder2", forget_record=True)
    t_kill = time.monotonic()
    log = tmp_path / "acquire2.log"
    _acquire(env, log, timeout=150)
    waited = time.monotonic() - t_kill
    out = log.read_text()
    assert "waiting for the training slot 'arlm-training' held by" in out, out
    assert "expired lease" in out, out
    assert waited < 60 + 60, f"slot free only {waited:.0f} s after its holder died"
