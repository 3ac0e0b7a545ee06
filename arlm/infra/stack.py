"""The local stack: Prefect server, a process worker, an MLflow server and a Ray head, as processes.

It is the same topology as ``infra/compose`` and ``infra/k8s``, run on one machine without
containers. ``up`` starts what is not running yet and health-checks it, ``down`` stops only what
``up`` recorded, ``status`` reports each service. State lives in ``<home>/infra/stack.json``
(pids, ports, URLs; never a secret), logs in ``<home>/logs/<service>.log``.

Security: everything binds 127.0.0.1 unless ``host`` says otherwise. When exposed, the Prefect API
requires basic auth (``PREFECT_SERVER_API_AUTH_STRING``; taken from the environment or generated
into ``<home>/infra/prefect-auth``, mode 0600), MLflow only answers the allowed Host/Origin headers,
and Ray uses token auth. Database URLs travel in environment variables, not on command lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from arlm.errors import ArlmError, ConfigError
from arlm.home import Home
from arlm.infra import procs
from arlm.infra.procs import ProcInfo
from arlm.versioning import atomic_write_json, read_json

SERVICES = ("prefect", "mlflow", "ray", "worker")  # start order; `down` goes in reverse
LOOPBACK = ("127.0.0.1", "localhost", "::1")

# Telemetry of the stack fails offline and once locked a fresh Prefect DB (docs/stack.md).
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "RAY_USAGE_STATS_ENABLED": "0",
    "DO_NOT_TRACK": "1",
}


@dataclass
class StackConfig:
    """What ``arlm infra up`` starts and where. Every field has a CLI flag of the same name."""

    host: str = "127.0.0.1"
    public_hosts: list[str] = field(default_factory=list)  # names clients use when exposed
    prefect_port: int = 4200
    mlflow_port: int = 5000
    ray_port: int = 6380  # Redis owns 6379 on these machines
    ray_dashboard_port: int = 8266  # 8265 is the default of every local ray.init()
    ray_client_port: int = 10001  # Ray's default; outside Ray's worker range 10002-19999
    prefect_db: str | None = None  # None: SQLite under the home; or postgresql+asyncpg://...
    mlflow_db: str | None = None  # None: SQLite under the home; or postgresql://...
    work_pool: str = "arlm-process"
    worker_limit: int | None = None
    worker_query_seconds: float = 5.0
    scheduler_loop_seconds: float | None = None  # Prefect's default 60 s; tests use less
    ray_num_cpus: int | None = None
    ray_memory: str = "4G"
    ray_object_store_memory: str = "512M"
    services: list[str] = field(default_factory=lambda: list(SERVICES))
    timeout_s: float = 120.0

    @property
    def exposed(self) -> bool:
        return self.host not in LOOPBACK

    @property
    def client_host(self) -> str:
        """The host name local clients use (a wildcard bind is reached through loopback)."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.client_host}:{self.prefect_port}/api"

    @property
    def mlflow_url(self) -> str:
        return f"http://{self.client_host}:{self.mlflow_port}"

    @property
    def ray_address(self) -> str:
        return f"{self.client_host}:{self.ray_port}"

    def validate(self) -> StackConfig:
        unknown = sorted(set(self.services) - set(SERVICES))
        if unknown:
            raise ConfigError(f"--services: unknown service(s) {unknown}; choose from {list(SERVICES)}")
        if "worker" in self.services and "prefect" not in self.services:
            raise ConfigError("--services: 'worker' needs 'prefect' (the worker polls that server)")
        ports = {
            "prefect_port": self.prefect_port,
            "mlflow_port": self.mlflow_port,
            "ray_port": self.ray_port,
            "ray_dashboard_port": self.ray_dashboard_port,
            "ray_client_port": self.ray_client_port,
        }
        for name, port in ports.items():
            if not 0 < port < 65536:
                raise ConfigError(f"--{name.replace('_', '-')}: {port} is not a TCP port")
        for name in ("ray_port", "ray_dashboard_port", "ray_client_port"):
            if 10002 <= ports[name] <= 19999:
                raise ConfigError(
                    f"--{name.replace('_', '-')}: {ports[name]} is inside Ray's worker port range 10002-19999"
                )
        if len(set(ports.values())) != len(ports):
            raise ConfigError(f"ports must differ: {ports}")
        if self.prefect_db and not self.prefect_db.startswith(("sqlite", "postgresql")):
            raise ConfigError(f"--prefect-db: {redact(self.prefect_db)!r} is neither sqlite nor postgresql")
        if self.mlflow_db and not self.mlflow_db.startswith(("sqlite", "postgresql", "mysql")):
            raise ConfigError(f"--mlflow-db: {redact(self.mlflow_db)!r} is not a database URL MLflow accepts")
        parse_size(self.ray_memory, "--ray-memory")
        parse_size(self.ray_object_store_memory, "--ray-object-store-memory")
        return self

    def public_dict(self) -> dict:
        """The config as recorded in the state file: database passwords removed."""
        d = asdict(self)
        d["prefect_db"] = redact(self.prefect_db) if self.prefect_db else None
        d["mlflow_db"] = redact(self.mlflow_db) if self.mlflow_db else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> StackConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def redact(url: str | None) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host``."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url or "")


def parse_size(text: str, option: str) -> int:
    """'4G', '512M', '1.5G' or bytes -> bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ConfigError(f"{option}: {text!r} is not a size like 512M or 4G")
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[m.group(2).upper()]
    return int(float(m.group(1)) * scale)


def prefect_url_for(url: str) -> str:
    """Prefect's server speaks asyncpg / aiosqlite; accept the plain URL forms too."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def mlflow_url_for(url: str) -> str:
    """MLflow's store uses a sync driver (psycopg2): drop an async driver suffix."""
    return re.sub(r"^postgresql\+asyncpg://", "postgresql://", url)


# ----------------------------------------------------------------------------- state


class Stack:
    """One project home's local stack: its state file, secrets, logs and services."""

    def __init__(self, home: Home):
        self.home = home
        self.dir = home.root / "infra"
        self.state_path = self.dir / "stack.json"
        self.auth_path = self.dir / "prefect-auth"
        self.ray_token_path = self.dir / "ray-auth-token"

    # state -------------------------------------------------------------------
    def load(self) -> dict:
        if self.state_path.exists():
            return read_json(self.state_path)
        return {"config": None, "services": {}}

    def save(self, state: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.state_path, state)

    def config(self) -> StackConfig | None:
        c = self.load().get("config")
        return StackConfig.from_dict(c) if c else None

    def running(self) -> dict[str, ProcInfo]:
        """Recorded services whose process is still the one we started."""
        out = {}
        for name, d in self.load().get("services", {}).items():
            info = ProcInfo(**d)
            if procs.is_alive(info.pid, info.start_time):
                out[name] = info
        return out

    # secrets -----------------------------------------------------------------
    def prefect_auth(self, cfg: StackConfig) -> str | None:
        """The basic-auth string when exposed: from the environment, else a generated 0600 file."""
        if not cfg.exposed:
            return os.environ.get("PREFECT_SERVER_API_AUTH_STRING") or None
        env = os.environ.get("PREFECT_SERVER_API_AUTH_STRING")
        if env:
            return env
        return self._secret_file(self.auth_path, lambda: f"arlm:{secrets.token_urlsafe(24)}")

    def client_auth(self) -> str | None:
        """What a client of this stack sends (PREFECT_API_AUTH_STRING), if the server wants one."""
        cfg = self.config()
        if cfg is None:
            return None
        if os.environ.get("PREFECT_SERVER_API_AUTH_STRING"):
            return os.environ["PREFECT_SERVER_API_AUTH_STRING"]
        if cfg.exposed and self.auth_path.exists():
            return self.auth_path.read_text().strip()
        return None

    def _secret_file(self, path: Path, make) -> str:
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make() + "\n")
        return path.read_text().strip()

    def ray_temp_dir(self) -> Path:
        """A short path of our own: Ray's unix sockets live there (107-char limit), and a head
        in the default /tmp/ray would capture every other local ``ray.init()`` on this machine."""
        digest = hashlib.sha256(str(self.home.root).encode()).hexdigest()[:10]
        return Path("/tmp") / f"arlm-ray-{digest}"

    # environment -------------------------------------------------------------
    def client_env(self, cfg: StackConfig | None = None) -> dict[str, str]:
        """Variables that point arlm, Prefect, MLflow and Ray clients at this stack (no secrets).

        Not ``RAY_ADDRESS``: with it set, every ``ray.init(num_cpus=...)`` (arlm's local-Ray
        default) would fail; the Ray head is passed explicitly (``--ray-address``, the deployments'
        ``ray_address`` parameter)."""
        cfg = cfg or self.config()
        if cfg is None:
            return {}
        env = {"ARLM_HOME": str(self.home.root)}
        if "prefect" in cfg.services:
            env["PREFECT_API_URL"] = cfg.prefect_api_url
        if "mlflow" in cfg.services:
            env["MLFLOW_TRACKING_URI"] = cfg.mlflow_url
        if "ray" in cfg.services:
            env["RAY_AUTH_MODE"] = self._ray_auth_mode(cfg)
        return env

    def _ray_auth_mode(self, cfg: StackConfig) -> str:
        if cfg.exposed:
            return "token"
        return os.environ.get("RAY_AUTH_MODE", "disabled")

    def _base_env(self, cfg: StackConfig) -> dict[str, str]:
        env = dict(os.environ)
        for k in (
            "PREFECT_API_URL",
            "MLFLOW_TRACKING_URI",
            "RAY_ADDRESS",
            "PREFECT_API_AUTH_STRING",
            "PREFECT_SERVER_API_AUTH_STRING",
            "MLFLOW_BACKEND_STORE_URI",
        ):
            env.pop(k, None)
        env.update(QUIET_ENV)
        env["PREFECT_HOME"] = str(self.home.root / "prefect")
        env["RAY_AUTH_MODE"] = self._ray_auth_mode(cfg)
        if cfg.exposed:
            env["RAY_AUTH_TOKEN_PATH"] = str(self.ray_token_path)
        return env

    # up / down / status ------------------------------------------------------
    def up(self, cfg: StackConfig, log=print) -> dict[str, ProcInfo]:
        """Start the configured services that are not running; wait until each is healthy."""
        cfg.validate()
        self.home.ensure()
        state = self.load()
        running = self.running()
        if running and state.get("config"):
            old = StackConfig.from_dict(state["config"])
            # Keep one coherent stack: the running services were started with these ports.
            cfg = _merge_running(old, cfg, running)
        state["config"] = cfg.public_dict()
        state["services"] = {n: i.to_dict() for n, i in running.items()}
        self.save(state)
        for name in running:
            if name in cfg.services:
                log(f"{name}: already running (pid {running[name].pid})")
        started: list[ProcInfo] = []
        todo = [n for n in SERVICES if n in cfg.services and n not in running]
        # The three servers start side by side (start-up is mostly imports); the worker needs
        # the Prefect server healthy first.
        waves = [[n for n in todo if n != "worker"], [n for n in todo if n == "worker"]]
        try:
            for wave in waves:
                for name in wave:
                    info = getattr(self, f"_start_{name}")(cfg)
                    started.append(info)
                    state["services"][name] = info.to_dict()
                    self.save(state)
                for name in wave:
                    info = ProcInfo(**state["services"][name])
                    self._wait_healthy(name, info, cfg)
                    log(f"{name}: up (pid {info.pid}) {info.url}  log: {info.log}")
        except BaseException:
            for info in reversed(started):
                procs.stop(info)
                state["services"].pop(info.name, None)
            self.save(state)
            raise
        return self.running()

    def down(self, log=print, timeout: float = 10.0) -> list[int]:
        """Stop every recorded service (and its descendants). Returns pids that survived SIGKILL."""
        state = self.load()
        survivors: list[int] = []
        services = {n: ProcInfo(**d) for n, d in state.get("services", {}).items()}
        for name in reversed(SERVICES):
            info = services.get(name)
            if info is None:
                continue
            left = procs.stop(info, timeout=timeout)
            survivors += left
            log(f"{name}: stopped (pid {info.pid})" if not left else f"{name}: pids {left} survived SIGKILL")
            state["services"].pop(name, None)
            self.save(state)
        if "ray" in services:
            shutil.rmtree(self.ray_temp_dir(), ignore_errors=True)
        return survivors

    def status(self) -> dict[str, dict]:
        """Per recorded service: pid, alive, healthy, url, log."""
        cfg = self.config()
        out = {}
        for name, d in self.load().get("services", {}).items():
            info = ProcInfo(**d)
            alive = procs.is_alive(info.pid, info.start_time)
            healthy = alive and cfg is not None and self._healthy(name, info, cfg)
            out[name] = {
                "pid": info.pid,
                "alive": alive,
                "healthy": healthy,
                "url": info.url,
                "log": info.log,
                "pids": sorted(procs.tree_of(info)),
            }
        return out

    # services ----------------------------------------------------------------
    def _log(self, name: str) -> Path:
        return self.home.logs / f"{name}.log"

    def _start_prefect(self, cfg: StackConfig) -> ProcInfo:
        _require_free(cfg.host, cfg.prefect_port, "--prefect-port")
        env = self._base_env(cfg)
        db_dir = self.home.root / "prefect"
        db_dir.mkdir(parents=True, exist_ok=True)
        db = prefect_url_for(cfg.prefect_db) if cfg.prefect_db else f"sqlite+aiosqlite:///{db_dir / 'prefect.db'}"
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = db
        # Concurrency leases in files under its PREFECT_HOME: a restarted server still knows who
        # holds the training slot, and its repossessor revokes leases whose holder died.
        env.setdefault(
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE", "prefect.server.concurrency.lease_storage.filesystem"
        )
        env["PREFECT_SERVER_API_HOST"] = cfg.host
        env["PREFECT_SERVER_API_PORT"] = str(cfg.prefect_port)
        ui_host = cfg.public_hosts[0] if (cfg.exposed and cfg.public_hosts) else cfg.client_host
        env["PREFECT_UI_API_URL"] = f"http://{ui_host}:{cfg.prefect_port}/api"
        if cfg.scheduler_loop_seconds:
            env["PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"] = str(cfg.scheduler_loop_seconds)
        auth = self.prefect_auth(cfg)
        if auth:
            env["PREFECT_SERVER_API_AUTH_STRING"] = auth
        argv = [
            _bin("prefect"),
            "server",
            "start",
            "--host",
            cfg.host,
            "--port",
            str(cfg.prefect_port),
            "--no-background",
        ]
        return procs.spawn(
            "prefect",
            argv,
            env,
            self._log("prefect"),
            cwd=self.home.root,
            url=f"http://{cfg.client_host}:{cfg.prefect_port}",
        )

    def _start_mlflow(self, cfg: StackConfig) -> ProcInfo:
        _require_free(cfg.host, cfg.mlflow_port, "--mlflow-port")
        env = self._base_env(cfg)
        root = self.home.mlflow_dir / "server"
        (root / "artifacts").mkdir(parents=True, exist_ok=True)
        # A separate store from the embedded one (home/mlflow/mlflow.db): its artifacts are proxied
        # (mlflow-artifacts:/), the embedded store's are plain file paths.
        env["MLFLOW_BACKEND_STORE_URI"] = (
            mlflow_url_for(cfg.mlflow_db) if cfg.mlflow_db else f"sqlite:///{root / 'mlflow.db'}"
        )
        # MLflow 3's server starts ~8 huey job consumers (~220 MB each) for GenAI jobs that a model
        # registry does not use: off unless the operator turns them on.
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        names = sorted(
            {"127.0.0.1", "localhost", cfg.client_host, *cfg.public_hosts}
            - ({cfg.host} if cfg.host in ("0.0.0.0", "::") else set())
        )
        hosts = ",".join(f"{h},{h}:{cfg.mlflow_port}" for h in names)
        origins = ",".join(f"http://{h}:{cfg.mlflow_port}" for h in names)
        argv = [
            _bin("mlflow"),
            "server",
            "--host",
            cfg.host,
            "--port",
            str(cfg.mlflow_port),
            "--workers",
            "1",
            "--serve-artifacts",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--allowed-hosts",
            hosts,
            "--cors-allowed-origins",
            origins,
        ]
        return procs.spawn("mlflow", argv, env, self._log("mlflow"), cwd=self.home.root, url=cfg.mlflow_url)

    def _start_ray(self, cfg: StackConfig) -> ProcInfo:
        for port, opt in (
            (cfg.ray_port, "--ray-port"),
            (cfg.ray_dashboard_port, "--ray-dashboard-port"),
            (cfg.ray_client_port, "--ray-client-port"),
        ):
            _require_free(cfg.host, port, opt)
        env = self._base_env(cfg)
        if cfg.exposed:
            token = self._secret_file(self.ray_token_path, lambda: secrets.token_hex(32))
            del token  # Ray reads it from RAY_AUTH_TOKEN_PATH; never put it on a command line
        tmp = self.ray_temp_dir()
        tmp.mkdir(parents=True, exist_ok=True)
        argv = [
            _bin("ray"),
            "start",
            "--head",
            "--block",
            "--disable-usage-stats",
            "--port",
            str(cfg.ray_port),
            "--node-ip-address",
            cfg.client_host,
            "--dashboard-host",
            cfg.host,
            "--dashboard-port",
            str(cfg.ray_dashboard_port),
            "--ray-client-server-port",
            str(cfg.ray_client_port),
            # the agent's default 52365 collides with any other Ray on this machine
            "--dashboard-agent-listen-port",
            str(procs.free_port()),
            "--memory",
            str(parse_size(cfg.ray_memory, "--ray-memory")),
            "--object-store-memory",
            str(parse_size(cfg.ray_object_store_memory, "--ray-object-store-memory")),
            "--temp-dir",
            str(tmp),
        ]
        if cfg.ray_num_cpus is not None:
            argv += ["--num-cpus", str(cfg.ray_num_cpus)]
        return procs.spawn(
            "ray",
            argv,
            env,
            self._log("ray"),
            cwd=self.home.root,
            url=f"http://{cfg.client_host}:{cfg.ray_dashboard_port}",
        )

    def _start_worker(self, cfg: StackConfig) -> ProcInfo:
        env = self._base_env(cfg)
        env.update(self.client_env(cfg))
        auth = self.prefect_auth(cfg)
        if auth:
            env["PREFECT_API_AUTH_STRING"] = auth
        env["PREFECT_WORKER_QUERY_SECONDS"] = str(cfg.worker_query_seconds)
        env.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
        argv = [
            _bin("prefect"),
            "worker",
            "start",
            "--pool",
            cfg.work_pool,
            "--type",
            "process",
            "--name",
            self.worker_name(cfg),
        ]
        if cfg.worker_limit:
            argv += ["--limit", str(cfg.worker_limit)]
        return procs.spawn(
            "worker",
            argv,
            env,
            self._log("worker"),
            cwd=self.home.root,
            url=f"{cfg.prefect_api_url.removesuffix('/api')}/work-pools/work-pool/{cfg.work_pool}",
        )

    def worker_name(self, cfg: StackConfig) -> str:
        return f"arlm-worker-{cfg.prefect_port}"

    # health ------------------------------------------------------------------
    def _healthy(self, name: str, info: ProcInfo, cfg: StackConfig) -> bool:
        if name == "prefect":
            return procs.http_ok(f"{cfg.prefect_api_url}/health", self._auth_headers())
        if name == "mlflow":
            return procs.http_ok(f"{cfg.mlflow_url}/health")
        if name == "ray":
            return procs.tcp_ok(cfg.client_host, cfg.ray_port) and "Ray runtime started" in procs.log_tail(
                info.log, 200
            )
        if name == "worker":
            return self._worker_online(cfg)
        return False

    def _auth_headers(self) -> dict[str, str]:
        auth = self.client_auth()
        if not auth:
            return {}
        import base64

        return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}

    def _worker_online(self, cfg: StackConfig) -> bool:
        url = f"{cfg.prefect_api_url}/work_pools/{urllib.parse.quote(cfg.work_pool)}/workers/filter"
        req = urllib.request.Request(
            url, data=b"{}", method="POST", headers={"Content-Type": "application/json", **self._auth_headers()}
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                workers = json.load(r)
        except (OSError, ValueError):
            return False
        return any(w.get("name") == self.worker_name(cfg) and w.get("status") == "ONLINE" for w in workers)

    def _wait_healthy(self, name: str, info: ProcInfo, cfg: StackConfig) -> None:
        start = time.monotonic()
        ok = procs.wait_until(lambda: self._healthy(name, info, cfg), cfg.timeout_s, info)
        if not ok:
            alive = procs.is_alive(info.pid, info.start_time)
            why = "did not become healthy" if alive else "exited"
            raise ArlmError(
                f"{name} {why} after {time.monotonic() - start:.0f} s; see {info.log}:\n{procs.log_tail(info.log)}"
            )


# Settings that belong to one running service and cannot change under it.
_OWNED_BY = {
    "prefect_port": "prefect",
    "prefect_db": "prefect",
    "mlflow_port": "mlflow",
    "mlflow_db": "mlflow",
    "ray_port": "ray",
    "ray_dashboard_port": "ray",
    "ray_client_port": "ray",
    "work_pool": "worker",
    "host": "prefect",
}


def _merge_running(old: StackConfig, new: StackConfig, running: dict[str, ProcInfo]) -> StackConfig:
    """Running services keep their settings; the rest, and newly requested services, take the new ones."""
    merged = StackConfig.from_dict(
        {**asdict(old), "services": sorted(set(old.services) | set(new.services), key=SERVICES.index)}
    )
    for f in fields(StackConfig):
        if f.name != "services" and _OWNED_BY.get(f.name) not in running:
            setattr(merged, f.name, getattr(new, f.name))
    return merged


def _require_free(host: str, port: int, option: str) -> None:
    if procs.port_in_use(host, port):
        raise ConfigError(f"{option}: port {port} on {host} is already in use; pick another or stop its owner")


def _bin(name: str) -> str:
    """The console script installed next to this interpreter (the venv's), else from PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise ConfigError(f"`{name}` is not installed in {Path(sys.executable).parent} nor on PATH")
    return found
