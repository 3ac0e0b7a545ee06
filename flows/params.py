"""Typed flow parameters (pydantic): the Prefect UI renders them as forms with defaults,
descriptions and validation. The same models back the CLI, so both accept the same values."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from arlm.defaults import (DEFAULT_MODEL, DEFAULT_OPTIMIZER, DEFAULT_PIPELINE_LR, DEFAULT_PIPELINE_STEPS, DEFAULT_RESUME,
                           DEFAULT_SEED)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: str | None = Field(None, description="Project home (runtime state). Default: $ARLM_HOME or ./.arlm of the worker.")


def _ingest_field(name: str):
    """IngestConfig's own field (default, bounds, description): one definition for both."""
    from arlm.data import IngestConfig

    return IngestConfig.model_fields[name]


class IngestOptions(_Params):
    """What to ingest and how to clean and split it (the fields that name a corpus version)."""

    corpus: str = _ingest_field("corpus")
    val_fraction: float = _ingest_field("val_fraction")
    test_fraction: float = _ingest_field("test_fraction")
    encoding: str = _ingest_field("encoding")
    encoding_errors: Literal["strict", "replace", "skip"] = _ingest_field("encoding_errors")
    include: list[str] = Field([], description="Folder sources: glob(s) of relative paths to keep (default all).")
    exclude: list[str] = Field([], description="Folder sources: glob(s) of relative paths to drop.")
    min_chars: int = _ingest_field("min_chars")
    segment_chars: int = _ingest_field("segment_chars")
    dedup: bool = _ingest_field("dedup")
    split_seed: int = Field(0, description="Salt of the hash that assigns documents to train/val/test.")

    def ingest_config(self):
        from arlm.data import IngestConfig

        return IngestConfig(corpus=self.corpus, val_fraction=self.val_fraction, test_fraction=self.test_fraction,
                            encoding=self.encoding, encoding_errors=self.encoding_errors,
                            include=tuple(self.include),
                            exclude=tuple(self.exclude), min_chars=self.min_chars,
                            segment_chars=self.segment_chars, dedup=self.dedup, seed=self.split_seed)


class IngestParams(IngestOptions):
    pass


class TokenizerParams(IngestOptions):
    corpus_id: str | None = Field(None, description="Corpus version id (None: ingest `corpus` first).")
    ray_address: str | None = Field(None, description="Encode as Ray tasks on this cluster (none: local threads).")
    tokenizer_kind: Literal["bpe", "char", "bytes"] = Field("bpe", description="Byte-level BPE, characters (byte fallback) or raw bytes.")
    vocab_size: int = Field(4096, ge=260, le=200_000, description="BPE vocabulary size (ignored for char/bytes).")


class TrainParams(_Params):
    """Training knobs. Defaults come from ``arlm.defaults`` (as ``TrainConfig``'s do), so the CLI,
    the flows and the library agree."""

    model: str = Field(DEFAULT_MODEL, description="Model KIND[/PRESET]: ngram, rnn, lstm, gru, lstm-attn, gpt.")
    max_steps: int | None = Field(
        DEFAULT_PIPELINE_STEPS, gt=0,
        description="Step budget per model: the same parameters give the same model bit for bit. "
                    "None: the time budget (max_seconds) alone.")
    max_seconds: float | None = Field(
        None, gt=0, description="Optional wall-time cap per model, seconds (whichever ends first; a run it "
                                "stops says stopped_by max_seconds and is no longer reproducible).")
    resume: Literal["auto", "never"] = Field(
        DEFAULT_RESUME, description="auto: continue an unfinished run of the same parameters from its last "
                                    "checkpoint (same run folder and MLflow run); never: start afresh.")
    workers: int = Field(1, ge=1, le=512, description="Ray Train workers (DDP).")
    ray_address: str | None = Field(None, description="Existing Ray cluster address; none starts a local Ray.")
    batch_size: int | None = Field(None, gt=0, description="Global batch size in sequences (None: preset default).")
    block_size: int | None = Field(None, gt=1, description="Context length in tokens (None: preset default).")
    learning_rate: float | None = Field(DEFAULT_PIPELINE_LR, gt=0,
                                        description="Peak learning rate (None: TrainConfig's default).")
    optimizer: Literal["adamw", "muon"] = Field(
        DEFAULT_OPTIMIZER, description="Muon for the attention/MLP matrices with AdamW for the rest (measured better on "
                            "the embedded default, benchmarks/RESULTS.md), or AdamW for everything.")
    seed: int = Field(DEFAULT_SEED, description="Seed of initialisation, data order and dropout.")
    max_failures: int = Field(2, ge=-1, description="Worker-group restarts Ray Train may do (-1: unlimited).")
    spread: bool = Field(False, description="Place workers on different Ray nodes (SPREAD) instead of packing them.")

    @model_validator(mode="after")
    def _budget(self):
        if self.max_steps is None and self.max_seconds is None:
            raise ValueError("set a training budget: max_steps, max_seconds or both")
        return self


class PipelineParams(TrainParams, IngestOptions):
    name: str = Field("arlm-gpt", description="Registered model name in MLflow.")
    tokenizer_kind: Literal["bpe", "char", "bytes"] = TokenizerParams.model_fields["tokenizer_kind"]
    vocab_size: int = TokenizerParams.model_fields["vocab_size"]

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "-_." for c in v):
            raise ValueError("model name: letters, digits, '-', '_' and '.' only")
        if len(v) > 100:  # it names run folders and MLflow models: keep it well under file-name limits
            raise ValueError(f"model name: at most 100 characters (got {len(v)})")
        return v


class TrainFlowParams(PipelineParams):
    dataset_id: str | None = Field(None, description="Token dataset id (None: ingest and tokenize `corpus` first).")


class CompareParams(TrainFlowParams):
    models: list[str] = Field(["ngram", "rnn", "lstm", "gru", "lstm-attn", "gpt"],
                              description="Model specs (KIND[/PRESET]) trained under the same budget.")


class EvaluateParams(_Params):
    model_uri: str = Field(..., description="models:/NAME@alias, models:/NAME/VERSION or runs:/ID/model.")
    split: str = Field("test", description="Split of the model's token dataset.")
    samples: int = Field(3, ge=0, le=20, description="Sample continuations of prompts from the split.")


class RegisterParams(_Params):
    run_id: str = Field(..., description="arlm training run id (folder under <home>/runs).")
    name: str = Field("arlm-gpt", description="Registered model name.")
