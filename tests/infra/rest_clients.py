"""Small clients of the Prefect and MLflow REST APIs, over plain HTTP (standard library only).

The live-stack tests drive the servers the way a web UI or a cron job on another machine does:
through the REST API, not the Python SDKs (the server answers, not a local store).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


class HTTPError(AssertionError):
    """A request the server refused: method, URL, status and the start of the body."""


def request(
    base: str, method: str, path: str, body: Any = None, params: dict | None = None, timeout: float = 30.0
) -> Any:
    """``method`` ``base + path`` with a JSON body; the decoded JSON answer (None when empty)."""
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
    except urllib.error.HTTPError as exc:
        raise HTTPError(f"{method} {url}: HTTP {exc.code} {exc.read()[:300]!r}") from None
    return json.loads(raw) if raw else None


class PrefectAPI:
    """The Prefect server's REST API at ``api_url`` (``http://host:port/api``)."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url.rstrip("/")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return request(self.api_url, method, path, body)

    def deployment(self, flow_name: str, deployment_name: str) -> dict:
        return self._call(
            "GET", f"/deployments/name/{urllib.parse.quote(flow_name)}/{urllib.parse.quote(deployment_name)}"
        )

    def deployments(self) -> list[dict]:
        return self._call("POST", "/deployments/filter", {})

    def create_run(self, deployment_id: str, parameters: dict | None = None) -> dict:
        return self._call("POST", f"/deployments/{deployment_id}/create_flow_run", {"parameters": parameters or {}})

    def flow_run(self, run_id: str) -> dict:
        return self._call("GET", f"/flow_runs/{run_id}")

    def flow_runs(
        self, deployment_id: str | None = None, limit: int = 50, states: list[str] | None = None
    ) -> list[dict]:
        """Newest first; ``states`` keeps only runs in those state types (a schedule keeps up to
        100 future runs SCHEDULED, which would otherwise fill the page)."""
        body: dict[str, Any] = {"limit": limit, "sort": "EXPECTED_START_TIME_DESC"}
        if deployment_id:
            body["deployments"] = {"id": {"any_": [deployment_id]}}
        if states:
            body["flow_runs"] = {"state": {"type": {"any_": list(states)}}}
        return self._call("POST", "/flow_runs/filter", body)

    def wait(self, run_id: str, timeout: float, poll: float = 2.0) -> dict:
        """Poll until the run reaches a terminal state; fail the test on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.flow_run(run_id)
            if (run.get("state_type") or "") in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"flow run {run_id} still {run.get('state_name')} after {timeout:.0f} s")
            time.sleep(poll)

    def logs(self, flow_run_id: str, limit: int = 200) -> list[dict]:
        """Log rows (``message``, ``task_run_id``, ``level``...) of a flow run and its task runs,
        oldest first (paged: the API caps a page)."""
        out: list[dict] = []
        while True:
            page = self._call(
                "POST",
                "/logs/filter",
                {
                    "logs": {"flow_run_id": {"any_": [flow_run_id]}},
                    "sort": "TIMESTAMP_ASC",
                    "limit": limit,
                    "offset": len(out),
                },
            )
            out += page
            if len(page) < limit:
                return out

    def task_runs(self, flow_run_id: str) -> list[dict]:
        return self._call(
            "POST",
            "/task_runs/filter",
            {"flow_runs": {"id": {"any_": [flow_run_id]}}, "sort": "EXPECTED_START_TIME_ASC"},
        )

    def set_schedules_active(self, deployment: dict, active: bool) -> None:
        for s in deployment.get("schedules", []):
            self._call("PATCH", f"/deployments/{deployment['id']}/schedules/{s['id']}", {"active": active})

    def add_schedule(self, deployment_id: str, schedule: dict, active: bool = True) -> list[dict]:
        """Add a schedule, e.g. ``{"cron": "* * * * *", "timezone": "UTC"}``, to a deployment."""
        return self._call("POST", f"/deployments/{deployment_id}/schedules", [{"schedule": schedule, "active": active}])

    def set_parameters(self, deployment_id: str, parameters: dict) -> None:
        """Replace a deployment's default parameters (what its runs and the UI form start from)."""
        self._call("PATCH", f"/deployments/{deployment_id}", {"parameters": parameters})


class MlflowAPI:
    """The MLflow tracking server's REST API (``/api/2.0/mlflow``)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def model_versions(self, name: str) -> list[dict]:
        answer = request(
            self.url + "/api/2.0/mlflow",
            "GET",
            "/model-versions/search",
            params={"filter": f"name='{name}'", "max_results": 200},
        )
        return (answer or {}).get("model_versions", [])
