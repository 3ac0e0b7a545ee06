"""``arlm ingest`` and ``arlm catalog {ls,lineage,sql,rebuild}``."""

from __future__ import annotations

import json
import sys


def add_parsers(sub) -> None:
    from arlm.data.config import IngestConfig
    from arlm.options import add_options

    p = sub.add_parser(
        "ingest",
        help="ingest a corpus SPEC into a versioned Parquet corpus",
        description="Read, clean, split and version a corpus; re-ingesting unchanged "
        "input reuses the existing version. Options are IngestConfig's fields.",
    )
    add_options(p, IngestConfig, exclude=("progress",), config_file=True)
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.add_argument("--json", action="store_true", help="print the version as JSON")
    p.set_defaults(func=cmd_ingest)

    cat = sub.add_parser("catalog", help="query the DuckDB catalog")
    csub = cat.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND")
    csub.required = True
    ls = csub.add_parser("ls", help="list corpus versions, tokenizers, token datasets, runs, models")
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_catalog_ls)
    lin = csub.add_parser("lineage", help="chain from a model version back to its source files")
    lin.add_argument("model_uri", metavar="MODEL_URI", help="models:/NAME/VERSION or models:/NAME@ALIAS")
    lin.add_argument("--files", type=int, default=20, help="source files to list")
    lin.add_argument("--json", action="store_true")
    lin.set_defaults(func=cmd_catalog_lineage)
    q = csub.add_parser("sql", help="run a read-only SQL query on the catalog")
    q.add_argument("query", metavar="SQL")
    q.add_argument("--json", action="store_true", help="one JSON object per row")
    q.set_defaults(func=cmd_catalog_sql)
    rb = csub.add_parser(
        "rebuild",
        help="reconstruct the catalog from the lake, tokenizers, tokens, runs and MLflow",
        description="Record again every corpus version, tokenizer, token dataset, training run, "
        "registered model version and alias found in the home and its MLflow store "
        "(after the catalog file was deleted or damaged). Nothing is deleted.",
    )
    rb.add_argument("--json", action="store_true", help="print the counts as JSON")
    rb.set_defaults(func=cmd_catalog_rebuild)


def _home(args):
    from arlm.home import get_home

    return get_home(getattr(args, "home", None))


def ingest_config_from_args(args):
    """``IngestConfig`` from parsed args (``--config``/``--set`` included); errors are one line."""
    from arlm.data import IngestConfig
    from arlm.options import params_from_args

    return params_from_args(IngestConfig, args, progress=not args.quiet)


def cmd_ingest(args) -> int:
    from arlm.catalog import Catalog
    from arlm.data import report_text
    from arlm.data.ingest import ingest

    home = _home(args)
    cfg = ingest_config_from_args(args)
    cv = ingest(cfg, home)
    Catalog(home.catalog_path).record_corpus_version(cv)
    from arlm.data.report import replaced_files_line

    warning = replaced_files_line(cv.stats["cleaning"])
    if warning:
        print(f"arlm: warning: {warning}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {"id": cv.id, "path": str(cv.path), "spec": cv.spec, "reused": cv.reused, "stats": cv.stats},
                indent=2,
                default=str,
            )
        )
        return 0
    if cv.reused:
        print(f"unchanged, reusing version {cv.id}")
    print(report_text(cv))
    print(f"version {cv.id} at {cv.path}")
    return 0


def cmd_catalog_ls(args) -> int:
    from arlm.catalog import Catalog, format_table

    listing = Catalog(_home(args).catalog_path).ls(limit=args.limit)
    if args.json:
        print(json.dumps(listing, indent=2, default=str))
        return 0
    for kind, rows in listing.items():
        print(f"{kind} ({len(rows)})")
        print(format_table(rows))
        print()
    return 0


def cmd_catalog_lineage(args) -> int:
    from arlm.catalog import Catalog, format_lineage
    from arlm.registry import mlflow_alias_resolver

    home = _home(args)
    lin = Catalog(home.catalog_path).lineage(
        args.model_uri, resolver=mlflow_alias_resolver(home), max_source_files=args.files
    )
    print(json.dumps(lin, indent=2, default=str) if args.json else format_lineage(lin))
    return 0


def cmd_catalog_rebuild(args) -> int:
    from arlm.catalog.rebuild import rebuild_catalog

    home = _home(args)
    report = rebuild_catalog(home, progress=lambda msg: print(msg, file=sys.stderr))
    if args.json:
        print(
            json.dumps(
                {"catalog": str(home.catalog_path), "counts": report.counts, "skipped": report.skipped}, indent=2
            )
        )
    else:
        print(f"{home.catalog_path}: {report.summary()}")
    return 0 if not report.skipped else 1


def cmd_catalog_sql(args) -> int:
    from arlm.catalog import Catalog, format_table

    table = Catalog(_home(args).catalog_path).sql(args.query)
    if table is None:
        return 0
    rows = table.to_pylist()
    if args.json:
        for r in rows:
            print(json.dumps(r, default=str))
    else:
        print(format_table(rows))
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", file=sys.stderr)
    return 0


__all__ = ["add_parsers"]
