"""Small clients of the Prefect and MLflow REST APIs, over plain HTTP.

Why not the Python SDKs: these are what a web UI, a cron job on another machine, or a test sees;
they need nothing but ``httpx`` and keep the check honest (the server answers, not a local store).
"""

from __future__ import annotations

import base64
import time
import urllib.parse
from typing import Any

from arlm.errors import ArlmError, NotFoundError

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


class PrefectAPI:
    """The Prefect server's REST API at ``api_url`` (``http://host:port/api``)."""

    def __init__(self, api_url: str, auth: str | None = None, timeout: float = 30.0):
        import httpx

        headers = {}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
        self.api_url = api_url.rstrip("/")
        self.http = httpx.Client(base_url=self.api_url, headers=headers, timeout=timeout)

    def _ok(self, r) -> Any:
        if r.status_code == 404:
            raise NotFoundError(f"{r.request.method} {r.request.url}: not found")
        if r.status_code >= 400:
            raise ArlmError(f"{r.request.method} {r.request.url}: HTTP {r.status_code} {r.text[:300]}")
        return r.json() if r.content else None

    def health(self) -> bool:
        try:
            return self.http.get("/health").status_code == 200
        except Exception:
            return False

    def deployment(self, flow_name: str, deployment_name: str) -> dict:
        return self._ok(self.http.get(f"/deployments/name/{urllib.parse.quote(flow_name)}/"
                                      f"{urllib.parse.quote(deployment_name)}"))

    def deployments(self) -> list[dict]:
        return self._ok(self.http.post("/deployments/filter", json={}))

    def create_run(self, deployment_id: str, parameters: dict | None = None, name: str | None = None) -> dict:
        body: dict[str, Any] = {"parameters": parameters or {}}
        if name:
            body["name"] = name
        return self._ok(self.http.post(f"/deployments/{deployment_id}/create_flow_run", json=body))

    def flow_run(self, run_id: str) -> dict:
        return self._ok(self.http.get(f"/flow_runs/{run_id}"))

    def flow_runs(self, deployment_id: str | None = None, limit: int = 50,
                  states: list[str] | None = None) -> list[dict]:
        """Newest first; ``states`` keeps only runs in those state types (a schedule keeps up to
        100 future runs SCHEDULED, which would otherwise fill the page)."""
        body: dict[str, Any] = {"limit": limit, "sort": "EXPECTED_START_TIME_DESC"}
        if deployment_id:
            body["deployments"] = {"id": {"any_": [deployment_id]}}
        if states:
            body["flow_runs"] = {"state": {"type": {"any_": list(states)}}}
        return self._ok(self.http.post("/flow_runs/filter", json=body))

    def wait(self, run_id: str, timeout: float, poll: float = 2.0) -> dict:
        """Poll until the run reaches a terminal state; raise ArlmError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.flow_run(run_id)
            if (run.get("state_type") or "") in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise ArlmError(f"flow run {run_id} still {run.get('state_name')} after {timeout:.0f} s")
            time.sleep(poll)

    def logs(self, flow_run_id: str, limit: int = 200) -> list[dict]:
        """Log rows (``message``, ``task_run_id``, ``level``...) of a flow run and its task runs,
        oldest first (paged: the API caps a page)."""
        out: list[dict] = []
        while True:
            page = self._ok(self.http.post("/logs/filter", json={
                "logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC",
                "limit": limit, "offset": len(out)}))
            out += page
            if len(page) < limit:
                return out

    def task_runs(self, flow_run_id: str) -> list[dict]:
        return self._ok(self.http.post("/task_runs/filter", json={
            "flow_runs": {"id": {"any_": [flow_run_id]}}, "sort": "EXPECTED_START_TIME_ASC"}))

    def set_schedules_active(self, deployment: dict, active: bool) -> None:
        for s in deployment.get("schedules", []):
            self._ok(self.http.patch(f"/deployments/{deployment['id']}/schedules/{s['id']}",
                                     json={"active": active}))

    def add_schedule(self, deployment_id: str, schedule: dict, active: bool = True) -> list[dict]:
        """Add a schedule, e.g. ``{"cron": "* * * * *", "timezone": "UTC"}``, to a deployment."""
        return self._ok(self.http.post(f"/deployments/{deployment_id}/schedules",
                                       json=[{"schedule": schedule, "active": active}]))

    def set_parameters(self, deployment_id: str, parameters: dict) -> None:
        """Replace a deployment's default parameters (what its runs and the UI form start from)."""
        self._ok(self.http.patch(f"/deployments/{deployment_id}", json={"parameters": parameters}))


class MlflowAPI:
    """The MLflow tracking server's REST API (``/api/2.0/mlflow``)."""

    def __init__(self, url: str, timeout: float = 30.0):
        import httpx

        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url + "/api/2.0/mlflow", timeout=timeout)

    def model_versions(self, name: str) -> list[dict]:
        r = self.http.get("/model-versions/search", params={"filter": f"name='{name}'", "max_results": 200})
        if r.status_code >= 400:
            raise ArlmError(f"MLflow {self.url}: HTTP {r.status_code} {r.text[:300]}")
        return r.json().get("model_versions", [])

    def registered_model(self, name: str) -> dict:
        r = self.http.get("/registered-models/get", params={"name": name})
        if r.status_code == 404 or (r.status_code >= 400 and "RESOURCE_DOES_NOT_EXIST" in r.text):
            raise NotFoundError(f"MLflow {self.url}: no registered model {name!r}")
        if r.status_code >= 400:
            raise ArlmError(f"MLflow {self.url}: HTTP {r.status_code} {r.text[:300]}")
        return r.json()["registered_model"]
