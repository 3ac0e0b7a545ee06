"""The tokenizer's typed config and the special tokens every kind shares.

The config is frozen and hashed (with the corpus version id) into the tokenizer's id, so every
field that changes the trained vocabulary belongs here and nothing else does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from arlm.errors import ConfigError
from arlm.tokenizers.patterns import PatternName

EOT = "<|endoftext|>"
PAD = "<|pad|>"
SPECIAL_TOKENS: tuple[str, ...] = (EOT, PAD)  # ids 0 and 1 in every kind

# The smallest vocabulary any kind can have: the 2 specials + 256 byte tokens.
MIN_VOCAB = len(SPECIAL_TOKENS) + 256

TokenizerKind = Literal["bpe", "char", "bytes"]
TextColumn = Literal["text", "src", "tgt"]
DEFAULT_COLUMN = "text"


class TokenizerConfig(BaseModel):
    """What to train: the kind, its vocabulary budget and which text it learns from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: TokenizerKind = Field(
        "bpe",
        description="bpe: byte-level BPE (GPT-2 pre-tokenization, tiktoken-fast); "
        "char: one token per character seen in the corpus, UTF-8 byte fallback for the rest; "
        "bytes: one token per byte (256 ids + specials, no training).",
    )
    vocab_size: int = Field(
        4096,
        description="Upper bound on the vocabulary, specials and the 256 byte tokens included "
        "(bpe: merges fill the rest; char: the most frequent characters fill the rest; "
        "bytes: ignored, always 258). The trained vocabulary may be smaller on a small corpus.",
    )
    pattern: PatternName = Field(
        "fast",
        description="bpe pre-tokenization regex (see arlm.tokenizers.patterns): fast (GPT-2's without the "
        "whitespace look-ahead: faster to encode, as compact) or gpt2 (exactly GPT-2's).",
    )
    min_frequency: int = Field(
        2, ge=1, description="A merge (bpe) or a character (char) must occur this often in training text."
    )
    train_split: str = Field("train", description="The corpus split the vocabulary is learned from.")
    max_train_bytes: int | None = Field(
        None, ge=1, description="Stop reading training text after this many UTF-8 bytes (None: the whole split)."
    )
    column: TextColumn = Field(
        DEFAULT_COLUMN,
        description="The corpus' Parquet column the vocabulary is learned from (and tokens per byte measured on): "
        "text (every corpus; a translation corpus holds source and target there: a joint tokenizer), "
        "src or tgt (a translation corpus' source or target side: one tokenizer per side).",
    )

    @model_validator(mode="after")
    def _check_vocab(self) -> TokenizerConfig:
        if self.kind != "bytes" and self.vocab_size < MIN_VOCAB:
            raise ValueError(f"vocab_size={self.vocab_size} is below {MIN_VOCAB} (2 specials + 256 byte tokens)")
        if self.vocab_size > 2**32 - 1:
            raise ValueError(f"vocab_size={self.vocab_size} does not fit uint32 token ids")
        return self

    @classmethod
    def parse(cls, data: dict[str, Any] | None = None, **overrides: Any) -> TokenizerConfig:
        """Build from user input (a config file section, CLI flags), raising ``ConfigError`` not pydantic's error."""
        merged = {**(data or {}), **{k: v for k, v in overrides.items() if v is not None}}
        try:
            return cls(**merged)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            msg = str(first.get("msg", e)).removeprefix("Value error, ")
            raise ConfigError(f"tokenizer config{' ' + where if where else ''}: {msg}") from None

    def identity(self) -> dict[str, Any]:
        """The fields that decide the vocabulary (what the id hashes): bytes ignores training, char the
        pattern; ``column`` counts only when it is not the default, so ids made before it existed stay."""
        if self.kind == "bytes":
            return {"kind": "bytes"}
        exclude = {"pattern"} if self.kind == "char" else set()
        if self.column == DEFAULT_COLUMN:
            exclude.add("column")
        return self.model_dump(exclude=exclude)
