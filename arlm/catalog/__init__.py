"""The DuckDB catalog of corpora, tokenizers, token datasets, runs, evaluations and models.

``Catalog(home.catalog_path)``; schema and migrations live in ``data_catalog/migrations``.
"""

from arlm.catalog.catalog import Catalog, CatalogMissingError, parse_model_uri
from arlm.catalog.db import CatalogBusyError
from arlm.catalog.display import format_lineage, format_table

__all__ = ["Catalog", "CatalogMissingError", "CatalogBusyError", "parse_model_uri", "format_lineage", "format_table"]
