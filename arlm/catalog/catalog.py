"""The DuckDB catalog: every artifact of the pipeline and the ids that link them.

Chain recorded by the stages::

    corpora ─< corpus_versions ─< source_files, corpus_files (Parquet parts; view ``documents``)
    corpus_versions ─< tokenizers ─< token_datasets ─< training_runs ─< models, evaluations

``lineage("models:/NAME/VERSION")`` walks it from a registered model back to the source files.
All ``record_*`` methods are idempotent upserts, so a retried stage never duplicates rows.

A catalog is created when first opened in a fresh home. A catalog file missing beside artifacts
(corpus versions, tokenizers, token datasets or runs in the home) was deleted: it is never
recreated empty (lineage would be lost for good), every use raises :class:`CatalogMissingError`
telling the user to run ``arlm catalog rebuild`` (``arlm.catalog.rebuild``), which reconstructs it
from the folders' manifests and MLflow. The one exception is the first ingest of a fresh home,
which writes its corpus version to the lake before recording it (file ``catalog.duckdb.created``,
written with the catalog, tells that first time from a deleted catalog).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arlm.catalog.db import apply_migrations, connect, schema_version
from arlm.errors import ArlmError, ConfigError, NotFoundError
from arlm.versioning import TMP_MARK, content_hash, read_json

JSON_COLUMNS = {"config", "stats", "cleaning_report", "meta", "metrics", "details"}
EMPTY_DOCUMENTS_VIEW = (
    "CREATE OR REPLACE VIEW documents AS SELECT NULL::VARCHAR AS corpus_version_id, "
    "NULL::VARCHAR AS doc_id, NULL::VARCHAR AS source, NULL::VARCHAR AS uri, NULL::VARCHAR AS text, "
    "NULL::BIGINT AS n_bytes, NULL::VARCHAR AS split WHERE false"
)
AliasResolver = Callable[[str, str], "int | str"]
# folders of a home whose artifacts the catalog records, and the file marking a complete artifact
ARTIFACT_FOLDERS = {"lake": "corpus.json", "tokenizers": "tokenizer_meta.json", "tokens": "manifest.json", "runs": None}


FIRST_INGEST_WINDOW_S = 600.0


class CatalogMissingError(NotFoundError):
    """The catalog file is gone while the home holds artifacts: rebuild it, never start empty."""


def home_artifacts(root: Path) -> dict[str, list[str]]:
    """Artifacts of the home at ``root`` that a catalog would record: {folder: [names]} (non-empty only)."""
    out: dict[str, list[str]] = {}
    for folder, marker in ARTIFACT_FOLDERS.items():
        base = Path(root) / folder
        if not base.is_dir():
            continue
        names = sorted(
            p.name
            for p in base.iterdir()
            if p.is_dir()
            and TMP_MARK not in p.name
            and not p.name.startswith(".")
            and (marker is None or (p / marker).is_file())
        )
        if names:
            out[folder] = names
    return out


def _json(obj: Any) -> str:
    return json.dumps(obj if obj is not None else {}, sort_keys=True, default=str)


def _attr(obj: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return default


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/NAME/VERSION`` -> (name, version, None); ``models:/NAME@ALIAS`` -> (name, None, alias)."""
    if not uri.startswith("models:/"):
        raise ConfigError(f"{uri!r}: expected a model URI like models:/NAME/VERSION or models:/NAME@ALIAS")
    rest = uri[len("models:/") :].strip("/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        if name and alias:
            return name, None, alias
    elif "/" in rest:
        name, version = rest.rsplit("/", 1)
        if name and version.isdigit():
            return name, version, None
    raise ConfigError(f"{uri!r}: expected a model URI like models:/NAME/VERSION or models:/NAME@ALIAS")


class Catalog:
    """The project catalog at ``path`` (``home.catalog_path``; a ``Home`` is accepted too).

    Opening applies pending migrations from ``data_catalog/migrations``. Each method opens its
    own short connection (see ``arlm.catalog.db``), so a ``Catalog`` object is cheap, holds no
    lock between calls, and is safe to use from several processes at once.
    """

    def __init__(self, path, timeout_s: float = 120.0, *, create: bool = False):
        """``create=True`` creates a missing catalog even beside existing artifacts (what
        ``arlm catalog rebuild`` does); by default that case raises on first use."""
        from arlm.home import Home

        if isinstance(path, Home):
            path = path.catalog_path
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._orphans: dict[str, list[str]] = {}
        if not self.path.exists() and not create:
            self._orphans = home_artifacts(self.path.parent)
            if self._orphans:
                return  # CatalogMissingError on use (see _connect), unless a first ingest records
        self._create()

    @property
    def marker(self) -> Path:
        """Written beside the catalog when it is created: its absence later means "deleted"."""
        return self.path.with_name(self.path.name + ".created")

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._orphans = {}
        with self._connect() as con:
            apply_migrations(con)
        if not self.marker.exists():
            self.marker.write_text(
                "the catalog beside this file was created; if it is missing, run `arlm catalog rebuild`\n",
                encoding="utf-8",
            )

    def _first_ingest(self, cv_id: str) -> bool:
        """Whether recording corpus version ``cv_id`` may create the missing catalog: the home was
        never catalogued (no marker), holds nothing but lake versions, and the others were written
        moments ago (first ingests running at the same time), not by an earlier session."""
        import time

        if self.marker.exists() or set(self._orphans) != {"lake"} or cv_id not in self._orphans["lake"]:
            return False
        lake = self.path.parent / "lake"
        now = time.time()
        return all(
            now - (lake / name / "corpus.json").stat().st_mtime < FIRST_INGEST_WINDOW_S
            for name in self._orphans["lake"]
            if name != cv_id
        )

    @classmethod
    def check_not_lost(cls, path) -> None:
        """Raise :class:`CatalogMissingError` if the catalog at ``path`` was deleted beside
        artifacts; creates and writes nothing (for checks before a command does any work)."""
        path = Path(path)
        if not path.exists() and home_artifacts(path.parent):
            raise cls(path).missing_error()

    def require(self) -> Catalog:
        """Raise :class:`CatalogMissingError` now if the catalog was deleted beside artifacts (for
        callers that would otherwise find out only after hours of work); returns ``self``."""
        if self._orphans and not self.path.exists():
            raise self.missing_error()
        return self

    def missing_error(self) -> CatalogMissingError:
        found = ", ".join(f"{len(v)} in {k}/" for k, v in self._orphans.items())
        return CatalogMissingError(
            f"{self.path}: catalog missing while the home holds artifacts ({found}): run "
            "`arlm catalog rebuild` to reconstruct it from the manifests and MLflow (not recreated empty)"
        )

    # -- plumbing -----------------------------------------------------------------------------
    def _connect(self, read_only: bool = False):
        if self._orphans:
            if self.path.exists():  # rebuilt (or created) meanwhile by another process
                self._create()
            else:
                raise self.missing_error()
        return connect(self.path, read_only=read_only, timeout_s=self.timeout_s)

    def _write(self, statements: list[tuple[str, list]], after: Callable | None = None) -> None:
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for sql, params in statements:
                    con.execute(sql, params)
                if after is not None:
                    after(con)
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise

    def rows(self, query: str, params: list | None = None) -> list[dict]:
        """Rows as dicts, JSON columns parsed (read-only connection)."""
        with self._connect(read_only=True) as con:
            cur = con.execute(query, params or [])
            names = [d[0] for d in cur.description]
            out = []
            for r in cur.fetchall():
                d = dict(zip(names, r))
                for k in JSON_COLUMNS & d.keys():
                    if isinstance(d[k], str):
                        d[k] = json.loads(d[k])
                out.append(d)
            return out

    def sql(self, query: str):
        """Run a read-only query; returns a ``pyarrow.Table`` (a write statement is refused)."""
        import duckdb

        with self._connect(read_only=True) as con:
            try:
                rel = con.sql(query)
            except duckdb.Error as exc:
                raise ArlmError(f"catalog sql: {str(exc).splitlines()[0]}") from None
            if rel is None:  # a statement without a result set
                return None
            return rel.to_arrow_table()

    def schema_version(self) -> int:
        with self._connect(read_only=True) as con:
            return schema_version(con)

    # -- corpus versions ----------------------------------------------------------------------
    def record_corpus_version(self, cv) -> None:
        """Record a ``CorpusVersion`` (its corpus, files, source files with outcomes, report)."""
        import pyarrow as pa

        if self._orphans and self._first_ingest(str(cv.id)):
            self._create()  # a fresh home's first ingest: the lake holds just this version (or a twin's)

        folder = Path(cv.path)
        meta = read_json(folder / "corpus.json")
        sources = read_json(folder / "sources.json") if (folder / "sources.json").exists() else {}
        corpus_id = content_hash(cv.spec)
        outcomes = {o["uri"]: o for o in sources.get("outcomes", [])}
        entries = sources.get("entries", [])
        src = pa.table(
            {
                "uri": [e["uri"] for e in entries],
                "size": pa.array([e["size"] for e in entries], pa.int64()),
                "mtime_ns": pa.array([e["mtime_ns"] for e in entries], pa.int64()),
                "sha256": [e.get("sha256") or None for e in entries],
                "n_docs": pa.array([outcomes.get(e["uri"], {}).get("n_docs", 0) for e in entries], pa.int64()),
                "reason": [outcomes.get(e["uri"], {}).get("reason") or None for e in entries],
            }
        )
        stats = cv.stats
        files = [(split, str(p)) for split, paths in cv.files.items() for p in paths]

        def load_sources(con) -> None:
            con.register("_src", src)
            con.execute(
                "INSERT INTO source_files SELECT ?, uri, size, mtime_ns, sha256, n_docs, "
                "CASE WHEN n_docs > 0 THEN 'kept' ELSE 'skipped' END, reason FROM _src",
                [cv.id],
            )
            con.unregister("_src")
            self._rebuild_documents_view(con)

        statements = [
            (
                "INSERT INTO corpora (id, spec, kind) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [corpus_id, cv.spec, meta.get("kind")],
            ),
            ("DELETE FROM corpus_versions WHERE id = ?", [cv.id]),
            (
                "INSERT INTO corpus_versions (id, corpus_id, spec, path, python_version, manifest_hash, "
                "n_docs, n_bytes, config, stats, cleaning_report, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    cv.id,
                    corpus_id,
                    cv.spec,
                    str(folder),
                    cv.python_version,
                    meta.get("manifest_hash"),
                    stats.get("n_docs"),
                    stats.get("n_bytes"),
                    _json(meta.get("config")),
                    _json({k: v for k, v in stats.items() if k != "cleaning"}),
                    _json(stats.get("cleaning")),
                    meta.get("created_at"),
                ],
            ),
            ("DELETE FROM corpus_files WHERE corpus_version_id = ?", [cv.id]),
            ("DELETE FROM source_files WHERE corpus_version_id = ?", [cv.id]),
        ] + [("INSERT INTO corpus_files VALUES (?, ?, ?)", [cv.id, split, path]) for split, path in files]
        self._write(statements, after=load_sources)

    def _rebuild_documents_view(self, con) -> None:
        """``documents``: the Parquet rows of every recorded version whose files still exist."""
        files = [
            r[0] for r in con.execute("SELECT path FROM corpus_files ORDER BY path").fetchall() if Path(r[0]).exists()
        ]
        if not files:
            con.execute(EMPTY_DOCUMENTS_VIEW)
            return
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        con.execute(
            "CREATE OR REPLACE VIEW documents AS SELECT f.corpus_version_id, d.doc_id, d.source, "
            "d.uri, d.text, d.n_bytes, d.split "
            f"FROM read_parquet([{listing}], filename = true, union_by_name = true) d "
            "JOIN corpus_files f ON f.path = d.filename"
        )

    def refresh_views(self) -> None:
        """Rebuild ``documents`` (after lake folders were removed by hand)."""
        self._write([], after=self._rebuild_documents_view)

    # -- tokenizers, token datasets -----------------------------------------------------------
    def record_tokenizer(
        self,
        artifact,
        corpus_id: str,
        kind: str | None = None,
        vocab_size: int | None = None,
        path=None,
        meta: dict | None = None,
    ) -> None:
        """``artifact`` is a ``TokenizerArtifact`` (id, path, kind, vocab_size, meta) or an id;
        explicit arguments win over the artifact's attributes. ``corpus_id`` is the corpus version id."""
        art_id = artifact if isinstance(artifact, str) else _attr(artifact, "id")
        kind = kind or _attr(artifact, "kind")
        vocab_size = vocab_size if vocab_size is not None else _attr(artifact, "vocab_size")
        path = path or _attr(artifact, "path")
        meta = meta if meta is not None else _attr(artifact, "meta", default={})
        self._write(
            [
                ("DELETE FROM tokenizers WHERE id = ?", [art_id]),
                (
                    "INSERT INTO tokenizers (id, corpus_version_id, kind, vocab_size, path, meta) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [art_id, corpus_id, kind, vocab_size, str(path) if path else None, _json(meta)],
                ),
            ]
        )

    def record_token_dataset(
        self, dataset, tokenizer_id: str, corpus_id: str, path=None, meta: dict | None = None
    ) -> None:
        """``dataset`` is a ``TokenDataset`` (id, path, manifest/meta) or an id."""
        ds_id = dataset if isinstance(dataset, str) else _attr(dataset, "id")
        path = path or _attr(dataset, "path", "root")
        if meta is None:
            meta = _attr(dataset, "manifest", "meta", default={})
        self._write(
            [
                ("DELETE FROM token_datasets WHERE id = ?", [ds_id]),
                (
                    "INSERT INTO token_datasets (id, tokenizer_id, corpus_version_id, path, meta) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [ds_id, tokenizer_id, corpus_id, str(path) if path else None, _json(meta)],
                ),
            ]
        )

    # -- runs, evaluations, models ------------------------------------------------------------
    def record_run(
        self,
        run_id: str,
        token_dataset_id: str,
        model_spec: str,
        config: dict,
        metrics: dict,
        mlflow_run_id: str | None = None,
    ) -> None:
        self._write(
            [
                ("DELETE FROM training_runs WHERE run_id = ?", [run_id]),
                (
                    "INSERT INTO training_runs (run_id, token_dataset_id, model_spec, config, metrics, "
                    "mlflow_run_id) VALUES (?, ?, ?, ?, ?, ?)",
                    [run_id, token_dataset_id, model_spec, _json(config), _json(metrics), mlflow_run_id],
                ),
            ]
        )

    def record_evaluation(
        self,
        run_id: str | None = None,
        metrics: dict | None = None,
        split: str = "test",
        model_uri: str | None = None,
        token_dataset_id: str | None = None,
        eval_id: str | None = None,
        *,
        model_dir=None,
        dataset_id: str | None = None,
        mlflow_run_id: str | None = None,
    ) -> str:
        """Record metrics of a model on a split; returns the row id.

        The model is named by any of ``run_id`` (training run), ``mlflow_run_id``, ``model_dir``
        (checkpoint folder) or ``model_uri`` (registered version); ``dataset_id`` is an alias of
        ``token_dataset_id``. ``eval_id`` defaults to a hash of all of these, so recording the
        same evaluation twice updates one row.
        """
        from arlm.evaluation.checks import check_finite_metrics

        token_dataset_id = token_dataset_id or dataset_id
        model_dir = str(model_dir) if model_dir is not None else None
        check_finite_metrics(
            metrics or {}, f"catalog: evaluation of {model_uri or model_dir or run_id or mlflow_run_id}"
        )
        eval_id = eval_id or content_hash(run_id, mlflow_run_id, model_dir, model_uri, token_dataset_id, split)
        self._write(
            [
                ("DELETE FROM evaluations WHERE id = ?", [eval_id]),
                (
                    "INSERT INTO evaluations (id, run_id, model_uri, token_dataset_id, split, metrics, "
                    "model_dir, mlflow_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [eval_id, run_id, model_uri, token_dataset_id, split, _json(metrics), model_dir, mlflow_run_id],
                ),
            ]
        )
        return eval_id

    def record_model(
        self,
        name: str,
        version,
        run_id: str,
        uri: str | None = None,
        metrics: dict | None = None,
        aliases: tuple[str, ...] | list[str] = (),
    ) -> None:
        """A registered MLflow model version (and optionally the aliases it now holds)."""
        version = int(version)
        stmts = [
            ("DELETE FROM models WHERE name = ? AND version = ?", [name, version]),
            (
                "INSERT INTO models (name, version, run_id, uri, metrics) VALUES (?, ?, ?, ?, ?)",
                [name, version, run_id, uri or f"models:/{name}/{version}", _json(metrics)],
            ),
        ]
        for alias in aliases:
            stmts += self._alias_statements(name, alias, version)
        self._write(stmts)

    @staticmethod
    def _alias_statements(name: str, alias: str, version: int) -> list[tuple[str, list]]:
        return [
            ("DELETE FROM model_aliases WHERE name = ? AND alias = ?", [name, alias]),
            ("INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?)", [name, alias, int(version)]),
        ]

    def record_model_alias(self, name: str, alias: str, version) -> None:
        """Remember that ``models:/NAME@ALIAS`` points at ``version`` (mirrors MLflow's alias)."""
        self._write(self._alias_statements(name, alias, int(version)))

    def record_model_origin(
        self,
        name: str,
        version,
        origin: str,
        *,
        source: str | None = None,
        source_sha256: str | None = None,
        base_name: str | None = None,
        base_version=None,
        method: str | None = None,
        details: dict | None = None,
    ) -> None:
        """Where model version ``name``/``version`` came from when not trained from scratch:
        ``origin`` "import" (``source``: the checkpoint folder or hf:NAME, ``source_sha256`` its
        weights) or "finetune" (``base_name``/``base_version``: the registered base, ``method``
        "full" or "lora")."""
        if origin not in ("import", "finetune"):
            raise ConfigError(f"catalog: model origin must be 'import' or 'finetune', got {origin!r}")
        self._write(
            [
                ("DELETE FROM model_origins WHERE name = ? AND version = ?", [name, int(version)]),
                (
                    "INSERT INTO model_origins (name, version, origin, source, source_sha256, base_name, base_version, "
                    "method, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        name,
                        int(version),
                        origin,
                        source,
                        source_sha256,
                        base_name,
                        None if base_version is None else int(base_version),
                        method,
                        _json(details),
                    ],
                ),
            ]
        )

    # -- reading ------------------------------------------------------------------------------
    def ls(self, limit: int = 50) -> dict[str, list[dict]]:
        """The latest artifacts of each kind, newest first (what ``arlm catalog ls`` prints)."""
        q = {
            "corpus_versions": "SELECT id, spec, "
            "CASE WHEN json_extract_string(config, '$.task') = 'translation' THEN "
            "json_extract_string(config, '$.src_lang') || '->' || json_extract_string(config, '$.tgt_lang') "
            "END AS languages, python_version, n_docs, n_bytes, created_at "
            "FROM corpus_versions ORDER BY recorded_at DESC",
            "tokenizers": "SELECT id, corpus_version_id, kind, vocab_size FROM tokenizers ORDER BY recorded_at DESC",
            "token_datasets": "SELECT id, tokenizer_id, corpus_version_id FROM token_datasets "
            "ORDER BY recorded_at DESC",
            "training_runs": "SELECT run_id, token_dataset_id, model_spec, mlflow_run_id "
            "FROM training_runs ORDER BY recorded_at DESC",
            "models": "SELECT m.name, m.version, m.run_id, string_agg(a.alias, ',') AS aliases "
            "FROM models m LEFT JOIN model_aliases a ON a.name = m.name AND a.version = m.version "
            "GROUP BY ALL ORDER BY m.name, m.version DESC",
        }
        return {k: self.rows(f"{sql} LIMIT {int(limit)}") for k, sql in q.items()}

    def resolve_model(self, model_uri: str, resolver: AliasResolver | None = None) -> tuple[str, int]:
        """(name, version) of a model URI. An alias is asked of ``resolver`` first (MLflow's
        registry is the source of truth: aliases move there, by the gate, promote and rollback),
        then of the aliases recorded in the catalog."""
        name, version, alias = parse_model_uri(model_uri)
        if alias is not None:
            unresolved: NotFoundError | None = None
            if resolver is not None:
                try:
                    return name, int(resolver(name, alias))
                except NotFoundError as exc:
                    unresolved = exc
            found = self.rows("SELECT version FROM model_aliases WHERE name = ? AND alias = ?", [name, alias])
            if found:
                return name, int(found[0]["version"])
            raise unresolved or NotFoundError(
                f"{model_uri}: alias {alias!r} not recorded in the catalog "
                "(pass a resolver backed by MLflow, or use models:/NAME/VERSION)"
            )
        return name, int(version)  # type: ignore[arg-type]

    def lineage(
        self, model_uri: str, resolver: AliasResolver | None = None, max_source_files: int = 50, _depth: int = 0
    ) -> dict:
        """The chain model version -> run -> token dataset -> tokenizer -> corpus version -> sources.

        ``model_uri`` is ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``; an alias is resolved
        as ``resolve_model`` does (``resolver`` first, then ``model_aliases`` of the catalog), with
        ``resolver(name, alias) -> version`` (e.g. MLflow's ``get_model_version_by_alias``).
        Links missing from the catalog are ``None``; ``missing`` lists them. ``origin`` says how a
        version that was not trained from scratch came to be (imported or fine-tuned) and ``base``
        holds the lineage of the version it was fine-tuned from (so its corpora too).
        """
        name, version = self.resolve_model(model_uri, resolver)
        model = self._one("SELECT * FROM models WHERE name = ? AND version = ?", [name, version])
        if model is None:
            raise NotFoundError(f"{model_uri}: model {name} version {version} is not in the catalog")
        out: dict[str, Any] = {"model": model, "missing": []}
        run = self._one("SELECT * FROM training_runs WHERE run_id = ?", [model["run_id"]])
        ds = tok = cv = None
        if run is not None:
            ds = self._one("SELECT * FROM token_datasets WHERE id = ?", [run["token_dataset_id"]])
        if ds is not None:
            tok = self._one("SELECT * FROM tokenizers WHERE id = ?", [ds["tokenizer_id"]])
        cv_id = (ds or {}).get("corpus_version_id") or (tok or {}).get("corpus_version_id")
        if cv_id:
            cv = self._one("SELECT * FROM corpus_versions WHERE id = ?", [cv_id])
        out.update(run=run, token_dataset=ds, tokenizer=tok, corpus_version=cv)
        out["missing"] = [k for k in ("run", "token_dataset", "tokenizer", "corpus_version") if out[k] is None]
        out["evaluations"] = self.rows(
            "SELECT * FROM evaluations WHERE run_id = ? OR model_uri IN (?, ?) "
            "OR (mlflow_run_id IS NOT NULL AND mlflow_run_id = ?) ORDER BY recorded_at",
            [model["run_id"], model_uri, f"models:/{name}/{version}", (run or {}).get("mlflow_run_id")],
        )
        if cv is not None:
            out["source_files"] = self.rows(
                "SELECT uri, size, mtime_ns, sha256, n_docs, status, reason FROM source_files "
                f"WHERE corpus_version_id = ? ORDER BY uri LIMIT {int(max_source_files)}",
                [cv["id"]],
            )
            out["n_source_files"] = self._one(
                "SELECT count(*) AS n FROM source_files WHERE corpus_version_id = ?", [cv["id"]]
            )["n"]
        else:
            out["source_files"], out["n_source_files"] = [], 0
        self._origin_into(out, name, version, resolver, max_source_files, _depth)
        return out

    MAX_BASE_DEPTH = 8  # base of a base of...: a chain longer than this is cut (and cycles too)

    def _origin_into(
        self, out: dict, name: str, version: int, resolver: AliasResolver | None, max_source_files: int, depth: int
    ) -> None:
        """``origin`` (the model_origins row, None for a model trained from scratch) and ``base``
        (the lineage of the model it was fine-tuned from, when that one is registered)."""
        out["origin"] = self._one("SELECT * FROM model_origins WHERE name = ? AND version = ?", [name, version])
        out["base"] = None
        origin = out["origin"] or {}
        if origin.get("origin") == "import":  # no run, tokens or corpus: the checkpoint is the source
            tok_id = (origin.get("details") or {}).get("tokenizer_id")
            if tok_id and out.get("tokenizer") is None:
                out["tokenizer"] = self._one("SELECT * FROM tokenizers WHERE id = ?", [tok_id])
            out["missing"] = [m for m in out["missing"] if m == "tokenizer" and out["tokenizer"] is None]
        if origin.get("base_name") and origin.get("base_version") is not None and depth < self.MAX_BASE_DEPTH:
            base_uri = f"models:/{origin['base_name']}/{origin['base_version']}"
            try:
                out["base"] = self.lineage(base_uri, resolver, max_source_files, _depth=depth + 1)
            except NotFoundError:
                out["missing"].append("base")

    def _one(self, query: str, params: list) -> dict | None:
        rows = self.rows(query, params)
        return rows[0] if rows else None
