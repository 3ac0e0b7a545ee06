"""Parameters of the ``finetune`` flow (and of ``arlm finetune``), apart from the flow so that the
command line builds its options without importing Prefect."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from arlm_flows.params import IngestOptions, TrainParams


class FinetuneParams(TrainParams, IngestOptions):
    """What to fine-tune, on which corpus, under which name; the training fields are TrainConfig's
    (``model``, ``init_from`` and the tokenizer come from the base model)."""

    from_uri: str = Field(
        ...,
        description="Base model: models:/NAME@ALIAS, models:/NAME/VERSION, a local "
        "Hugging Face folder or hf:NAME (local Hub cache only).",
    )
    name: str = Field(..., description="Registered model name of the fine-tuned versions.")
    optimizer: Literal["adamw", "muon"] = Field(
        "adamw",
        description="adamw (the fine-tuning default: Muon's orthogonalised updates were tuned for "
        "training from scratch) or muon.",
    )
    lr: float = Field(3e-4, gt=0, description="Peak learning rate (fine-tuning: lower than from scratch).")
    max_steps: int | None = Field(200, gt=0, description="Step budget of the fine-tuning.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        from arlm.errors import ConfigError
        from arlm.hf.stages import check_model_name

        try:
            check_model_name(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v
