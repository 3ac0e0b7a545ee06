"""The MLflow model of arlm, logged "from code": MLflow stores and executes this file, no pickle.

``arlm.registry.log_model`` passes this file's path as ``python_model``; at load time MLflow runs it,
and ``mlflow.models.set_model`` below hands MLflow the model object. Artifacts:

    model       the model folder (model.safetensors + model_config.json)
    tokenizer   the tokenizer folder (tokenizer.json + tokenizer_meta.json)

The ``arlm`` package travels inside the logged model (``code_paths``), so loading needs only the
model's pip requirements (torch, numpy, safetensors, tokenizers, pandas, mlflow-skinny): this file
imports nothing of arlm but ``arlm.errors`` and ``arlm.generation`` (which imports ``arlm.models``)
- no Prefect, Ray, DuckDB or MLflow server parts.

Input: a DataFrame (or list/dict/str) with a ``prompt`` column. Params: ``max_new_tokens``,
``temperature`` (0 or 1 with no other knob: greedy), ``top_k`` (0: off), ``top_p``, ``num_beams``,
``seed`` (-1: none), ``do_sample``, ``stop`` (list of strings). Output: one continuation per prompt.
"""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel

PARAM_DEFAULTS: dict[str, Any] = {
    "max_new_tokens": 64,
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "num_beams": 1,
    "seed": -1,
    "do_sample": False,
}


def prompts_from_input(model_input: Any) -> list[str]:
    """Prompts from what MLflow hands ``predict``: DataFrame, dict of columns, list, or one string."""
    import pandas as pd

    from arlm.errors import ConfigError

    if isinstance(model_input, pd.DataFrame):
        if "prompt" in model_input.columns:
            values = model_input["prompt"].tolist()
        elif model_input.shape[1] == 1:
            values = model_input.iloc[:, 0].tolist()
        else:
            raise ConfigError(f"model input needs a 'prompt' column, got columns {list(model_input.columns)}")
    elif isinstance(model_input, dict):
        if "prompt" not in model_input:
            raise ConfigError(f"model input needs a 'prompt' key, got {sorted(model_input)}")
        values = model_input["prompt"]
        values = [values] if isinstance(values, str) else list(values)
    elif isinstance(model_input, str):
        values = [model_input]
    elif isinstance(model_input, (list, tuple)):
        values = [v["prompt"] if isinstance(v, dict) and "prompt" in v else v for v in model_input]
    else:
        raise ConfigError(f"model input must be a DataFrame, dict, list or string, got {type(model_input).__name__}")
    values = _flatten(values)
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise ConfigError(f"prompt {i} must be a string, got {type(v).__name__}")
    return values


def _flatten(values: list) -> list:
    """MLflow turns ``{"prompt": ["a", "b"]}`` into a one-row frame whose cell is the list (or a
    numpy array): each element of such a cell is a prompt of its own."""
    out = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(v)
        elif hasattr(v, "tolist") and not isinstance(v, str):
            item = v.tolist()
            out.extend(item if isinstance(item, list) else [item])
        else:
            out.append(v)
    return out


def config_from_params(params: dict[str, Any] | None):
    """A ``GenerationConfig`` from request params (MLflow fills in the signature's defaults)."""
    from arlm.errors import ConfigError
    from arlm.generation import GenerationConfig

    p = {**PARAM_DEFAULTS, **{k: v for k, v in (params or {}).items() if v is not None}}
    unknown = sorted(set(p) - set(PARAM_DEFAULTS) - {"stop"})
    if unknown:
        raise ConfigError(
            f"unknown generation param(s) {', '.join(unknown)}; valid: {', '.join(sorted(PARAM_DEFAULTS))}, stop"
        )
    try:
        seed = int(p["seed"])
        return GenerationConfig(
            max_new_tokens=int(p["max_new_tokens"]),
            temperature=float(p["temperature"]),
            top_k=int(p["top_k"]) or None,
            top_p=float(p["top_p"]),
            num_beams=int(p["num_beams"]),
            seed=None if seed < 0 else seed,
            do_sample=True if p["do_sample"] else None,
            stop=tuple(p.get("stop") or ()),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid generation params: {exc}") from None


class ArlmTextModel(PythonModel):
    """Text continuation with an arlm model; errors a caller can fix become MLflow 400s."""

    def load_context(self, context) -> None:
        from arlm.generation.text import TextGenerator

        self.generator = TextGenerator.from_dirs(context.artifacts["model"], context.artifacts["tokenizer"])

    def predict(self, context, model_input, params: dict[str, Any] | None = None) -> list[str]:
        from arlm.errors import ArlmError

        try:
            prompts = prompts_from_input(model_input)
            import logging

            return self.generator.generate(
                prompts, config_from_params(params), on_notice=logging.getLogger("arlm").warning
            )
        except ArlmError as exc:
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None


mlflow.models.set_model(ArlmTextModel())
