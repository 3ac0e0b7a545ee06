"""Fast checks of the local-stack machinery: config validation, secrets, pids, prefect.yaml."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from arlm.errors import ConfigError
from arlm.home import get_home
from arlm.infra import procs
from arlm.infra.deploy import deployment_names, prefect_file, validate_cron
from arlm.infra.stack import Stack, StackConfig, mlflow_url_for, parse_size, prefect_url_for, redact

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "change, option",
    [
        ({"prefect_port": 0}, "--prefect-port"),
        ({"ray_client_port": 10091}, "--ray-client-port"),  # inside Ray's worker port range
        ({"mlflow_port": 4200}, "ports must differ"),
        ({"prefect_db": "mysql://x@h/db"}, "--prefect-db"),
        ({"services": ["worker"]}, "--services"),
        ({"services": ["nope"]}, "--services"),
        ({"ray_memory": "lots"}, "--ray-memory"),
    ],
)
def test_config_rejects_what_cannot_work(change, option):
    with pytest.raises(ConfigError, match=option):
        StackConfig(**change).validate()


def test_database_urls_are_adapted_and_redacted():
    assert prefect_url_for("postgresql://u@h:5432/p") == "postgresql+asyncpg://u@h:5432/p"
    assert prefect_url_for("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
    assert mlflow_url_for("postgresql+asyncpg://u@h/m") == "postgresql://u@h/m"
    assert redact("postgresql://user:s3cret@h/db") == "postgresql://user:***@h/db"
    cfg = StackConfig(prefect_db="postgresql+asyncpg://u:pw@h/p", mlflow_db="postgresql://u:pw@h/m")
    assert "pw" not in json.dumps(cfg.public_dict())
    assert parse_size("512M", "x") == 512 * 2**20 and parse_size("1.5G", "x") == int(1.5 * 2**30)


def test_exposed_stack_generates_a_private_auth_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_SERVER_API_AUTH_STRING", raising=False)
    stack = Stack(get_home(tmp_path / "h"))
    assert stack.prefect_auth(StackConfig()) is None  # loopback: no auth unless asked
    exposed = StackConfig(host="0.0.0.0", public_hosts=["box.example"])
    secret = stack.prefect_auth(exposed)
    assert secret.startswith("arlm:") and len(secret) > 20
    assert stat.S_IMODE(stack.auth_path.stat().st_mode) == 0o600
    assert stack.prefect_auth(exposed) == secret  # stable across calls
    assert exposed.exposed and exposed.client_host == "127.0.0.1"
    env = stack.client_env(exposed)
    assert env["RAY_AUTH_MODE"] == "token" and secret not in json.dumps(env)


def test_stop_kills_the_whole_tree_and_only_it(tmp_path):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # A parent with a child that leaves the process group: both must go.
        script = (
            "import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True); "
            "time.sleep(60)"
        )
        info = procs.spawn("toy", [sys.executable, "-c", script], dict(os.environ), tmp_path / "toy.log")
        assert procs.wait_until(lambda: len(procs.tree_of(info)) >= 2, 20)
        tree = procs.tree_of(info)
        assert procs.stop(info, timeout=5) == []
        assert not any(procs.is_alive(p) for p in tree)
        assert procs.is_alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


def test_a_recycled_pid_is_not_ours(tmp_path):
    info = procs.spawn(
        "toy", [sys.executable, "-c", "import time; time.sleep(30)"], dict(os.environ), tmp_path / "toy.log"
    )
    try:
        assert procs.is_alive(info.pid, info.start_time)
        assert not procs.is_alive(info.pid, info.start_time + 1)
    finally:
        procs.stop(info, timeout=2)
    assert not procs.is_alive(info.pid, info.start_time)


def test_down_without_a_stack_is_a_no_op_and_status_is_empty(tmp_path):
    stack = Stack(get_home(tmp_path / "h"))
    assert stack.down(log=lambda m: None) == [] and stack.status() == {}


def test_up_refuses_a_busy_port_and_leaves_nothing_behind(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        stack = Stack(get_home(tmp_path / "h"))
        with pytest.raises(ConfigError, match=f"--mlflow-port: port {busy}"):
            stack.up(StackConfig(services=["mlflow"], mlflow_port=busy), log=lambda m: None)
    assert stack.running() == {}


@pytest.mark.slow
def test_mlflow_server_alone_comes_up_and_goes_down(tmp_path):
    """The cheapest real service: health-checked, logged under the home, stopped by pid."""
    stack = Stack(get_home(tmp_path / "h"))
    cfg = StackConfig(services=["mlflow"], mlflow_port=procs.free_port(), timeout_s=120)
    try:
        started = stack.up(cfg, log=lambda m: None)
        assert procs.http_ok(f"{cfg.mlflow_url}/health")
        # Foreign Host headers are refused (DNS-rebinding protection stays on).
        import urllib.error
        import urllib.request

        req = urllib.request.Request(
            f"{cfg.mlflow_url}/api/2.0/mlflow/experiments/search?max_results=1", headers={"Host": "evil.example"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=10)
        assert refused.value.code in (400, 403)
        assert (stack.home.logs / "mlflow.log").stat().st_size > 0
        assert stack.status()["mlflow"]["healthy"]
    finally:
        assert stack.down(log=lambda m: None) == []
    tree = procs.tree_of(started["mlflow"])
    assert not tree and not procs.tcp_ok("127.0.0.1", cfg.mlflow_port)


def test_prefect_server_with_basic_auth_refuses_anonymous_calls_and_logs_no_secret(tmp_path, monkeypatch):
    """Prefect alone, SQLite store, on loopback, with the basic-auth string that exposed mode sets:
    an anonymous API call gets 401, the right credentials 200, and the secret is in no log nor in
    the stack's state file."""
    import base64
    import urllib.error
    import urllib.request

    secret = "arlm:test-" + os.urandom(8).hex()
    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", secret)
    stack = Stack(get_home(tmp_path / "h"))
    cfg = StackConfig(services=["prefect"], prefect_port=procs.free_port(), timeout_s=120)
    try:
        stack.up(cfg, log=lambda m: None)  # health-checked with the credentials
        url = f"{cfg.prefect_api_url}/flows/filter"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=10)
        assert refused.value.code == 401
        token = base64.b64encode(secret.encode()).decode()
        ok = urllib.request.Request(
            url,
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(ok, timeout=10) as resp:
            assert resp.status == 200
        assert (stack.home.root / "prefect" / "prefect.db").is_file()  # the embedded SQLite store
    finally:
        assert stack.down(log=lambda m: None) == []
    written = [p for p in stack.home.root.rglob("*") if p.is_file() and p.suffix in (".log", ".json", ".txt")]
    assert written and not [p for p in written if secret in p.read_text(errors="replace")]


def test_prefect_yaml_has_the_pipeline_on_a_schedule_and_every_stage():
    shipped = prefect_file()  # the copy installed with arlm_flows: the checkout's prefect.yaml
    assert shipped.read_text() == (REPO / "prefect.yaml").read_text()
    doc = yaml.safe_load(shipped.read_text())
    by_name = {d["name"]: d for d in doc["deployments"]}
    assert set(deployment_names(shipped)) == {
        "pipeline-nightly",
        "ingest",
        "tokenizer",
        "train",
        "compare",
        "evaluate",
        "register",
        "finetune",
    }
    assert by_name["pipeline-nightly"]["schedules"][0]["cron"] == "{{ $ARLM_PIPELINE_CRON }}"
    for d in doc["deployments"]:
        assert d["work_pool"]["name"] == "{{ $ARLM_WORK_POOL }}"
        module, func = d["entrypoint"].rsplit(".", 1)  # a module path: the installed package
        tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
        flows = [
            n.name
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and any("flow" in ast.unparse(dec) for dec in n.decorator_list)
        ]
        assert func in flows, f"{d['entrypoint']}: no @flow {func}"


@pytest.mark.parametrize(
    "cron, ok",
    [("0 2 * * *", True), ("* * * * *", True), ("*/5 1-3 * * MON", True), ("nightly", False), ("0 2 * *", False)],
)
def test_cron_validation(cron, ok):
    if ok:
        assert validate_cron(cron) == cron
    else:
        with pytest.raises(ConfigError, match="--cron"):
            validate_cron(cron)


def test_cli_parses_infra_and_deploy():
    import argparse

    from arlm.cli import infra_cmds

    parser = argparse.ArgumentParser()
    parser.add_argument("--home")
    infra_cmds.add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["infra", "up", "--prefect-db", "postgresql://u@h/p", "--services", "prefect", "worker"])
    cfg = infra_cmds.config_from_args(args)
    assert cfg.prefect_db == "postgresql://u@h/p" and cfg.services == ["prefect", "worker"]
    assert cfg.host == "127.0.0.1" and cfg.ray_port == 6380
    args = parser.parse_args(["deploy", "--only", "ingest", "--cron", "* * * * *"])
    assert args.func is infra_cmds.cmd_deploy and args.only == ["ingest"]


def test_scripts_wrap_the_same_commands(tmp_path):
    env = {**os.environ, "ARLM_HOME": str(tmp_path / "h")}
    out = subprocess.run([str(REPO / "infra/local/status.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "no stack recorded" in out.stdout
    bad = subprocess.run(
        [str(REPO / "infra/local/up.sh"), "--ray-client-port", "12000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--ray-client-port" in bad.stderr
