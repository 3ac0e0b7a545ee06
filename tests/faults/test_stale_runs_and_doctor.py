"""MLflow runs left RUNNING by a dead process, orphans of a dead CLI, and `arlm doctor` (real
MLflow, real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from faults.faultkit import ARLM, isolated_env

OWNER = """
import sys, time
from arlm.training.tracking import start_run
rid = start_run(sys.argv[1], run_name="will-be-killed")
print(rid, flush=True)
time.sleep(600)
"""


def _run_owned_then_kill(uri: str, env: dict) -> str:
    p = subprocess.Popen([sys.executable, "-c", OWNER, uri], env=env, stdout=subprocess.PIPE, text=True)
    try:
        run_id = p.stdout.readline().strip()
        assert run_id, "the owner process printed no run id"
    finally:
        p.kill()
        p.wait()
    return run_id


def test_run_of_dead_owner_is_marked_killed_and_can_be_reopened(tmp_path: Path):
    import mlflow

    from arlm.training.tracking import OWNER_TAG, end_run, reclaim_stale_runs, reopen_run, start_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    dead = _run_owned_then_kill(uri, isolated_env(tmp_path))
    mine = start_run(uri, run_name="alive")  # owned by this (live) process: left alone
    client = mlflow.MlflowClient(uri)
    assert client.get_run(dead).info.status == "RUNNING"
    assert reclaim_stale_runs(uri, dry_run=True) == [dead]
    assert client.get_run(dead).info.status == "RUNNING"  # dry run changes nothing
    assert reclaim_stale_runs(uri) == [dead]
    assert client.get_run(dead).info.status == "KILLED"
    assert client.get_run(mine).info.status == "RUNNING"
    assert reclaim_stale_runs(uri) == []
    # a resumed training continues the killed run: RUNNING again, owned by the new process
    reopen_run(uri, dead)
    run = client.get_run(dead)
    assert run.info.status == "RUNNING" and run.data.tags[OWNER_TAG].split(":")[1] == str(os.getpid())
    end_run(uri, dead)
    end_run(uri, mine)
    assert client.get_run(dead).info.status == "FINISHED"


def test_doctor_reports_then_clears_orphans_and_stuck_runs(tmp_path: Path):
    """A dead CLI's record with a live child (what the reaper leaves if it is killed too) and a
    stuck run: --dry-run reports both and changes nothing; a plain run clears both."""
    from arlm.home import get_home
    from arlm.infra import procs, reaper

    home = get_home(tmp_path / "home").ensure()
    env = isolated_env(tmp_path)
    dead_run = _run_owned_then_kill(home.mlflow_tracking_uri, env)
    # a "CLI" that starts a long child in a new session and dies: the child is an orphan
    cli = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess,sys,time;"
            "c=subprocess.Popen([sys.executable,'-c','import time; time.sleep(600)'],"
            "start_new_session=True);print(c.pid,flush=True);time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = int(cli.stdout.readline())
    cli_start, child_start = procs.start_time_of(cli.pid), procs.start_time_of(child)
    pdir = home.root / "procs"
    pdir.mkdir()
    rec = reaper.record_path(pdir, cli.pid, cli_start)
    reaper.write_record(rec, cli.pid, cli_start, {child: child_start}, command="arlm pipeline (test)")
    cli.kill()
    cli.wait()
    try:
        cmd = [*ARLM, "--home", str(home.root), "doctor", "--no-prefect"]
        dry = subprocess.run([*cmd, "--dry-run"], env=env, capture_output=True, text=True, timeout=120)
        assert dry.returncode == 0, dry.stderr
        assert f"orphan: pid {child}" in dry.stdout and dead_run in dry.stdout, dry.stdout
        assert procs.is_alive(child, child_start) and rec.exists()
        real = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert real.returncode == 0, real.stderr
        assert "stopped 1 of 1" in real.stdout and "marked KILLED" in real.stdout, real.stdout
        time.sleep(0.5)
        assert not procs.is_alive(child, child_start)
        assert not rec.exists()
        import mlflow

        assert mlflow.MlflowClient(home.mlflow_tracking_uri).get_run(dead_run).info.status == "KILLED"
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert "nothing to clear" in again.stdout, again.stdout
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_reaper_ends_the_tree_of_a_killed_parent(tmp_path: Path):
    """The watcher the CLI starts: parent SIGKILLed -> its children (even in another session)
    are stopped and the record removed."""
    from arlm.infra import procs

    script = (
        "import subprocess,sys,time;from pathlib import Path;from arlm.infra import reaper;"
        f"print(reaper.start(Path({str(tmp_path)!r})), flush=True);"
        "c=subprocess.Popen([sys.executable,'-c','import time; time.sleep(600)'],start_new_session=True);"
        "print(c.pid,flush=True);time.sleep(600)"
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=isolated_env(tmp_path))
    rec = Path(p.stdout.readline().strip())
    child = int(p.stdout.readline())
    st = procs.start_time_of(child)
    time.sleep(3)  # the watcher notes the child (every second)
    assert str(child) in json.loads(rec.read_text())["children"]
    p.kill()
    p.wait()
    t0 = time.monotonic()
    while procs.is_alive(child, st) and time.monotonic() - t0 < 15:
        time.sleep(0.2)
    assert not procs.is_alive(child, st), "the orphan outlived its parent by 15 s"
    time.sleep(1)
    assert not rec.exists()
