"""Typed flow parameters (pydantic): the Prefect UI renders them as forms with defaults,
descriptions and validation. The same models back the CLI, so both accept the same values."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: str | None = Field(None, description="Project home (runtime state). Default: $ARLM_HOME or ./.arlm of the worker.")


class IngestParams(_Params):
    corpus: str = Field("stdlib-docs", description="Corpus SPEC: stdlib-docs, stdlib-code, a file, a folder, "
                                                   "file.jsonl:text, file.csv:col, file.parquet:col, an http(s) URL, hf:NAME.")
    val_fraction: float = Field(0.05, ge=0, lt=1, description="Share of documents for validation.")
    test_fraction: float = Field(0.05, ge=0, lt=1, description="Share of documents for test.")


class TokenizerParams(_Params):
    corpus_id: str | None = Field(None, description="Corpus version id (None: ingest `corpus` first).")
    corpus: str = Field("stdlib-docs", description="Corpus SPEC used when corpus_id is not given.")
    tokenizer_kind: Literal["bpe", "char", "bytes"] = Field("bpe", description="Byte-level BPE, characters (byte fallback) or raw bytes.")
    vocab_size: int = Field(4096, ge=260, le=200_000, description="BPE vocabulary size (ignored for char/bytes).")


class TrainParams(_Params):
    model: str = Field("gpt/tiny", description="Model KIND[/PRESET]: ngram, rnn, lstm, gru, lstm-attn, gpt.")
    max_seconds: float = Field(240, gt=0, description="Training wall-time budget per model, seconds.")
    max_steps: int | None = Field(None, gt=0, description="Optional step budget (whichever ends first).")
    workers: int = Field(1, ge=1, le=512, description="Ray Train workers (DDP).")
    ray_address: str | None = Field(None, description="Existing Ray cluster address; none starts a local Ray.")
    batch_size: int | None = Field(None, gt=0, description="Global batch size in sequences (None: preset default).")
    block_size: int | None = Field(None, gt=1, description="Context length in tokens (None: preset default).")
    learning_rate: float | None = Field(None, gt=0, description="Peak learning rate (None: preset default).")
    seed: int = Field(0, description="Seed of initialisation and data order.")
    max_failures: int = Field(2, ge=-1, description="Worker-group restarts Ray Train may do (-1: unlimited).")
    spread: bool = Field(False, description="Place workers on different Ray nodes (SPREAD) instead of packing them.")


class PipelineParams(TrainParams):
    corpus: str = IngestParams.model_fields["corpus"]
    name: str = Field("arlm-gpt", description="Registered model name in MLflow.")
    tokenizer_kind: Literal["bpe", "char", "bytes"] = TokenizerParams.model_fields["tokenizer_kind"]
    vocab_size: int = TokenizerParams.model_fields["vocab_size"]
    val_fraction: float = IngestParams.model_fields["val_fraction"]
    test_fraction: float = IngestParams.model_fields["test_fraction"]

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "-_." for c in v):
            raise ValueError("model name: letters, digits, '-', '_' and '.' only")
        return v


class TrainFlowParams(PipelineParams):
    dataset_id: str | None = Field(None, description="Token dataset id (None: ingest and tokenize `corpus` first).")


class CompareParams(TrainFlowParams):
    models: list[str] = Field(["ngram", "rnn", "lstm", "gru", "lstm-attn", "gpt"],
                              description="Model specs (KIND[/PRESET]) trained under the same budget.")


class EvaluateParams(_Params):
    model_uri: str = Field(..., description="models:/NAME@alias, models:/NAME/VERSION or runs:/ID/model.")
    split: str = Field("test", description="Split of the model's token dataset.")


class RegisterParams(_Params):
    run_id: str = Field(..., description="arlm training run id (folder under <home>/runs).")
    name: str = Field("arlm-gpt", description="Registered model name.")
