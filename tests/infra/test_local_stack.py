"""The local stack for real: PostgreSQL-backed Prefect + MLflow servers, a process worker, a Ray head.

One stack serves the whole module (starting it and one tiny pipeline run take most of the time).
Order matters and is the file order: the REST-triggered run, its cached rerun, the UI-triggered
run, the every-minute schedule, then `down` and the check that nothing of the stack still runs.
"""

from __future__ import annotations

import os
import random
import re
import time
import uuid
from pathlib import Path

import pytest

from arlm.home import get_home
from arlm.infra import procs
from arlm.infra.deploy import DeployOptions, deploy
from arlm.infra.stack import Stack, StackConfig
from conftest import need_service

from .rest_clients import MlflowAPI, PrefectAPI

pytestmark = [pytest.mark.slow, pytest.mark.services]

PG = dict(host="127.0.0.1", port=5432, user="postgres")
MODEL = "arlm-stack-test"
UI_MODEL = "arlm-ui-run"
RUN_TIMEOUT = 360  # one tiny pipeline run takes ~1-2 min on 2 busy cores
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _postgres_problem() -> str | None:
    try:
        import psycopg2
    except ImportError:
        return "psycopg2 is not installed (pip install psycopg2-binary)"
    try:
        psycopg2.connect(dbname="postgres", connect_timeout=3, **PG).close()
    except Exception as exc:  # noqa: BLE001 - any failure means: no usable server
        return f"PostgreSQL on 127.0.0.1:5432 not reachable as user postgres: {str(exc).strip()[:120]}"
    return None


def _admin(sql: str) -> None:
    import psycopg2

    con = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    con.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with con.cursor() as cur:
            cur.execute(sql)
    finally:
        con.close()


def _query(db: str, sql: str) -> list[tuple]:
    import psycopg2

    con = psycopg2.connect(dbname=db, connect_timeout=5, **PG)
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        con.close()


def _tiny_corpus(root: Path) -> Path:
    """A few KB of prose: enough for a BPE of 512 and a few seconds of training."""
    root.mkdir(parents=True)
    words = (
        "the worker reads a schedule and the server keeps every run so that a team can see "
        "which model was trained on which text and registered under which version "
    ).split()
    rng = random.Random(7)
    for i in range(10):
        lines = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 18))) + "." for _ in range(40)]
        (root / f"doc{i:02d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


class LiveStack:
    """What the tests share: the stack, its APIs, the tiny parameters, the first run."""

    def __init__(self, stack: Stack, cfg: StackConfig, corpus: Path, dbs: dict[str, str]):
        self.stack, self.cfg, self.corpus, self.dbs = stack, cfg, corpus, dbs
        self.prefect = PrefectAPI(cfg.prefect_api_url)
        self.mlflow = MlflowAPI(cfg.mlflow_url)
        self.started: dict = {}  # service -> ProcInfo, as `up` recorded them
        self.first_run: dict | None = None
        self.first_run_s = 0.0

    def params(self, **overrides) -> dict:
        p = {
            "corpus": str(self.corpus),
            "max_seconds": 4,
            "vocab_size": 512,
            "model": "gpt/tiny",
            "workers": 1,
            "name": MODEL,
            "ray_address": self.cfg.ray_address,
        }
        p.update(overrides)
        return {"params": p}

    def pipeline_deployment(self) -> dict:
        return self.prefect.deployment("pipeline", "pipeline-nightly")

    def run_pipeline(self, **overrides) -> tuple[dict, float]:
        t0 = time.monotonic()
        run = self.prefect.create_run(self.pipeline_deployment()["id"], self.params(**overrides))
        done = self.prefect.wait(run["id"], RUN_TIMEOUT)
        return done, time.monotonic() - t0

    def explain(self, run: dict) -> str:
        logs = [row["message"] for row in self.prefect.logs(run["id"])]
        return f"run {run['name']} ended {run['state_name']}; last logs:\n" + "\n".join(logs[-25:])


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Two fresh PostgreSQL databases, the full stack on free loopback ports, all deployments."""
    need_service(_postgres_problem() is None, _postgres_problem() or "")
    tmp = tmp_path_factory.mktemp("stack")
    tag = uuid.uuid4().hex[:8]
    dbs = {"prefect": f"arlm_test_prefect_{tag}", "mlflow": f"arlm_test_mlflow_{tag}"}
    for db in dbs.values():
        _admin(f'CREATE DATABASE "{db}"')
    home = get_home(tmp / "home").ensure()
    stack = Stack(home)
    cfg = StackConfig(
        prefect_port=procs.free_port(),
        mlflow_port=procs.free_port(),
        ray_port=procs.free_port(),
        ray_dashboard_port=procs.free_port(),
        ray_client_port=procs.free_port(),
        prefect_db=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{dbs['prefect']}",
        mlflow_db=f"postgresql://postgres@127.0.0.1:5432/{dbs['mlflow']}",
        worker_query_seconds=2,
        scheduler_loop_seconds=5,
        ray_num_cpus=2,
        ray_memory="2G",
        ray_object_store_memory="256M",
        timeout_s=180,
    )
    state = None
    try:
        stack.up(cfg, log=lambda m: print(m, flush=True))
        state = LiveStack(stack, cfg, _tiny_corpus(tmp / "corpus"), dbs)
        state.started = dict(stack.running())
        deploy(home, DeployOptions(cron="0 2 * * *"), log=lambda m: print(m, flush=True))
        yield state
    finally:
        stack.down()
        for db in dbs.values():
            _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@pytest.fixture(scope="module")
def first_run(live) -> dict:
    """The pipeline deployment triggered once through the REST API with a tiny budget."""
    if live.first_run is None:
        live.first_run, live.first_run_s = live.run_pipeline()
        print(f"first pipeline run: {live.first_run_s:.1f} s", flush=True)
    return live.first_run


def test_stack_is_healthy_on_loopback_with_postgres(live):
    status = live.stack.status()
    assert set(status) == {"prefect", "worker", "mlflow", "ray"}
    assert all(s["healthy"] for s in status.values()), status
    # Both servers really use PostgreSQL: their schemas were migrated into the fresh databases.
    assert _query(
        live.dbs["prefect"], "select count(*) from information_schema.tables where table_name = 'flow_run'"
    ) == [(1,)]
    assert _query(
        live.dbs["mlflow"], "select count(*) from information_schema.tables where table_name = 'model_versions'"
    ) == [(1,)]
    # Loopback only, and no database URL on a command line.
    for info in live.started.values():
        argv = Path(f"/proc/{info.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "postgresql" not in argv, argv
    names = {d["name"] for d in live.prefect.deployments()}
    assert {"pipeline-nightly", "ingest", "tokenizer", "train", "compare", "evaluate", "register"} <= names
    nightly = live.pipeline_deployment()
    assert [s["schedule"].get("cron") for s in nightly["schedules"]] == ["0 2 * * *"]
    assert nightly["parameters"]["params"]["ray_address"] == live.cfg.ray_address


def test_pipeline_deployment_triggered_over_rest_registers_a_model(live, first_run):
    assert first_run["state_type"] == "COMPLETED", live.explain(first_run)
    versions = live.mlflow.model_versions(MODEL)
    assert versions, f"no version of {MODEL} in the MLflow server's registry"
    # The registry row lives in the server's PostgreSQL database, not in a local file store.
    rows = _query(live.dbs["mlflow"], f"select name, version from model_versions where name = '{MODEL}'")
    assert {int(v["version"]) for v in versions} == {int(r[1]) for r in rows}


def test_rerun_with_unchanged_inputs_hits_the_cache(live, first_run):
    assert first_run["state_type"] == "COMPLETED", live.explain(first_run)
    rerun, seconds = live.run_pipeline()
    assert rerun["state_type"] == "COMPLETED", live.explain(rerun)
    tasks = {t["name"].rsplit("-", 1)[0]: t for t in live.prefect.task_runs(rerun["id"])}
    logs = live.prefect.logs(rerun["id"])
    for name in ("ingest", "build-tokenizer", "tokenize"):
        assert tasks[name]["state_name"] == "Cached", {k: t["state_name"] for k, t in tasks.items()}
        # ...and the run's logs say so, on the task's own log lines.
        said = [r["message"] for r in logs if r.get("task_run_id") == tasks[name]["id"]]
        assert any("Cached" in m for m in said), said
    # ...and took no time: the first run's work on those stages is what the rerun saved
    first = {t["name"].rsplit("-", 1)[0]: t for t in live.prefect.task_runs(first_run["id"])}
    names = ("ingest", "build-tokenizer", "tokenize")
    spent = sum(float(first[n].get("total_run_time") or 0) for n in names)
    again = sum(float(tasks[n].get("total_run_time") or 0) for n in names)
    assert spent > 0.5 and again < 0.1 * spent, (spent, again)
    print(
        f"first run {live.first_run_s:.1f} s ({spent:.1f} s in ingest/tokenizer/tokenize), "
        f"cached rerun {seconds:.1f} s ({again:.2f} s in them)",
        flush=True,
    )


def test_custom_run_from_the_prefect_ui_form(live, artifacts_dir):
    need_service(os.path.exists(CHROMIUM), f"{CHROMIUM} missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        need_service(False, "playwright is not installed (pip install playwright)")
    deployment = live.pipeline_deployment()
    # An operator sets small defaults on the deployment; the person in the UI changes the model name.
    live.prefect.set_parameters(deployment["id"], live.params())
    ui = live.cfg.prefect_api_url.removesuffix("/api")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(f"{ui}/deployments", wait_until="networkidle")
            page.get_by_role("link", name="pipeline-nightly").first.click()
            page.wait_for_url(re.compile(r".*/deployments/deployment/.*"))
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text("Custom run", exact=True).click()
            page.wait_for_url(re.compile(r".*/run\b.*"))
            field = page.get_by_text("Name (Optional)", exact=True).locator(
                "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), "
                "' schema-form-property ')][1]//textarea"
            )
            field.fill(UI_MODEL)
            page.get_by_role("button", name="Submit").click()
            # The UI goes back to the deployment page; the new run is the one with our model name.
            page.wait_for_url(lambda url: "/run?" not in url and not url.endswith("/run"))
            run_id = _wait_for_run_with_name(live, deployment["id"], UI_MODEL)
            page.goto(f"{ui}/runs/flow-run/{run_id}", wait_until="networkidle")
            run = live.prefect.wait(run_id, RUN_TIMEOUT)
            page.reload(wait_until="networkidle")
            page.get_by_text("Completed").first.wait_for()
            page.screenshot(path=str(artifacts_dir / "prefect-ui-custom-run.png"), full_page=True)
        finally:
            browser.close()
    assert run["parameters"]["params"]["name"] == UI_MODEL
    assert run["state_type"] == "COMPLETED", live.explain(run)
    assert live.mlflow.model_versions(UI_MODEL), f"no version of {UI_MODEL} registered"


def _wait_for_run_with_name(live, deployment_id: str, model_name: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in live.prefect.flow_runs(deployment_id):
            if (r.get("parameters") or {}).get("params", {}).get("name") == model_name:
                return r["id"]
        time.sleep(1)
    raise AssertionError(f"the UI created no run of {model_name} within {timeout:.0f} s")


def test_every_minute_schedule_runs_untriggered(live):
    dep = live.prefect.deployment("ingest", "ingest")
    live.prefect.set_parameters(dep["id"], {"params": {"corpus": str(live.corpus)}})
    live.prefect.add_schedule(dep["id"], {"cron": "* * * * *", "timezone": "UTC"})
    try:
        deadline = time.monotonic() + 180
        done = None
        while time.monotonic() < deadline and done is None:
            ended = live.prefect.flow_runs(dep["id"], states=["COMPLETED", "FAILED", "CRASHED"])
            done = next((r for r in ended if r.get("auto_scheduled")), None)
            time.sleep(3)
        waiting = [
            (r["name"], r["state_name"], r["expected_start_time"]) for r in live.prefect.flow_runs(dep["id"], limit=5)
        ]
        assert done is not None, f"no scheduled run of ingest finished within 180 s; latest runs: {waiting}"
        assert done["state_type"] == "COMPLETED", live.explain(done)
        assert done["created_by"] is None or done["created_by"].get("type") != "USER"
    finally:
        live.prefect.set_schedules_active(live.prefect.deployment("ingest", "ingest"), False)


def test_down_stops_everything_it_started(live):
    before = {name: procs.tree_of(info) for name, info in live.started.items()}
    assert all(before.values()), before
    assert live.stack.down() == []
    time.sleep(1)
    left = {p for pids in before.values() for p in pids if procs.is_alive(p)}
    assert not left, f"still running after down: {left}"
    for info in live.started.values():
        assert not procs.tree_of(info)
    assert live.stack.status() == {}
    assert not procs.tcp_ok("127.0.0.1", live.cfg.prefect_port) and not procs.tcp_ok("127.0.0.1", live.cfg.mlflow_port)
    assert not procs.tcp_ok("127.0.0.1", live.cfg.ray_port)
