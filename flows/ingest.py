"""The ingest stage as a flow: corpus SPEC -> versioned Parquet + catalog rows."""

from __future__ import annotations

from typing import Any

from prefect import flow

from arlm_flows.params import IngestParams
from arlm_flows.runs import run_name_from
from arlm_flows.tasks import ingest_cached


@flow(
    name="ingest",
    flow_run_name=run_name_from("ingest", "corpus"),
    description="Ingest a corpus SPEC into a versioned Parquet corpus recorded in the DuckDB catalog.",
)
def ingest(params: IngestParams = IngestParams()) -> dict[str, Any]:
    return ingest_cached(params.ingest_config(), params.home)
