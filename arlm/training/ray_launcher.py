"""Ray Train launches the one training loop on N workers (Ray is imported inside the functions here;
the only other modules that import it are ``arlm.data.parallel`` and ``arlm.tokenizers.parallel``,
for parallel ingest and tokenization).

``TorchTrainer`` starts the workers and their torch process group (gloo on CPU, NCCL on GPU);
each worker runs :func:`arlm.training.train`, which sees the process group and wraps the model in
DDP with a rank-disjoint sampler. The loop writes checkpoints into the run folder; rank 0 also
reports them to Ray so that, on a cluster without a shared file system, a restarted worker group
restores from Ray's storage. ``FailureConfig(max_failures)`` restarts the group when a worker dies,
and the loop resumes from its latest checkpoint. Rank 0 logs to MLflow (run created by the driver).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arlm.errors import ConfigError
from arlm.versioning import atomic_write_json, read_json

RESULT_FILE = "result.json"
WORKERS_FILE = "workers.jsonl"

RAY_ENV_DEFAULTS = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",  # local dev default; a cluster sets its own, on every process
    "RAY_TRAIN_V2_ENABLED": "1",
}


@dataclass(frozen=True)
class RayOptions:
    num_workers: int = 1
    use_gpu: bool | None = None  # None: use GPUs when the cluster has them
    address: str | None = None  # None: a local Ray is started (or reused)
    max_failures: int = 2
    storage_path: str | None = None  # None: <home>/ray; give shared storage on a cluster
    cpus_per_worker: float | None = None  # None: the local cores split evenly
    placement_strategy: str = "PACK"  # SPREAD puts workers on different nodes
    # Ray keeps a copy of every reported checkpoint in its storage: only the newest K stay (the
    # loop's own checkpoints/latest and best are what resume and registration read)
    keep_checkpoints: int = 2

    def validate(self) -> None:
        if self.num_workers < 1:
            raise ConfigError(f"--workers must be >= 1 (got {self.num_workers})")
        if self.keep_checkpoints < 1:
            raise ConfigError(f"keep_checkpoints must be >= 1 (got {self.keep_checkpoints})")
        if self.max_failures < -1:
            raise ConfigError(f"max_failures must be >= -1 (got {self.max_failures})")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    if hasattr(cfg, "model_dump"):
        return cfg.model_dump()
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    raise TypeError(f"unsupported config type {type(cfg).__name__}")


def _debug() -> bool:
    return os.environ.get("ARLM_DEBUG") == "1"


def ensure_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` or start a quiet local Ray on loopback.

    The local Ray is this process's own (``address="local"``: never whatever another program left
    running), bound to 127.0.0.1 (GCS, raylet, dashboard and its agents), and its processes die
    with this one, even under SIGKILL (Ray gives them a parent-death signal). Ray's own INFO logs
    stay out of the output unless ``ARLM_DEBUG=1`` (``arlm --debug``); the workers' output (the
    training progress lines) still reaches the driver.
    """
    for k, v in RAY_ENV_DEFAULTS.items():
        os.environ.setdefault(k, v)
    import ray

    if ray.is_initialized():
        return
    loopback_only = not address and "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in os.environ
    if loopback_only:
        # Ray picks the machine's address for a "cluster-capable" node; with this off it uses
        # loopback for every process it starts (read when Ray is imported, and by its children).
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import logging

    level = logging.INFO if _debug() else logging.WARNING
    kwargs: dict[str, Any] = {"log_to_driver": True, "configure_logging": True, "logging_level": level}
    # Workers must import arlm: it is installed in the venv locally; on a cluster install it there.
    if address:
        ray.init(address=address, **kwargs)
    else:
        from ray._private import ray_constants

        cluster_capable = ray_constants.ENABLE_RAY_CLUSTER
        if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0":
            ray_constants.ENABLE_RAY_CLUSTER = False  # Ray was imported before the line above
        # The dashboard process also serves Ray's state API, which Train's controller polls:
        # without it the driver logs a warning every second. Bound to loopback.
        # address="local": always a new Ray of our own, never silently attach to whatever cluster
        # another program left running on this machine (that is what --ray-address is for)
        # Ray's state API, called with no address inside Ray's own actors (Train's placement
        # group cleaner), auto-detects "the" local cluster and fails with a 30-line "Found
        # multiple active Ray instances" traceback when other Rays run on the machine. Naming
        # the API server beforehand reaches every process this Ray starts (they inherit it).
        from arlm.infra.procs import free_port

        dash_port = free_port()
        os.environ["RAY_API_SERVER_ADDRESS"] = f"http://127.0.0.1:{dash_port}"
        try:
            ray.init(
                address="local",
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=True,
                dashboard_host="127.0.0.1",
                dashboard_port=dash_port,
                **kwargs,
            )
        finally:
            if loopback_only:  # its processes have it; other programs we start (`ray start`) must not
                os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
                ray_constants.ENABLE_RAY_CLUSTER = cluster_capable  # nor a later connection to a cluster
    # Name our cluster explicitly for code that looks one up by itself (Ray's state API): with
    # several Rays on the machine, auto-detection fails with "Found multiple active Ray instances".
    try:
        info = ray._private.worker.global_worker.node.address_info
        os.environ["RAY_ADDRESS"] = info["gcs_address"]
        if info.get("webui_url") and not address:
            os.environ["RAY_API_SERVER_ADDRESS"] = "http://" + info["webui_url"]
    except Exception:  # a Ray Client connection has no local node
        pass


def _train_logging() -> dict[str, Any]:
    """Ray Train's own INFO lines ("Requesting resources", "Attempting to start training worker
    group", ...) only with ``--debug``; warnings and errors always."""
    try:
        from ray.train import LoggingConfig
    except ImportError:  # an older Ray: its default
        return {}
    return {"logging_config": LoggingConfig(log_level="INFO" if _debug() else "WARNING")}


def _gpu_available(address: str | None) -> bool:
    import ray

    return float(ray.cluster_resources().get("GPU", 0)) > 0


def _worker_loop(config: dict[str, Any]) -> None:
    """Runs on every Ray Train worker."""
    import ray.train
    import torch

    from arlm.training import TrainConfig, train

    if not _debug():  # MLflow's INFO lines from the worker ("Started monitoring system metrics")
        import logging

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("ray.train").setLevel(logging.WARNING)
        try:  # "Reporting training result N: ..." comes from a logger named by its file's path
            from ray.train.v2._internal.execution import context as train_context

            logging.getLogger(train_context.__file__).setLevel(logging.WARNING)
        except ImportError:  # another Ray layout: the line stays
            pass
    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    threads = int(config.get("threads") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    out_dir = Path(config["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    latest = out_dir / "checkpoints" / "latest"

    # A worker group restarted after a failure: if the run folder is not shared with the node
    # that wrote the checkpoint, restore it from Ray's storage.
    ray_ckpt = ray.train.get_checkpoint()
    if ray_ckpt is not None and not latest.exists():
        with ray_ckpt.as_directory() as d:
            tmp = latest.with_name(f"latest.tmp-{uuid.uuid4().hex[:8]}")
            shutil.copytree(d, tmp)
            os.replace(tmp, latest)
    import ray

    node = ray.get_runtime_context().get_node_id()
    # One line per worker start: which process ran which rank where (the failure and
    # multi-node tests read it; operators use it to find a worker's logs).
    with open(out_dir / WORKERS_FILE, "a") as f:
        f.write(
            json.dumps(
                {
                    "time": time.time(),
                    "rank": rank,
                    "world_size": ctx.get_world_size(),
                    "pid": os.getpid(),
                    "node_id": node,
                    "restored": ray_ckpt is not None,
                }
            )
            + "\n"
        )

    logger = None
    if rank == 0 and config.get("mlflow_run_id"):
        from arlm.training.tracking import RunLogger

        logger = RunLogger(config["tracking_uri"], config["mlflow_run_id"])
        logger.start_system_metrics()

    def reporter(metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        step = int(metrics.get("step", 0))
        if logger is not None:
            if metrics.get("kind") in ("train", "eval"):
                logger.log_metrics({k: v for k, v in metrics.items() if k not in ("step", "kind")}, step)
        if metrics.get("kind") not in ("checkpoint", "final"):
            return  # per-step and eval numbers go to MLflow; Ray gets checkpoints and the end
        clean = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
        ckpt = None
        if rank == 0 and checkpoint_dir is not None and Path(checkpoint_dir).exists():
            ckpt = ray.train.Checkpoint.from_directory(str(checkpoint_dir))
        ray.train.report(clean, checkpoint=ckpt)

    cfg = TrainConfig.from_dict(config["train"])
    try:
        result = train(cfg, Path(config["dataset_path"]), out_dir, reporter=reporter, resume=True)
    finally:
        if logger is not None:
            logger.stop_system_metrics()
    if rank == 0:
        summary = config_to_dict(result) if not isinstance(result, dict) else dict(result)
        summary["world_size"] = ctx.get_world_size()
        atomic_write_json(out_dir / RESULT_FILE, summary)


@dataclass
class LaunchResult:
    out_dir: Path
    result: dict[str, Any]  # the loop's TrainResult as a dict
    restarts: int
    wall_seconds: float
    ray_storage: str
    workers: list[dict[str, Any]]


def train_with_ray(
    train_cfg: Any,
    dataset_path: Path,
    out_dir: Path,
    *,
    options: RayOptions,
    storage_path: Path,
    run_name: str,
    tracking_uri: str | None = None,
    mlflow_run_id: str | None = None,
) -> LaunchResult:
    """Run the training loop under Ray Train's ``TorchTrainer`` and return the rank-0 result."""
    options.validate()
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    ensure_ray(options.address)
    import ray

    use_gpu = _gpu_available(options.address) if options.use_gpu is None else options.use_gpu
    cpus = options.cpus_per_worker
    if cpus is None:
        total = float(ray.cluster_resources().get("CPU", 1.0))
        cpus = max(1.0, (total // options.num_workers)) if options.address is None else 1.0
    resources = {"CPU": cpus}
    if use_gpu:
        resources["GPU"] = 1
    storage = options.storage_path or str(storage_path)
    Path(storage).mkdir(parents=True, exist_ok=True) if "://" not in storage else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={
            "train": config_to_dict(train_cfg),
            "dataset_path": str(dataset_path),
            "out_dir": str(out_dir),
            "threads": int(cpus),
            "tracking_uri": tracking_uri,
            "mlflow_run_id": mlflow_run_id,
        },
        scaling_config=ScalingConfig(
            num_workers=options.num_workers,
            use_gpu=use_gpu,
            resources_per_worker=resources,
            placement_strategy=options.placement_strategy,
        ),
        run_config=RunConfig(
            # A unique name: a reused name would resume the old run (see docs/stack.md).
            name=f"{run_name}-{uuid.uuid4().hex[:6]}",
            storage_path=storage,
            failure_config=FailureConfig(max_failures=options.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=options.keep_checkpoints),
            **_train_logging(),
        ),
    )
    if hasattr(trainer, "_register_sigint_handler"):
        # Ray Train replaces the SIGINT handler with one that asks its controller to abort and
        # then calls sys.exit (status 1, after a wait); the CLI's own handler stops at once and
        # Ray's processes go with it (arlm.cli.main).
        trainer._register_sigint_handler = lambda controller: None
    t0 = time.time()
    trainer.fit()
    wall = time.time() - t0
    result_file = out_dir / RESULT_FILE
    if not result_file.exists():
        raise RuntimeError(f"training finished without a result file at {result_file}")
    starts = worker_starts(out_dir)
    attempts = sum(1 for w in starts if w["rank"] == 0)
    return LaunchResult(
        out_dir=out_dir,
        result=read_json(result_file),
        restarts=max(0, attempts - 1),
        wall_seconds=wall,
        ray_storage=storage,
        workers=starts,
    )


def worker_starts(out_dir: Path) -> list[dict[str, Any]]:
    """Every worker start of a run (rank, pid, node), in order; restarts add lines."""
    path = Path(out_dir) / WORKERS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
