"""``arlm infra up|down|status|env`` (the local stack) and ``arlm deploy`` (prefect.yaml).

The same code backs ``infra/local/{up,down,status}.sh``; see infra/README.md.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from arlm.home import get_home


def add_parsers(sub) -> None:
    infra = sub.add_parser("infra", help="the local stack: Prefect server + worker, MLflow server, Ray head")
    isub = infra.add_subparsers(dest="infra_command", metavar="ACTION")
    isub.required = True

    up = isub.add_parser("up", help="start the stack on loopback (what is not running yet) and wait until healthy")
    _add_stack_flags(up)
    up.set_defaults(func=cmd_up)

    down = isub.add_parser("down", help="stop what `arlm infra up` started (by recorded pid)")
    down.add_argument("--timeout", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    down.set_defaults(func=cmd_down)

    status = isub.add_parser("status", help="each service: pid, alive, healthy, URL, log")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    env = isub.add_parser("env", help='print `export` lines pointing clients at the stack (eval "$(arlm infra env)")')
    env.set_defaults(func=cmd_env)

    doc = sub.add_parser(
        "doctor",
        help="find and clear what killed runs left behind: stale training-slot "
        "leases, orphan processes, MLflow runs stuck RUNNING",
        description="Reports (and, without --dry-run, clears) the training slot's stale "
        "holders and leases, processes left by earlier arlm runs whose CLI is "
        "gone, and MLflow runs left RUNNING by a dead process.",
    )
    doc.add_argument("--dry-run", action="store_true", help="only report; change nothing")
    doc.add_argument(
        "--no-prefect",
        action="store_true",
        help="skip the training slot (needs the Prefect API: a temporary server starts "
        "when PREFECT_API_URL is not set)",
    )
    doc.set_defaults(func=cmd_doctor)

    dep = sub.add_parser(
        "deploy", help="apply prefect.yaml (pipeline on a cron schedule + each stage) to the Prefect server"
    )
    dep.add_argument("--only", nargs="+", metavar="NAME", help="deployment names to apply (default: all)")
    dep.add_argument("--cron", default=None, help="schedule of the pipeline deployment (default nightly '0 2 * * *')")
    dep.add_argument("--timezone", default=None, help="time zone of the cron schedule (default UTC)")
    dep.add_argument("--no-schedule", action="store_true", help="create the schedule inactive")
    dep.add_argument("--pool", default=None, help="work pool (default: the stack's, arlm-process)")
    dep.add_argument("--api-url", default=None, help="Prefect API URL (default: the stack's, else $PREFECT_API_URL)")
    dep.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster for train/compare runs (default: the stack's head, else a local Ray per run)",
    )
    dep.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="a folder with its own prefect.yaml (default: the one shipped with arlm)",
    )
    dep.set_defaults(func=cmd_deploy)


def _add_stack_flags(p: argparse.ArgumentParser) -> None:
    from arlm.infra.stack import SERVICES, StackConfig

    d = StackConfig()
    p.add_argument(
        "--host",
        default=d.host,
        help="bind address (default 127.0.0.1; anything else turns on Prefect basic auth and Ray token auth)",
    )
    p.add_argument(
        "--public-host",
        dest="public_hosts",
        action="append",
        default=[],
        help="name clients use to reach an exposed stack (MLflow allowed hosts/CORS, Prefect UI); repeatable",
    )
    p.add_argument("--prefect-port", type=int, default=d.prefect_port)
    p.add_argument("--mlflow-port", type=int, default=d.mlflow_port)
    p.add_argument("--ray-port", type=int, default=d.ray_port, help="Ray head (GCS) port; 6379 is Redis here")
    p.add_argument("--ray-dashboard-port", type=int, default=d.ray_dashboard_port)
    p.add_argument("--ray-client-port", type=int, default=d.ray_client_port)
    p.add_argument(
        "--prefect-db",
        default=None,
        help="Prefect database URL, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/prefect (default SQLite in the home)",
    )
    p.add_argument(
        "--mlflow-db",
        default=None,
        help="MLflow backend store, e.g. postgresql://postgres@127.0.0.1:5432/mlflow (default SQLite in the home)",
    )
    p.add_argument("--work-pool", default=d.work_pool)
    p.add_argument("--worker-limit", type=int, default=None, help="max concurrent flow runs of the worker")
    p.add_argument("--worker-query-seconds", type=float, default=d.worker_query_seconds)
    p.add_argument(
        "--scheduler-loop-seconds",
        type=float,
        default=None,
        help="how often Prefect's scheduler creates runs (Prefect default 60)",
    )
    p.add_argument("--ray-num-cpus", type=int, default=None)
    p.add_argument("--ray-memory", default=d.ray_memory, help="memory Ray may schedule (e.g. 4G)")
    p.add_argument("--ray-object-store-memory", default=d.ray_object_store_memory)
    p.add_argument("--services", nargs="+", default=list(SERVICES), choices=list(SERVICES))
    p.add_argument(
        "--timeout",
        dest="timeout_s",
        type=float,
        default=d.timeout_s,
        help="seconds each service may take to become healthy",
    )


def config_from_args(args) -> StackConfig:  # noqa: F821 - imported lazily
    from arlm.infra.stack import StackConfig

    return StackConfig(**{f.name: getattr(args, f.name) for f in fields(StackConfig) if hasattr(args, f.name)})


def cmd_up(args) -> int:
    from arlm.infra.stack import Stack

    stack = Stack(get_home(args.home))
    stack.up(config_from_args(args))
    print(f"state: {stack.state_path}")
    print('point clients at it:  eval "$(arlm infra env)"')
    return 0


def cmd_down(args) -> int:
    from arlm.infra.stack import Stack

    survivors = Stack(get_home(args.home)).down(timeout=args.timeout)
    return 1 if survivors else 0


def cmd_status(args) -> int:
    from arlm.infra.stack import Stack

    st = Stack(get_home(args.home)).status()
    if args.json:
        print(json.dumps(st, indent=2))
    elif not st:
        print("no stack recorded in this home (arlm infra up starts one)")
    for name, s in st.items() if not args.json else ():
        state = "healthy" if s["healthy"] else ("running, not healthy" if s["alive"] else "not running")
        print(f"{name:8s} {state:22s} pid {s['pid']:<8d} {s['url']}  log: {s['log']}")
    return 0 if all(s["healthy"] for s in st.values()) else 1


def cmd_env(args) -> int:
    import shlex

    from arlm.infra.stack import Stack

    stack = Stack(get_home(args.home))
    for k, v in stack.client_env().items():
        print(f"export {k}={shlex.quote(v)}")
    cfg = stack.config()
    if cfg is not None and "ray" in cfg.services:
        print(f"# Ray head: arlm ... --ray-address {cfg.ray_address}  (arlm deploy sets it on the deployments)")
    if cfg is not None and cfg.exposed:
        # The secret stays in its 0600 file; the shell reads it, nothing prints it.
        print(f'export PREFECT_API_AUTH_STRING="$(cat {shlex.quote(str(stack.auth_path))})"')
    return 0


def cmd_deploy(args) -> int:
    from arlm.infra.deploy import DEFAULT_CRON, DEFAULT_TIMEZONE, DeployOptions, deploy

    opts = DeployOptions(
        names=args.only,
        cron=args.cron or DEFAULT_CRON,
        timezone=args.timezone or DEFAULT_TIMEZONE,
        schedule_active=not args.no_schedule,
        work_pool=args.pool,
        api_url=args.api_url,
        ray_address=args.ray_address,
        project_dir=args.project_dir,
    )
    deploy(get_home(args.home), opts)
    return 0


def cmd_doctor(args) -> int:
    """Orphans, stuck MLflow runs and the training slot, in that order (cheapest first)."""
    import os

    from arlm.infra import procs, reaper

    home = get_home(args.home)
    dry = args.dry_run
    found = 0
    print(f"home: {home.root}{'  (dry run: nothing is changed)' if dry else ''}")

    # 1. processes of earlier runs whose CLI is gone
    pdir = home.root / "procs"
    orphans_total = 0
    for path in sorted(pdir.glob("*.json")) if pdir.is_dir() else []:
        rec = reaper.read_record(path)
        if rec is None:
            continue
        if procs.is_alive(rec["pid"], rec["start_time"]):
            if rec["pid"] != os.getpid():
                print(
                    f"running: arlm pid {rec['pid']} ({rec.get('command', '')[:80]}), "
                    f"{len(rec['children'])} child process(es)"
                )
            continue
        live = {p: st for p, st in rec["children"].items() if procs.is_alive(p, st)}
        for p in live:
            print(f"orphan: pid {p} ({_cmdline(p)}) left by arlm pid {rec['pid']} ({rec.get('command', '')[:60]})")
        orphans_total += len(live)
        if not dry:
            left = [p for p in reaper.terminate(live) if procs.is_alive(p, live[p])]
            if live:
                print(f"  stopped {len(live) - len(left)} of {len(live)}")
            if not left:
                path.unlink(missing_ok=True)
    print(f"orphan processes: {orphans_total}")
    found += orphans_total

    # 2. MLflow runs left RUNNING by a dead process
    from arlm.training.tracking import reclaim_stale_runs

    stuck = (
        reclaim_stale_runs(home.mlflow_tracking_uri, dry_run=dry)
        if (home.mlflow_dir / "mlflow.db").exists() or os.environ.get("MLFLOW_TRACKING_URI")
        else []
    )
    for rid in stuck:
        print(f"stuck MLflow run {rid}: owner process is dead -> {'would mark' if dry else 'marked'} KILLED")
    print(f"stuck MLflow runs: {len(stuck)}")
    found += len(stuck)

    # 3. the training slot (Prefect)
    if not args.no_prefect:
        if not os.environ.get("PREFECT_API_URL"):
            from arlm.infra import prefect_server

            prefect_server.install()
        from arlm.infra import slots

        rep = slots.inspect(slots.TRAINING_SLOT)
        for line in slots.summary(rep):
            print(line)
        actions = slots.reclaim(slots.TRAINING_SLOT, dry_run=dry)
        for line in actions:
            print(line)
        found += sum(1 for a in actions if "failed" not in a)
    print("nothing to clear" if not found else (f"{found} problem(s) found" + ("" if dry else ", cleared")))
    return 0


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
    return raw[:80]
