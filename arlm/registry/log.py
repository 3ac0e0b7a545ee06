"""``log_model``: a trained model folder + its tokenizer -> an MLflow pyfunc model (from code).

A language model is logged with input ``prompt`` and the generation params; a translation model
(a seq2seq kind: ``transformer-seq2seq``, ``lstm-attn-seq2seq``) with input ``source``, the decoding
params (``num_beams`` 4, ``length_penalty``, ``max_len_a``/``max_len_b``, ``truncate_source``), its
target (or joint) tokenizer as artifact ``tokenizer`` and, when the source side has a tokenizer of
its own, that one as ``src_tokenizer``. Both get the same light requirements.

How ``arlm`` travels with the model: a copy of the ``arlm`` package (sources only) is logged as the
model's ``code_paths``; MLflow puts it on ``sys.path`` before running ``pyfunc_model.py``. A fresh
environment with only the model's ``pip_requirements`` (torch, numpy, safetensors, tokenizers,
pandas, mlflow-skinny; exact versions of this environment) can therefore load and run it; the
parts of arlm that need Prefect, Ray or DuckDB are copied too but never imported.
Requirements are given explicitly (MLflow's inference takes seconds and would pick up the
whole training stack).
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from arlm.errors import ConfigError, NotFoundError
from arlm.registry.model_card import model_card
from arlm.registry.tracking import EXPERIMENT, ensure_experiment, use_tracking
from arlm.versioning import git_commit

PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")
MODEL_FILES = ("model.safetensors", "model_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_meta.json")
# what pyfunc_model.py needs at load and predict time (mlflow-skinny: no server, no SQL store)
RUNTIME_PACKAGES = ("torch", "numpy", "safetensors", "tokenizers", "pandas")


def pip_requirements() -> list[str]:
    """Exact versions of this environment's runtime packages (torch without its local +cpu tag)."""
    reqs = []
    for name in RUNTIME_PACKAGES:
        try:
            reqs.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:  # pragma: no cover - all are dependencies of arlm
            reqs.append(name)
    mlflow_version = version("mlflow-skinny") if _installed("mlflow-skinny") else version("mlflow")
    return [f"mlflow-skinny=={mlflow_version}", *reqs]


def _installed(name: str) -> bool:
    try:
        version(name)
        return True
    except PackageNotFoundError:
        return False


def signature(max_context: int | None = None) -> Any:
    """Input ``prompt``, output text, and the generation params with their defaults; a model with
    a context limit gets a ``max_new_tokens`` default that leaves room for a prompt."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    from arlm.registry.pyfunc_model import PARAM_DEFAULTS

    defaults = dict(PARAM_DEFAULTS)
    if max_context is not None:
        defaults["max_new_tokens"] = max(1, min(defaults["max_new_tokens"], max_context // 2))
    types = {int: "long", float: "double", bool: "boolean"}
    params = [ParamSpec(k, types[type(v)], v) for k, v in defaults.items()]
    params.append(ParamSpec("stop", "string", [], (-1,)))
    return ModelSignature(
        inputs=Schema([ColSpec("string", "prompt")]), outputs=Schema([ColSpec("string")]), params=ParamSchema(params)
    )


def translation_signature() -> Any:
    """Input ``source`` (a string per row), output the translation, and the decoding params with
    their defaults (``arlm.registry.pyfunc_model.TRANSLATION_PARAM_DEFAULTS``)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    from arlm.registry.pyfunc_model import TRANSLATION_PARAM_DEFAULTS

    types = {int: "long", float: "double", bool: "boolean"}
    params = [ParamSpec(k, types[type(v)], v) for k, v in TRANSLATION_PARAM_DEFAULTS.items()]
    return ModelSignature(
        inputs=Schema([ColSpec("string", "source")]), outputs=Schema([ColSpec("string")]), params=ParamSchema(params)
    )


def translation_card(
    meta: Mapping[str, Any], num_params: int, metrics: Mapping[str, Any], tags: Mapping[str, str]
) -> str:
    """The model card of a translation model (the registered version's description)."""
    config = meta.get("config", {})
    kind = meta.get("kind", "?")
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    joint = (
        "one joint tokenizer for both sides" if not tags.get("arlm.src_tokenizer_version") else "a tokenizer per side"
    )
    lines = [
        f"# arlm {kind} translation model",
        "",
        f"An encoder-decoder {kind} model ({num_params:,} parameters, sources up to "
        f"{config.get('max_source_len', '?')} tokens, outputs up to {config.get('block_size', '?')}, "
        f"{joint}) trained by arlm.",
        "",
        "## Data",
        f"- corpus version: `{tags.get('arlm.corpus_version', 'unknown')}`"
        + (f" ({tags['arlm.language_pair']})" if tags.get("arlm.language_pair") else ""),
        f"- tokenizer version: `{tags.get('arlm.tokenizer_version', 'unknown')}`",
        *(
            [f"- source tokenizer version: `{tags['arlm.src_tokenizer_version']}`"]
            if tags.get("arlm.src_tokenizer_version")
            else []
        ),
        f"- pair token dataset version: `{tags.get('arlm.token_dataset_version', 'unknown')}`",
        f"- code: git `{tags.get('arlm.git_commit', 'unknown')}`",
        "",
        "## Model",
        "| field | value |",
        "| --- | --- |",
        *[f"| {k} | {fmt(v)} |" for k, v in sorted(config.items())],
        "",
        "## Evaluation",
    ]
    if metrics:
        lines += ["| metric | value |", "| --- | --- |", *[f"| {k} | {fmt(v)} |" for k, v in sorted(metrics.items())]]
        lines += [
            "",
            "BLEU, chrF and chrF++ are sacreBLEU's, of detokenized outputs against raw references "
            "(signatures in the version's tags); copy_* scores the untranslated sources, the floor "
            "a translator must clear.",
        ]
    else:
        lines.append("Not evaluated when logged.")
    lines += [
        "",
        "## Intended use",
        "Sentence translation for experiments, demos and teaching: input a `source` column, get one "
        "translation per row (params: num_beams, length_penalty, max_len_a, max_len_b, truncate_source).",
        "",
        "## Limits",
        "- Small model trained on one parallel corpus: translations outside its domain are often "
        "wrong; it reproduces the style, biases and errors of its training text.",
        f"- A source longer than {config.get('max_source_len', '?')} tokens (with its end token) is "
        "refused, or cut to its first tokens with truncate_source=true.",
    ]
    return "\n".join(lines) + "\n"


def _same_tokenizer(a: Path, b: Path) -> bool:
    """True when two tokenizer folders (or files) hold the same tokenizer.json."""
    fa = a / "tokenizer.json" if a.is_dir() else a
    fb = b / "tokenizer.json" if b.is_dir() else b
    try:
        return fa.resolve() == fb.resolve() or fa.read_bytes() == fb.read_bytes()
    except OSError:
        return False


def _stage(src: Path, files: tuple[str, ...], dst: Path, required: tuple[str, ...]) -> Path:
    """Copy only the files the served model needs (not optimizer state of a checkpoint)."""
    dst.mkdir(parents=True)
    for name in files:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
        elif name in required:
            raise NotFoundError(f"{src / name}: missing ({src} is not a complete folder)")
    return dst


def log_model(
    model_dir: str | Path,
    tokenizer_dir: str | Path,
    *,
    src_tokenizer_dir: str | Path | None = None,
    name: str = "model",
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    run_id: str | None = None,
    tracking_uri: str | None = None,
) -> Any:
    """Log the model as a pyfunc in MLflow run ``run_id`` (resumed) or a new run of experiment
    ``arlm``; returns MLflow's ``ModelInfo`` (``.model_uri`` to register).

    A translation model's folder (seq2seq kind) is logged with its target (or joint) tokenizer
    ``tokenizer_dir`` and, when the source side has its own, ``src_tokenizer_dir`` (left out when it
    is the same tokenizer); ``src_tokenizer_dir`` with a language model is a ConfigError.

    ``tags`` (lineage: ``arlm.corpus_version``, ``arlm.tokenizer_version``,
    ``arlm.token_dataset_version``, ``arlm.token_dataset_path``...) go on the logged model, with the
    model kind, size and git commit added; ``metrics`` are logged on the model and as
    ``metric.<name>`` tags; ``description`` (default: a generated model card) is stored in the
    model's metadata and becomes the registered version's description.
    """
    import mlflow
    import pandas as pd

    from arlm.models import load_model, read_model_metadata
    from arlm.models.seq2seq import is_seq2seq_kind, load_seq2seq
    from arlm.models.serialization import SHA256_KEY, WEIGHTS_FILE, recorded_sha256, verify_weights

    model_dir, tokenizer_dir = Path(model_dir), Path(tokenizer_dir)
    meta = read_model_metadata(model_dir)
    translation = is_seq2seq_kind(meta["kind"])
    if src_tokenizer_dir is not None:
        if not translation:
            raise ConfigError(
                f"{model_dir}: a {meta['kind']!r} language model has one tokenizer; "
                "src_tokenizer_dir is for translation models"
            )
        if _same_tokenizer(Path(src_tokenizer_dir), tokenizer_dir):
            src_tokenizer_dir = None
    client = use_tracking(tracking_uri)
    # checks the recorded sha256 and proves the weights load
    loaded = load_seq2seq(model_dir) if translation else load_model(model_dir)
    num_params, max_context = loaded.num_params(), loaded.max_context
    weights_sha256 = recorded_sha256(model_dir)
    if weights_sha256 is None:  # a folder from before hashes were recorded: the copy logged carries one
        from arlm.versioning import sha256_file

        weights_sha256 = sha256_file(model_dir / WEIGHTS_FILE)
    metrics = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))}
    all_tags = {
        "arlm.model_kind": meta["kind"],
        "arlm.num_params": str(num_params),
        "arlm.git_commit": git_commit(),
        "arlm.weights_sha256": weights_sha256,
        **{f"metric.{k}": f"{v:.6g}" for k, v in metrics.items()},
        **({"arlm.task": "translation"} if translation else {}),
        **{k: str(v) for k, v in (tags or {}).items()},
    }
    card = description or (translation_card if translation else model_card)(meta, num_params, metrics, all_tags)

    with tempfile.TemporaryDirectory(prefix="arlm-log-") as tmp:
        tmp = Path(tmp)
        staged_model = _stage(model_dir, MODEL_FILES, tmp / "model", MODEL_FILES)
        if meta.get(SHA256_KEY) != weights_sha256:
            from arlm.versioning import atomic_write_json

            atomic_write_json(staged_model / "model_config.json", {**meta, SHA256_KEY: weights_sha256})
        verify_weights(staged_model / WEIGHTS_FILE)  # the copy that is logged is the one checked
        staged_tok = _stage(tokenizer_dir, TOKENIZER_FILES, tmp / "tokenizer", ("tokenizer.json",))
        artifacts = {"model": str(staged_model), "tokenizer": str(staged_tok)}
        if src_tokenizer_dir is not None:
            artifacts["src_tokenizer"] = str(
                _stage(Path(src_tokenizer_dir), TOKENIZER_FILES, tmp / "src_tokenizer", ("tokenizer.json",))
            )
        if translation:  # the tokenizers must fit the model: refused here, not at serving time
            from arlm.registry.resolve import translator_from_dirs

            translator_from_dirs(staged_model, staged_tok, artifacts.get("src_tokenizer"))
        code = tmp / "code" / "arlm"
        shutil.copytree(
            Path(__file__).resolve().parent.parent,
            code,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.tmp-*"),
        )
        if run_id is None:
            run = mlflow.start_run(experiment_id=ensure_experiment(client, EXPERIMENT), run_name=f"log-{name}")
        else:
            run = mlflow.start_run(run_id=run_id)
        with run, warnings.catch_warnings():
            # MLflow asks for type hints on predict to infer a signature: ours is given explicitly
            warnings.filterwarnings("ignore", message=".*type hints to the `predict` method.*")
            info = mlflow.pyfunc.log_model(
                name=name,
                python_model=str(PYFUNC_FILE),
                artifacts=artifacts,
                code_paths=[str(code)],
                signature=translation_signature() if translation else signature(max_context),
                input_example=pd.DataFrame({"source": ["Hello."]} if translation else {"prompt": ["The "]}),
                pip_requirements=pip_requirements(),
                metadata={
                    "arlm_kind": meta["kind"],
                    "arlm_num_params": num_params,
                    **({"arlm_task": "translation"} if translation else {}),
                    "description": card,
                },
                tags=all_tags,
            )
            if metrics:
                mlflow.log_metrics(metrics, model_id=info.model_id)
    return info
