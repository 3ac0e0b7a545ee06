"""The model registry of an embedded MLflow SQLite store, read and written without importing MLflow.

``import mlflow`` alone takes 2-3 s and opening its SQL store another 1-4 s, which made every
``arlm models list/show/promote/rollback`` take 7-8 s. These commands only read registered models,
versions, tags and aliases, and move aliases and tags: for the home's SQLite store (the default)
:class:`SqliteRegistry` does that with the standard library's ``sqlite3`` on MLflow's own tables,
exactly as MLflow's SQLAlchemy store does (one row per alias/tag, merged on its primary key).

It implements the few ``MlflowClient`` methods arlm's registry code calls, with the same names,
arguments and result attributes; a missing model, version or alias raises :class:`RegistryMissing`
whose ``error_code`` is MLflow's ``RESOURCE_DOES_NOT_EXIST``. :func:`registry_client` returns it when
the store qualifies (a ``sqlite:///`` URI whose file has MLflow's registry tables and no workspace
other than ``default``) and a real ``MlflowClient`` otherwise (tracking servers, other databases).
Registering a new version still goes through MLflow (``register_with_gate``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKSPACE = "default"
DELETED_STAGE = "Deleted_Internal"  # MLflow's marker of a deleted model version
_TABLES = {
    "registered_models",
    "model_versions",
    "registered_model_tags",
    "model_version_tags",
    "registered_model_aliases",
}


class RegistryMissing(Exception):
    """A registered model, version or alias that does not exist (MLflow's RESOURCE_DOES_NOT_EXIST)."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


@dataclass
class RegisteredModelRow:
    name: str
    aliases: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None


@dataclass
class ModelVersionRow:
    name: str
    version: str
    run_id: str | None = None
    source: str | None = None
    description: str | None = None
    creation_timestamp: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for any other URI)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri[len("sqlite:///") :])


def usable(path: Path) -> bool:
    """Whether ``path`` is an MLflow store this module can serve (tables present, one workspace)."""
    if os.environ.get("MLFLOW_ENABLE_WORKSPACES", "").lower() in ("1", "true"):
        return False
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return False
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not _TABLES <= names:
            return False
        cols = {r[1] for r in con.execute("PRAGMA table_info(registered_model_aliases)")}
        if "workspace" not in cols:
            return False
        other = con.execute("SELECT count(*) FROM registered_models WHERE workspace != ?", [WORKSPACE]).fetchone()
        return other[0] == 0
    except sqlite3.Error:
        return False
    finally:
        con.close()


class SqliteRegistry:
    """The ``MlflowClient`` registry methods arlm uses, on an MLflow SQLite file (see module doc)."""

    def __init__(self, path: str | os.PathLike, tracking_uri: str | None = None):
        self.path = Path(path)
        self.tracking_uri = tracking_uri or f"sqlite:///{self.path}"

    @contextmanager
    def _con(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        mode = "rw" if write else "ro"
        con = sqlite3.connect(f"file:{self.path}?mode={mode}", uri=True, timeout=30)
        try:
            if write:
                with con:  # one transaction, committed on success
                    yield con
            else:
                yield con
        finally:
            con.close()

    # -- reading ----------------------------------------------------------------------------
    def _require_model(self, con: sqlite3.Connection, name: str) -> tuple:
        row = con.execute(
            "SELECT name, description, creation_time, last_updated_time FROM registered_models "
            "WHERE workspace = ? AND name = ?",
            [WORKSPACE, name],
        ).fetchone()
        if row is None:
            raise RegistryMissing(f"Registered Model with name={name} not found")
        return row

    def _model(self, con: sqlite3.Connection, row: tuple) -> RegisteredModelRow:
        name = row[0]
        aliases = {
            a: str(v)
            for a, v in con.execute(
                "SELECT alias, version FROM registered_model_aliases WHERE workspace = ? AND name = ?",
                [WORKSPACE, name],
            )
        }
        tags = dict(
            con.execute(
                "SELECT key, value FROM registered_model_tags WHERE workspace = ? AND name = ?", [WORKSPACE, name]
            ).fetchall()
        )
        return RegisteredModelRow(
            name=name,
            aliases=aliases,
            tags=tags,
            description=row[1],
            creation_timestamp=row[2],
            last_updated_timestamp=row[3],
        )

    def _versions(self, con: sqlite3.Connection, name: str, version: int | None = None) -> list[ModelVersionRow]:
        q = (
            "SELECT name, version, run_id, source, description, creation_time FROM model_versions "
            "WHERE workspace = ? AND name = ? AND coalesce(current_stage, '') != ?"
        )
        params: list[Any] = [WORKSPACE, name, DELETED_STAGE]
        if version is not None:
            q += " AND version = ?"
            params.append(int(version))
        rows = con.execute(q + " ORDER BY version", params).fetchall()
        tags: dict[int, dict[str, str]] = {}
        for key, value, v in con.execute(
            "SELECT key, value, version FROM model_version_tags WHERE workspace = ? AND name = ?", [WORKSPACE, name]
        ):
            tags.setdefault(int(v), {})[key] = value
        aliases: dict[int, list[str]] = {}
        for alias, v in con.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE workspace = ? AND name = ?", [WORKSPACE, name]
        ):
            aliases.setdefault(int(v), []).append(alias)
        return [
            ModelVersionRow(
                name=r[0],
                version=str(r[1]),
                run_id=r[2],
                source=r[3],
                description=r[4],
                creation_timestamp=r[5],
                tags=tags.get(int(r[1]), {}),
                aliases=sorted(aliases.get(int(r[1]), [])),
            )
            for r in rows
        ]

    def search_registered_models(self, order_by: list[str] | None = None, **_: Any) -> list[RegisteredModelRow]:
        with self._con() as con:
            rows = con.execute(
                "SELECT name, description, creation_time, last_updated_time FROM registered_models "
                "WHERE workspace = ? ORDER BY name",
                [WORKSPACE],
            ).fetchall()
            return [self._model(con, r) for r in rows]

    def get_registered_model(self, name: str) -> RegisteredModelRow:
        with self._con() as con:
            return self._model(con, self._require_model(con, name))

    def search_model_versions(self, filter_string: str = "", **_: Any) -> list[ModelVersionRow]:
        """Only the filter arlm uses: ``name='NAME'``."""
        name = filter_string.partition("=")[2].strip().strip("'\"")
        with self._con() as con:
            return self._versions(con, name)

    def get_model_version(self, name: str, version: str | int) -> ModelVersionRow:
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise RegistryMissing(f"Model Version (name={name}, version={version}) not found") from None
        with self._con() as con:
            self._require_model(con, name)
            found = self._versions(con, name, number)
        if not found:
            raise RegistryMissing(f"Model Version (name={name}, version={version}) not found")
        return found[0]

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersionRow:
        with self._con() as con:
            self._require_model(con, name)
            row = con.execute(
                "SELECT version FROM registered_model_aliases WHERE workspace = ? AND name = ? AND alias = ?",
                [WORKSPACE, name, alias],
            ).fetchone()
        if row is None:
            raise RegistryMissing(f"Registered model alias {alias} not found.")
        return self.get_model_version(name, row[0])

    # -- writing (what MLflow's SQLAlchemy store merges) ------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        with self._con(write=True) as con:
            self._require_model(con, name)
            if not self._versions(con, name, int(version)):
                raise RegistryMissing(f"Model Version (name={name}, version={version}) not found")
            con.execute(
                "INSERT INTO registered_model_aliases (workspace, name, alias, version) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (workspace, name, alias) DO UPDATE SET version = excluded.version",
                [WORKSPACE, name, alias, int(version)],
            )

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        with self._con(write=True) as con:
            self._require_model(con, name)
            con.execute(
                "INSERT INTO registered_model_tags (workspace, key, name, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (workspace, key, name) DO UPDATE SET value = excluded.value",
                [WORKSPACE, key, name, str(value)],
            )

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        with self._con(write=True) as con:
            if not self._versions(con, name, int(version)):
                raise RegistryMissing(f"Model Version (name={name}, version={version}) not found")
            con.execute(
                "INSERT INTO model_version_tags (workspace, key, name, version, value) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace, key, name, version) "
                "DO UPDATE SET value = excluded.value",
                [WORKSPACE, key, name, int(version), str(value)],
            )


class EmptyRegistry(SqliteRegistry):
    """A home whose MLflow store was never created: nothing registered, and nothing is created."""

    def __init__(self, tracking_uri: str):
        self.path = Path()
        self.tracking_uri = tracking_uri

    def search_registered_models(self, order_by: list[str] | None = None, **_: Any) -> list:
        return []

    def search_model_versions(self, filter_string: str = "", **_: Any) -> list:
        return []

    def get_registered_model(self, name: str) -> RegisteredModelRow:
        raise RegistryMissing(f"Registered Model with name={name} not found")

    def get_model_version(self, name: str, version: str | int) -> ModelVersionRow:
        raise RegistryMissing(f"Registered Model with name={name} not found")

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersionRow:
        raise RegistryMissing(f"Registered Model with name={name} not found")

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        raise RegistryMissing(f"Registered Model with name={name} not found")

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        raise RegistryMissing(f"Registered Model with name={name} not found")

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        raise RegistryMissing(f"Registered Model with name={name} not found")


def registry_client(tracking_uri: str | None = None) -> Any:
    """A registry client for ``tracking_uri`` (default: the home's): :class:`SqliteRegistry` for a
    usable embedded SQLite store, :class:`EmptyRegistry` when that file does not exist yet, else
    ``MlflowClient`` (via ``use_tracking``)."""
    if tracking_uri is None:
        from arlm.home import get_home

        tracking_uri = get_home().mlflow_tracking_uri
    path = sqlite_path(tracking_uri)
    if path is not None:
        if not path.exists():
            return EmptyRegistry(tracking_uri)
        if usable(path):
            return SqliteRegistry(path, tracking_uri)
    from arlm.registry.tracking import use_tracking

    return use_tracking(tracking_uri)
