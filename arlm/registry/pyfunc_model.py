"""The MLflow model of arlm, logged "from code": MLflow stores and executes this file, no pickle.

``arlm.registry.log_model`` passes this file's path as ``python_model``; at load time MLflow runs it,
and ``mlflow.models.set_model`` below hands MLflow the model object. Artifacts:

    model           the model folder (model.safetensors + model_config.json)
    tokenizer       the tokenizer folder (tokenizer.json + tokenizer_meta.json); for a translation
                    model the target side's (or the joint one)
    src_tokenizer   translation models whose source side has a tokenizer of its own

The ``arlm`` package travels inside the logged model (``code_paths``), so loading needs only the
model's pip requirements (torch, numpy, safetensors, tokenizers, pandas, mlflow-skinny): this file
imports nothing of arlm but ``arlm.errors``, ``arlm.generation`` (which imports ``arlm.models``) and,
for a translation model, its loader ``arlm.registry.resolve.translator_from_dirs`` with
``arlm.models.seq2seq`` and ``arlm.translation`` (decoding) - no Prefect, Ray, DuckDB or MLflow
server parts. Tokenizers are read with the HF ``tokenizers`` library directly.

The model folder's kind decides what the model does:

- a language model: input a ``prompt`` column (DataFrame, or list/dict/str). Params:
  ``max_new_tokens``, ``temperature`` (0 or 1 with no other knob: greedy), ``top_k`` (0: off),
  ``top_p``, ``num_beams``, ``seed`` (-1: none), ``do_sample``, ``stop`` (list of strings).
  Output: one continuation per prompt.
- a translation model (``transformer-seq2seq``, ``lstm-attn-seq2seq``): input a ``source`` column;
  ``predict({"source": ["In the beginning..."]}, params={"num_beams": 4})``. Params
  (``TRANSLATION_PARAM_DEFAULTS``): ``num_beams`` (1: greedy), ``length_penalty``, ``max_len_a`` and
  ``max_len_b`` (at most ``a * source tokens + b`` output tokens), ``truncate_source``. Output:
  one translation per source; a blank source translates to "". A source longer than the model's
  ``max_source_len`` is refused with the limit named, unless ``truncate_source`` is true (then its
  first tokens are kept).

Errors a caller can fix (no such column, a value that is not a string, a bad param, a source over
the limit) are ``arlm.errors`` exceptions, raised to MLflow as ``INVALID_PARAMETER_VALUE``: the
scoring server answers them with a 400 and the message.
"""

from __future__ import annotations

from pathlib import Path
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


TRANSLATION_PARAM_DEFAULTS: dict[str, Any] = {
    "num_beams": 4,
    "length_penalty": 1.0,
    "max_len_a": 1.5,
    "max_len_b": 10,
    "truncate_source": False,
}


def texts_from_input(model_input: Any, column: str = "prompt") -> list[str]:
    """Texts of ``column`` from what MLflow hands ``predict``: DataFrame, dict of columns, list, or
    one string."""
    import pandas as pd

    from arlm.errors import ConfigError

    if isinstance(model_input, pd.DataFrame):
        if column in model_input.columns:
            values = model_input[column].tolist()
        elif model_input.shape[1] == 1:
            values = model_input.iloc[:, 0].tolist()
        else:
            raise ConfigError(f"model input needs a '{column}' column, got columns {list(model_input.columns)}")
    elif isinstance(model_input, dict):
        if column not in model_input:
            raise ConfigError(f"model input needs a '{column}' key, got {sorted(model_input)}")
        values = model_input[column]
        values = [values] if isinstance(values, str) else _as_list(values, column)
    elif isinstance(model_input, str):
        values = [model_input]
    elif isinstance(model_input, (list, tuple)):
        values = [v[column] if isinstance(v, dict) and column in v else v for v in model_input]
    else:
        raise ConfigError(f"model input must be a DataFrame, dict, list or string, got {type(model_input).__name__}")
    values = _flatten(values)
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise ConfigError(f"{column} {i} must be a string, got {type(v).__name__}")
    return values


def _as_list(values: Any, column: str) -> list:
    from arlm.errors import ConfigError

    try:
        return list(values)
    except TypeError:
        raise ConfigError(
            f"model input '{column}' must be a string or a list of strings, got {type(values).__name__}"
        ) from None


def prompts_from_input(model_input: Any) -> list[str]:
    """Prompts from what MLflow hands ``predict``: DataFrame, dict of columns, list, or one string."""
    return texts_from_input(model_input, "prompt")


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


def decode_config_from_params(params: dict[str, Any] | None):
    """A translation ``DecodeConfig`` from request params (MLflow fills in the signature's defaults)."""
    from arlm.errors import ConfigError
    from arlm.translation.decode import DecodeConfig

    p = {**TRANSLATION_PARAM_DEFAULTS, **{k: v for k, v in (params or {}).items() if v is not None}}
    unknown = sorted(set(p) - set(TRANSLATION_PARAM_DEFAULTS))
    if unknown:
        raise ConfigError(
            f"unknown translation param(s) {', '.join(unknown)}; valid: {', '.join(sorted(TRANSLATION_PARAM_DEFAULTS))}"
        )
    try:
        beams, max_len_b = p["num_beams"], p["max_len_b"]
        for name, value in (("num_beams", beams), ("max_len_b", max_len_b)):
            if isinstance(value, bool) or float(value) != int(value):
                raise ConfigError(f"translation param {name} must be an integer, got {value!r}")
        truncate = p["truncate_source"]
        if isinstance(truncate, str):
            if truncate.lower() not in ("true", "false"):
                raise ConfigError(f"translation param truncate_source must be true or false, got {truncate!r}")
            truncate = truncate.lower() == "true"
        return DecodeConfig(
            num_beams=int(beams),
            length_penalty=float(p["length_penalty"]),
            max_len_a=float(p["max_len_a"]),
            max_len_b=int(max_len_b),
            truncate_source=bool(truncate),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid translation params: {exc}") from None


def is_translation_folder(model_dir: str | Path) -> bool:
    """True when the model folder holds a seq2seq (translation) model."""
    from arlm.models.seq2seq import is_seq2seq_kind
    from arlm.models.serialization import read_model_metadata

    return is_seq2seq_kind(read_model_metadata(model_dir)["kind"])


class ArlmTextModel(PythonModel):
    """Text continuation (a language model) or translation (a seq2seq model) with an arlm model,
    chosen by the kind in the model folder; errors a caller can fix become MLflow 400s."""

    generator = None
    translator = None

    def load_context(self, context) -> None:
        artifacts = context.artifacts
        if is_translation_folder(artifacts["model"]):
            from arlm.registry.resolve import translator_from_dirs

            self.translator = translator_from_dirs(
                artifacts["model"], artifacts["tokenizer"], artifacts.get("src_tokenizer")
            )
            return
        from arlm.generation.text import TextGenerator

        self.generator = TextGenerator.from_dirs(artifacts["model"], artifacts["tokenizer"])

    def predict(self, context, model_input, params: dict[str, Any] | None = None) -> list[str]:
        from arlm.errors import ArlmError

        try:
            if self.translator is not None:
                return self._translate(model_input, params)
            prompts = prompts_from_input(model_input)
            import logging

            return self.generator.generate(
                prompts, config_from_params(params), on_notice=logging.getLogger("arlm").warning
            )
        except ArlmError as exc:
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None

    def _translate(self, model_input: Any, params: dict[str, Any] | None) -> list[str]:
        from arlm.translation.evaluate import check_source_lengths

        sources = texts_from_input(model_input, "source")
        cfg = decode_config_from_params(params)
        check_source_lengths(self.translator, sources, truncate=cfg.truncate_source)
        return self.translator.translate(sources, cfg)


mlflow.models.set_model(ArlmTextModel())
