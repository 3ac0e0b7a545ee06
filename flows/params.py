"""Typed flow parameters (pydantic): the Prefect UI renders them as forms with defaults,
descriptions and validation, and the command line is generated from them (``arlm.options``).

Nothing here declares a training, ingest or tokenizer setting: the fields are derived from
``TrainConfig``, ``IngestConfig`` and ``TokenizerConfig`` (their defaults and help), so the CLI,
the flows and the library agree by construction (tests/unit/test_options.py). Only what belongs to
running a flow (home, resume, Ray workers, names, ids) is declared here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from arlm.data.config import IngestConfig
from arlm.defaults import DEFAULT_MODEL_NAME, DEFAULT_RESUME, DEFAULT_TRANSLATION_MODEL_NAME
from arlm.errors import ConfigError
from arlm.options import config_fields
from arlm.tokenizers.config import TokenizerConfig
from arlm.training.config import TrainConfig
from arlm.translation.lake import PairIngestConfig

# IngestConfig fields a user sets per corpus (the rest: how the ingest runs, chosen by the stage)
INGEST_FIELDS = (
    "corpus",
    "val_fraction",
    "test_fraction",
    "seed",
    "encoding",
    "encoding_errors",
    "include",
    "exclude",
    "min_chars",
    "max_chars",
    "segment_chars",
    "dedup",
    "normalize",
    "strip_control",
)
INGEST_RENAME = {"seed": "split_seed"}  # `seed` is the training seed
TOKENIZER_FIELDS = ("kind", "vocab_size", "pattern", "min_frequency")
TOKENIZER_RENAME = {
    "kind": "tokenizer_kind",
    "pattern": "tokenizer_pattern",
    "min_frequency": "tokenizer_min_frequency",
}
TRAIN_FIELDS = tuple(f for f in TrainConfig.__dataclass_fields__)


def _check(build) -> None:
    """Run a config constructor; its error becomes the validation error of the form/CLI."""
    from pydantic import ValidationError

    try:
        build()
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    except ValidationError as exc:
        from arlm.options import validation_message

        raise ValueError(validation_message(exc, prefix="")) from None


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: str | None = Field(
        None, description="Project home (runtime state). Default: $ARLM_HOME or ./.arlm of the worker."
    )


class _IngestBase(_Params):
    def ingest_config(self) -> IngestConfig:
        values = {name: getattr(self, INGEST_RENAME.get(name, name)) for name in INGEST_FIELDS}
        return IngestConfig(**values)

    @model_validator(mode="after")
    def _ingest_ok(self):
        _check(self.ingest_config)
        return self


IngestOptions = create_model(
    "IngestOptions",
    __base__=_IngestBase,
    __module__=__name__,
    __doc__="What to ingest and how to clean and split it (IngestConfig's fields).",
    **config_fields(IngestConfig, include=INGEST_FIELDS, rename=INGEST_RENAME),
)


class IngestParams(IngestOptions):
    pass


class _TokenizerBase(_Params):
    def tokenizer_config(self) -> TokenizerConfig:
        return TokenizerConfig(**{name: getattr(self, TOKENIZER_RENAME.get(name, name)) for name in TOKENIZER_FIELDS})

    @model_validator(mode="after")
    def _tokenizer_ok(self):
        _check(self.tokenizer_config)
        return self


TokenizerOptions = create_model(
    "TokenizerOptions",
    __base__=_TokenizerBase,
    __module__=__name__,
    __doc__="The tokenizer to build (TokenizerConfig's fields).",
    **config_fields(TokenizerConfig, include=TOKENIZER_FIELDS, rename=TOKENIZER_RENAME),
)


class TokenizerParams(TokenizerOptions, IngestOptions):
    corpus_id: str | None = Field(None, description="Corpus version id (None: ingest `corpus` first).")
    ray_address: str | None = Field(None, description="Encode as Ray tasks on this cluster (none: local threads).")


class _TrainBase(_Params):
    """How a training runs (resume, Ray workers); the training itself is TrainConfig's fields."""

    resume: Literal["auto", "never"] = Field(
        DEFAULT_RESUME,
        description="auto: continue an unfinished run of the same parameters from its last "
        "checkpoint (same run folder and MLflow run); never: start afresh.",
    )
    workers: int = Field(1, ge=1, le=512, description="Ray Train workers (DDP).")
    ray_address: str | None = Field(None, description="Existing Ray cluster address; none starts a local Ray.")
    max_failures: int = Field(2, ge=-1, description="Worker-group restarts Ray Train may do (-1: unlimited).")
    spread: bool = Field(False, description="Place workers on different Ray nodes (SPREAD) instead of packing them.")

    def train_config(self, **changes: Any) -> TrainConfig:
        """The TrainConfig these parameters name (numbers checked; the model spec is checked by
        ``TrainConfig.validate``, which imports the model registry)."""
        values = {name: getattr(self, name) for name in TRAIN_FIELDS}
        values["betas"] = tuple(values["betas"])
        values.update(changes)
        return TrainConfig(**values)

    @model_validator(mode="after")
    def _train_ok(self):
        _check(lambda: self.train_config()._check_numbers(self.workers))
        return self


TrainParams = create_model(
    "TrainParams",
    __base__=_TrainBase,
    __module__=__name__,
    __doc__="Training parameters: TrainConfig's fields plus how the run is launched.",
    **config_fields(TrainConfig),
)


# PairIngestConfig fields that --task translation adds; corpus, the split fractions, the split seed,
# dedup, normalize, strip_control and encoding are IngestOptions' (same names, same meaning)
PAIR_FIELDS = ("src_lang", "tgt_lang", "split_by", "max_chars", "max_ratio", "ratio_min_chars")
PAIR_RENAME = {"max_chars": "pair_max_chars"}  # max_chars is the document limit of monolingual corpora
PAIR_SHARED = ("corpus", "val_fraction", "test_fraction", "seed", "dedup", "normalize", "strip_control", "encoding")
TASKS = ("language-model", "translation")
DEFAULT_TRANSLATION_MODEL = "transformer-seq2seq/tiny"


class _TranslationBase(_Params):
    def pair_ingest_config(self) -> PairIngestConfig:
        values = {name: getattr(self, PAIR_RENAME.get(name, name)) for name in PAIR_FIELDS}
        values.update({name: getattr(self, INGEST_RENAME.get(name, name)) for name in PAIR_SHARED})
        return PairIngestConfig(**values)


TranslationOptions = create_model(
    "TranslationOptions",
    __base__=_TranslationBase,
    __module__=__name__,
    __doc__="How sentence pairs are read, cleaned and split (PairIngestConfig's fields), for --task translation.",
    **config_fields(PairIngestConfig, include=PAIR_FIELDS, rename=PAIR_RENAME),
    tokenizer_sides=(
        Literal["joint", "separate"],
        Field(
            "joint",
            description="translation: one BPE over both languages (one id space, shared embeddings) or "
            "separate: one tokenizer per side.",
        ),
    ),
    eval_num_beams=(int, Field(4, ge=1, le=64, description="translation: beam width of the test-set evaluation.")),
    eval_max_pairs=(
        int | None,
        Field(None, ge=1, description="translation: translate at most this many test pairs (None: all of them)."),
    ),
)


def option_sections() -> dict[str, str]:
    """The --help section of each parameter, by the config it comes from."""
    sections = {name: "corpus (IngestConfig)" for name in IngestOptions.model_fields}
    sections.update({name: "translation (PairIngestConfig)" for name in TranslationOptions.model_fields})
    sections.update({name: "tokenizer (TokenizerConfig)" for name in TokenizerOptions.model_fields})
    sections.update({name: "launch (Ray Train)" for name in _TrainBase.model_fields})
    sections.update({name: "training (TrainConfig)" for name in TRAIN_FIELDS})
    sections.pop("home", None)
    return sections


class PipelineParams(TrainParams, TranslationOptions, TokenizerOptions, IngestOptions):
    name: str = Field(
        DEFAULT_MODEL_NAME,
        description=f"Registered model name in MLflow (task=translation: {DEFAULT_TRANSLATION_MODEL_NAME} by default).",
    )
    task: Literal["language-model", "translation"] = Field(
        "language-model",
        description="language-model: a corpus of documents, a decoder-only model, gated on test bits/byte; "
        "translation: a parallel corpus (--corpus bible-en-es, FILE.tsv...), a seq2seq model (the default "
        f"gpt/tiny becomes {DEFAULT_TRANSLATION_MODEL}), gated on test BLEU.",
    )

    @property
    def model_name(self) -> str:
        """The registered name: ``name``, or for task=translation left at the language models'
        default, the translators' (one registered name never mixes the two gates' figures)."""
        if self.task == "translation" and self.name == DEFAULT_MODEL_NAME:
            return DEFAULT_TRANSLATION_MODEL_NAME
        return self.name

    def translation_train_config(self, **changes: Any) -> TrainConfig:
        """The TrainConfig of --task translation: the LM default model becomes the seq2seq default;
        any other language-model kind is refused by ``TrainConfig.model_config``."""
        model = changes.pop("model", self.model)
        if model == TrainConfig.__dataclass_fields__["model"].default:
            model = DEFAULT_TRANSLATION_MODEL
        cfg = self.train_config(model=model, **changes)
        if not cfg.is_seq2seq:
            raise ConfigError(
                f"--task translation trains a translation (seq2seq) model, and {model!r} is a language model: "
                f"give --model transformer-seq2seq[/PRESET] or lstm-attn-seq2seq[/PRESET] (default {DEFAULT_TRANSLATION_MODEL})"
            )
        return cfg

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "-_." for c in v):
            raise ValueError("model name: letters, digits, '-', '_' and '.' only")
        if len(v) > 100:  # it names run folders and MLflow models: keep it well under file-name limits
            raise ValueError(f"model name: at most 100 characters (got {len(v)})")
        return v


class TrainFlowParams(PipelineParams):
    name: str = Field("arlm-train", description="Run name prefix (runs/NAME-HASH).")
    dataset_id: str | None = Field(None, description="Token dataset id (None: ingest and tokenize `corpus` first).")


class CompareParams(TrainFlowParams):
    models: list[str] = Field(
        ["ngram", "rnn", "lstm", "gru", "lstm-attn", "gpt"],
        description="Model specs (KIND[/PRESET]) trained under the same budget.",
    )


class EvaluateParams(_Params):
    model_uri: str = Field(..., description="models:/NAME@alias, models:/NAME/VERSION or runs:/ID/model.")
    split: str = Field("test", description="Split of the model's token dataset.")
    samples: int = Field(3, ge=0, le=20, description="Sample continuations of prompts from the split.")


class RegisterParams(_Params):
    run_id: str = Field(..., description="arlm training run id (folder under <home>/runs).")
    name: str = Field(DEFAULT_MODEL_NAME, description="Registered model name.")
