"""Tokenizer + tokenization as a flow: corpus version -> tokenizer -> token dataset."""

from __future__ import annotations

from typing import Any

from prefect import flow

from arlm_flows.params import TokenizerParams
from arlm_flows.runs import run_name_from
from arlm_flows.tasks import ingest_cached, tokenize_cached, tokenizer_cached


@flow(
    name="tokenizer",
    flow_run_name=run_name_from("tokenizer", "corpus_id|corpus", "tokenizer_kind"),
    description="Build a tokenizer on a corpus version and tokenize its splits into token shards.",
)
def tokenizer(params: TokenizerParams = TokenizerParams()) -> dict[str, Any]:

    corpus_id = params.corpus_id or ingest_cached(params.ingest_config(), params.home)["corpus_id"]
    tok = tokenizer_cached(params.tokenizer_config(), corpus_id, params.home)
    ds = tokenize_cached(corpus_id, tok["tokenizer_id"], params.home, params.ray_address)
    return {"tokenizer": tok, "dataset": ds}
