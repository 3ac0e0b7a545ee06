"""Read-only views of the registry for ``arlm models list / show``.

They go through :func:`arlm.registry.sqlite_registry.registry_client`: the home's SQLite store is
read without importing MLflow (these commands answer in well under 2 s), other stores through
``MlflowClient``.
"""

from __future__ import annotations

from typing import Any

from arlm.errors import NotFoundError
from arlm.registry.gate import BPB_TAG, CHAMPION, HISTORY_TAG
from arlm.registry.missing import is_missing, registry_listing
from arlm.registry.sqlite_registry import registry_client


def list_models(*, tracking_uri: str | None = None) -> list[dict[str, Any]]:
    """One row per registered model: latest version, aliases, champion's test bits per byte."""
    client = registry_client(tracking_uri)
    rows = []
    for m in client.search_registered_models(order_by=["name ASC"]):
        aliases = {a: str(v) for a, v in (m.aliases or {}).items()}
        versions = client.search_model_versions(f"name='{m.name}'")
        latest = max((int(v.version) for v in versions), default=None)
        champ_bpb = None
        if CHAMPION in aliases:
            champ = next((v for v in versions if str(v.version) == aliases[CHAMPION]), None)
            champ_bpb = champ.tags.get(BPB_TAG) if champ is not None else None
        rows.append(
            {
                "name": m.name,
                "latest_version": latest,
                "n_versions": len(versions),
                "aliases": aliases,
                "champion_test_bpb": float(champ_bpb) if champ_bpb else None,
            }
        )
    return rows


def show_model(name: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """A registered model with every version's aliases, gate outcome and arlm tags."""
    client = registry_client(tracking_uri)
    try:
        m = client.get_registered_model(name)
    except Exception as exc:  # MlflowException or RegistryMissing
        if is_missing(exc):
            raise NotFoundError(f"no registered model named {name!r}; {registry_listing(client)}") from None
        raise
    by_version: dict[str, list[str]] = {}
    for alias, v in (m.aliases or {}).items():
        by_version.setdefault(str(v), []).append(alias)
    versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    return {
        "name": name,
        "aliases": {a: str(v) for a, v in (m.aliases or {}).items()},
        "champion_history": m.tags.get(HISTORY_TAG, "[]"),
        "versions": [
            {
                "version": str(v.version),
                "aliases": sorted(by_version.get(str(v.version), [])),
                "created": v.creation_timestamp,
                "run_id": v.run_id,
                "source": v.source,
                "tags": {k: val for k, val in sorted((v.tags or {}).items())},
                "description": v.description or "",
            }
            for v in versions
        ],
    }
