"""The typed ingest configuration.

Fields split in two: those that change the produced documents (source spec, cleaning policy,
split fractions, seed) name the corpus version; those that only change how the work is done
(workers, Ray address, progress) do not, so tuning parallelism never makes a "new" corpus.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from arlm.errors import ConfigError

# Fields that do not affect the output bytes: excluded from the version hash.
EXECUTION_FIELDS = frozenset({"workers", "executor", "ray_address", "progress"})


class IngestConfig(BaseModel):
    """How to turn a corpus SPEC into a cleaned, split, versioned set of Parquet documents."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    corpus: str = Field(
        "stdlib-docs",
        description=(
            "Corpus SPEC: stdlib-docs (the running Python's docstrings) | stdlib-code | FILE | FOLDER "
            "| FILE.jsonl[:COLUMN] | FILE.csv[:COLUMN] | FILE.parquet[:COLUMN] (COLUMN defaults to "
            "'text') | https://URL[#sha256=HEX] | hf:NAME_OR_SAVED_DIR[:COLUMN] | a named corpus "
            "(HOME/corpora/NAME.json or the named corpora shipped with arlm)."
        ),
    )
    val_fraction: float = Field(0.05, ge=0.0, lt=1.0, description="Share of documents held out for validation.")
    test_fraction: float = Field(0.05, ge=0.0, lt=1.0, description="Share of documents held out for test.")
    seed: int = Field(0, description="Salt of the hash that assigns documents to splits.")
    encoding: str = Field(
        "utf-8",
        description=(
            "How input bytes become text: 'utf-8' (default; a UTF-8, UTF-16 or UTF-32 byte "
            "order mark is honoured), any Python codec name ('latin-1', 'cp1252', 'utf-16'...), "
            "or 'auto' (BOM, else UTF-8 when valid, else charset-normalizer's guess per file)."
        ),
    )
    encoding_errors: Literal["strict", "replace", "skip"] = Field(
        "replace",
        description=(
            "Bytes invalid in the encoding: 'strict' fails the ingest naming the file, "
            "'replace' keeps the text with U+FFFD (the report and the CLI name each such "
            "file), 'skip' drops the file (a JSONL line); each case is counted."
        ),
    )
    min_chars: int = Field(1, ge=0, description="Documents shorter than this (after cleaning) are skipped.")
    max_chars: int = Field(
        50_000_000,
        ge=1,
        description="Documents longer than this (after cleaning) are skipped, before segmenting.",
    )
    max_line_chars: int = Field(
        1_000_000,
        ge=1,
        description=(
            "A text file with a line longer than this is skipped as not line-structured "
            "text (keeps memory bounded on e.g. a 200 MB single-line file)."
        ),
    )
    dedup: bool = Field(True, description="Drop exact duplicate documents (same SHA-256 of text).")
    segment_chars: int = Field(
        8192,
        ge=0,
        description=(
            "Cut documents longer than this into segments at line boundaries, so one "
            "long document still gets val and test parts; 0 disables."
        ),
    )
    normalize: Literal["NFC", "none"] = Field("NFC", description="Unicode normalization of the text.")
    strip_control: bool = Field(True, description="Remove control characters other than tab, newline, CR.")
    include: tuple[str, ...] = Field((), description="Folder sources: glob(s) of relative paths to keep (default all).")
    exclude: tuple[str, ...] = Field((), description="Folder sources: glob(s) of relative paths to drop.")
    follow_symlinks: bool = Field(True, description="Folder sources: follow symlinks (loops are an error).")
    workers: int | None = Field(
        None,
        ge=0,
        description="Reader processes (None: one per core for large inputs; 0 or 1: in-process). Not hashed.",
    )
    executor: Literal["auto", "local", "ray"] = Field(
        "auto",
        description=(
            "Where the read/clean step runs: 'auto' (Ray tasks when a Ray cluster is connected "
            "or ray_address is set, else local processes), 'local' or 'ray'. Not hashed."
        ),
    )
    ray_address: str | None = Field(
        None,
        description="Run the read/clean step as Ray tasks on this cluster ('auto' for a running one). Not hashed.",
    )
    progress: bool = Field(False, description="Print files read and MB/s on stderr. Not hashed.")

    @field_validator("encoding", mode="before")
    @classmethod
    def _encoding(cls, value):
        from arlm.data.cleaning import canonical_encoding

        if not isinstance(value, str):
            raise ConfigError(f"encoding must be a codec name or 'auto', got {value!r}")
        try:
            return canonical_encoding(value)
        except LookupError:
            raise ConfigError(
                f"unknown text encoding {value!r}: give a Python codec name "
                "(utf-8, utf-16, latin-1, cp1252...) or 'auto'"
            ) from None

    @model_validator(mode="after")
    def _check(self) -> IngestConfig:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError(
                f"val_fraction + test_fraction must be < 1 (got {self.val_fraction} + {self.test_fraction})"
            )
        if self.min_chars > self.max_chars:
            raise ConfigError(f"min_chars ({self.min_chars}) is larger than max_chars ({self.max_chars})")
        if not self.corpus.strip():
            raise ConfigError("corpus spec is empty")
        return self

    def output_fields(self) -> dict:
        """The fields that decide the output bytes (hashed into the version id)."""
        return self.model_dump(mode="json", exclude=set(EXECUTION_FIELDS))
