"""Cluster mode, checked without a Docker engine or a Kubernetes API: structure, wiring, no secrets."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from conftest import need_service

INFRA = Path(__file__).resolve().parents[2] / "infra"
COMPOSE = INFRA / "compose" / "docker-compose.yaml"
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|AUTH_STRING|ACCESS_KEY", re.IGNORECASE)
INTERP = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_the_whole_topology_wired_together():
    doc = _compose()
    services = doc["services"]
    assert {"postgres", "minio", "prefect-server", "prefect-worker", "mlflow", "ray-head", "ray-worker"} <= set(
        services
    )
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        deps = svc.get("depends_on", {})
        assert set(deps) <= set(services), (name, deps)
    worker_env = services["prefect-worker"]["environment"]
    assert worker_env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert worker_env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "RAY_ADDRESS" not in worker_env  # it would break every local ray.init(num_cpus=...)
    assert worker_env["RAY_AUTH_MODE"] == "token"
    assert (
        "postgres:5432/prefect" in services["prefect-server"]["environment"]["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    )
    assert "postgres:5432/mlflow" in services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]
    mlflow_cmd = " ".join(services["mlflow"]["command"])
    for flag in (
        "--workers=1",
        "--serve-artifacts",
        "--artifacts-destination=s3://mlflow/",
        "--allowed-hosts=",
        "--cors-allowed-origins=",
    ):
        assert flag in mlflow_cmd
    assert "postgres" not in mlflow_cmd  # the store URI (with its password) stays out of argv
    assert "--address=ray-head:6380" in " ".join(services["ray-worker"]["command"])
    # Shared storage for Ray checkpoints: the same volume at the same path on head, workers, flow runs.
    for name in ("ray-head", "ray-worker", "prefect-worker"):
        assert "arlm-home:/data/arlm" in services[name]["volumes"], name
    assert set(doc["volumes"]) >= {"pgdata", "minio-data", "arlm-home"}


def test_compose_binds_loopback_and_keeps_secrets_out():
    doc = _compose()
    for name, svc in doc["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("${BIND:-127.0.0.1}:"), (name, port)
        env = svc.get("environment", {})
        for key, value in env.items():
            if SECRET_KEY.search(key):
                assert str(value).startswith("${") and ":?" in str(value), f"{name}.{key} must come from .env"
            if "://" in str(value) and "@" in str(value):
                assert re.search(r":\$\{[A-Z_]+:\?", str(value)), f"{name}.{key}: password must be interpolated"
    # every variable the file needs is documented in .env.example
    needed = set(INTERP.findall(COMPOSE.read_text()))
    example = {
        line.split("=", 1)[0]
        for line in (INFRA / "compose" / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert needed <= example, needed - example
    assert not (INFRA / "compose" / ".env").exists(), "a real .env must never be committed"


def _compose_cli() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_config_accepts_the_file(tmp_path):
    cli = _compose_cli()
    need_service(
        cli is not None, "neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)"
    )
    env_file = tmp_path / "compose.env"
    env_file.write_text((INFRA / "compose" / ".env.example").read_text())
    ok = subprocess.run(
        [*cli, "--env-file", str(env_file), "-f", str(COMPOSE), "config"], capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    rendered = yaml.safe_load(ok.stdout)
    assert rendered["services"]["mlflow"]["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    # Without the secrets, compose refuses to render instead of starting with empty passwords.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    bad = subprocess.run(
        [*cli, "--env-file", str(empty), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert bad.returncode != 0 and "POSTGRES_PASSWORD" in bad.stdout + bad.stderr


def _containers(template: dict) -> list[dict]:
    spec = template["spec"]
    assert spec["containers"], "a pod template needs containers"
    for c in spec["containers"]:
        assert c.get("name") and c.get("image"), c
        limits, requests = c["resources"]["limits"], c["resources"]["requests"]
        assert limits["memory"] and requests["cpu"]
    return spec["containers"]


def test_kuberay_raycluster_manifest_has_the_required_shape():
    docs = list(yaml.safe_load_all((INFRA / "k8s" / "raycluster.yaml").read_text()))
    (rc,) = [d for d in docs if d and d.get("kind") == "RayCluster"]
    assert rc["apiVersion"] == "ray.io/v1" and rc["metadata"]["name"]
    head = rc["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["port"] == "6380"
    assert all(isinstance(v, str) for v in head["rayStartParams"].values()), "rayStartParams values are strings"
    volumes = {v["name"] for v in head["template"]["spec"]["volumes"]}
    assert "arlm-home" in volumes
    for c in _containers(head["template"]):
        assert {"name": "RAY_AUTH_MODE", "value": "token"} in c["env"]
    groups = rc["spec"]["workerGroupSpecs"]
    assert groups and len({g["groupName"] for g in groups}) == len(groups)
    for g in groups:
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"], g["groupName"]
        assert all(isinstance(v, str) for v in g["rayStartParams"].values())
        for c in _containers(g["template"]):
            assert {"name": "arlm-home", "mountPath": "/data/arlm"} in c["volumeMounts"]
    pvc = yaml.safe_load((INFRA / "k8s" / "shared-storage.yaml").read_text())
    assert pvc["kind"] == "PersistentVolumeClaim" and pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_prefect_worker_helm_values_point_at_a_self_hosted_server():
    values = yaml.safe_load((INFRA / "k8s" / "prefect-worker-values.yaml").read_text())["worker"]
    assert values["apiConfig"] == "selfHostedServer"
    assert values["selfHostedServerApiConfig"]["apiUrl"].endswith(":4200/api")
    assert values["selfHostedServerApiConfig"]["basicAuth"] == {"enabled": True, "existingSecret": "prefect-auth"}
    assert values["config"]["workPool"] == "arlm-process" and values["config"]["type"] == "process"
    env = {e["name"]: e for e in values["extraEnvVars"]}
    assert {"MLFLOW_TRACKING_URI", "ARLM_HOME", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN"} <= set(env)
    assert "valueFrom" in env["RAY_AUTH_TOKEN"] and "value" not in env["RAY_AUTH_TOKEN"]
