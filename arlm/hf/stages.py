"""Import, export and fine-tune as stages: each checks its input first, then writes the model
version, the MLflow entries and the catalog rows.

* ``import_stage(source, name, home)``: a Hugging Face GPT-2 folder (or ``hf:NAME``) -> version 1
  of ``name`` in MLflow (alias ``champion``: the only version, nothing to gate against), its
  tokenizer as a tokenizer version of the home (the checkpoint's byte-level BPE as it is), and the
  catalog rows ``models`` + ``model_origins`` (origin "import", source, weights sha256).
* ``export_stage(uri, out_dir, home)``: a registered version -> a stock ``transformers`` folder
  (``arlm.hf.export``), also logged as artifact ``hf_export/`` of the version's MLflow run.
* ``finetune_stage(from_uri, ingest_cfg, name, home, train_cfg, ray_options)``: a registered version
  (or a Hugging Face folder) trained further on a new corpus tokenized with the base's tokenizer,
  through Ray Train and the same loop (``TrainConfig.init_from``; ``lora_rank`` trains LoRA
  adapters only, merged at the end). The base model is evaluated on the new corpus's test split
  first; the registration gate then requires the fine-tuned model to beat it (and the unigram
  baseline, and the champion of ``name`` on the same split). Origin "finetune" and the base are
  recorded in the catalog, so ``arlm catalog lineage`` walks model -> base model -> corpora.

Every bad input (missing ``config.json``, an architecture arlm cannot hold, a truncated weights
file, a vocabulary/tokenizer mismatch, a LoRA rank <= 0, a name already registered by an import) is
refused before anything is written to the home, the registry or the catalog.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arlm.errors import ConfigError, DataError
from arlm.home import Home
from arlm.stages import Progress, _catalog, _say
from arlm.versioning import atomic_dir, atomic_write_json, content_hash, git_commit

IMPORTS = "imports"  # <home>/imports/<id>/: the model folder of each checkpoint read (import or base)
EXPORT_ARTIFACT = "hf_export"
IMPORTED_DECISION = "imported: the only version, nothing to gate against"


def check_model_name(name: str) -> str:
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(f"--name {name!r}: letters, digits, '-', '_' and '.' only")
    if len(name) > 100:
        raise ConfigError(f"--name: at most 100 characters (got {len(name)})")
    return name


def _is_registered(home: Home, name: str) -> bool:
    from arlm.registry.missing import is_missing
    from arlm.registry.tracking import use_tracking

    try:
        use_tracking(home.mlflow_tracking_uri).get_registered_model(name)
    except Exception as exc:
        if is_missing(exc):
            return False
        raise
    return True


# -- tokenizers and model folders of checkpoints ---------------------------------------------------
def install_tokenizer(
    tokenizer_json: str, home: Home, *, source: str, tokenizer_id: str | None = None, meta: dict | None = None
):
    """The tokenizer version ``home/tokenizers/<id>`` holding ``tokenizer_json`` as it is (id
    ``hf-<hash>`` unless given), recorded in the catalog; an existing one is reused."""
    from arlm.tokenizers import TokenizerArtifact
    from arlm.tokenizers.config import EOT, PAD
    from arlm.tokenizers.tokenizer import (
        META_JSON,
        TOKENIZER_JSON,
        tokenizer_from_json_str,
    )

    tid = tokenizer_id or f"hf-{content_hash(tokenizer_json)}"
    final = home.tokenizers / tid
    if not (final / META_JSON).is_file():
        tok = tokenizer_from_json_str(tokenizer_json, kind=(meta or {}).get("kind", "bpe"))
        full = {
            "format": 1,
            "id": tid,
            "kind": tok.kind,
            "vocab_size": tok.vocab_size,
            "eot_id": tok.eot_id,
            "pad_id": tok.pad_id,
            "special_tokens": {EOT: tok.eot_id, **({PAD: tok.pad_id} if tok.pad_id != tok.eot_id else {})},
            "corpus_id": "",
            "config": {},
            "tokens_per_byte": {},
            "source": source,
            "special_text_policy": "special-token strings inside text are encoded as plain text",
            **{k: v for k, v in (meta or {}).items() if k not in ("id",)},
        }
        final.parent.mkdir(parents=True, exist_ok=True)
        with atomic_dir(final) as tmp:
            (tmp / TOKENIZER_JSON).write_text(tokenizer_json, encoding="utf-8")
            atomic_write_json(tmp / META_JSON, full)
    art = TokenizerArtifact.open(final)
    _catalog(home).record_tokenizer(art.id, art.corpus_id, art.kind, art.vocab_size, art.path, art.meta)
    return art


def materialise(ckpt, home: Home):
    """The arlm model folder of a checked Hugging Face checkpoint: ``home/imports/<id>/model``
    (content-addressed: the same checkpoint is written once) -> (folder, import id, num_params)."""
    from arlm.hf.gpt2_import import build_model
    from arlm.models import save_model

    model = build_model(ckpt)
    import_id = content_hash(ckpt.weights_sha256, ckpt.gpt_fields, ckpt.tokenizer_json)
    folder = home.root / IMPORTS / import_id
    if not (folder / "model" / "model_config.json").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with atomic_dir(folder) as tmp:
            save_model(model, tmp / "model")
            atomic_write_json(
                tmp / "import.json",
                {
                    "source": ckpt.source,
                    "folder": str(ckpt.folder),
                    "architecture": ckpt.arch,
                    "weights_sha256": ckpt.weights_sha256,
                    "weight_files": ckpt.weight_files,
                    "hf_config": ckpt.config,
                    "gpt_config": ckpt.gpt_fields,
                },
            )
    return folder / "model", import_id, model.num_params()


# -- import ------------------------------------------------------------------------------------------
def import_stage(source: str, name: str, home: Home, *, progress: Progress | None = None) -> dict[str, Any]:
    """A Hugging Face GPT-2 folder or ``hf:NAME`` -> version 1 of ``name`` (see module doc)."""
    from arlm.hf.gpt2_import import read_hf_checkpoint
    from arlm.hf.mapping import ARCHITECTURES
    from arlm.registry import log_model, promote
    from arlm.training.tracking import end_run, start_run

    check_model_name(name)
    home.ensure()
    catalog = _catalog(home).require()
    ckpt = read_hf_checkpoint(source)  # every check on the input happens here, before any write
    if _is_registered(home, name):
        raise ConfigError(
            f"model {name!r} is already registered: import-hf registers version 1 of a new name; choose another --name"
        )
    model_dir, import_id, num_params = materialise(ckpt, home)
    tok = install_tokenizer(ckpt.tokenizer_json, home, source=ckpt.source)
    arch = ARCHITECTURES[ckpt.arch]
    uri = home.mlflow_tracking_uri
    tags = {
        "arlm.origin": "import",
        "arlm.source": ckpt.source,
        "arlm.source_folder": str(ckpt.folder),
        "arlm.source_sha256": ckpt.weights_sha256,
        "arlm.source_architecture": arch,
        "arlm.tokenizer_version": tok.id,
        "arlm.run_id": f"import-{import_id}",
        "arlm.model": "gpt",
        "arlm.git_commit": git_commit(),
    }
    run_id = start_run(
        uri,
        run_name=f"import-{name}",
        params={"source": ckpt.source, "gpt": ckpt.gpt_fields},
        tags=tags,
        artifact_location=home.mlflow_artifact_root,
    )
    try:
        info = log_model(model_dir, tok.path, run_id=run_id, name=name, tags=tags, tracking_uri=uri)
        version = _register_first_version(info.model_uri, name, tags, home)
    except BaseException:
        end_run(uri, run_id, status="FAILED")
        raise
    end_run(uri, run_id)
    catalog.record_model(name, version, f"import-{import_id}", f"models:/{name}/{version}", {})
    promote(name, version, tracking_uri=uri, catalog=home.catalog_path)
    from arlm.registry.tracking import use_tracking

    use_tracking(uri).set_model_version_tag(name, str(version), "arlm.gate.decision", IMPORTED_DECISION)
    catalog.record_model_origin(
        name,
        version,
        "import",
        source=ckpt.source,
        source_sha256=ckpt.weights_sha256,
        details={
            "architecture": arch,
            "folder": str(ckpt.folder),
            "tokenizer_id": tok.id,
            "gpt_config": ckpt.gpt_fields,
            "import_id": import_id,
        },
    )
    _say(
        progress,
        f"[import-hf] {ckpt.source} ({arch}, {num_params:,} parameters) registered as "
        f"models:/{name}/{version} (@champion); tokenizer {tok.id} (vocab {tok.vocab_size})",
    )
    return {
        "name": name,
        "version": version,
        "uri": f"models:/{name}/{version}",
        "mlflow_run_id": run_id,
        "architecture": arch,
        "num_params": num_params,
        "tokenizer_id": tok.id,
        "model_dir": str(model_dir),
        "source": ckpt.source,
        "weights_sha256": ckpt.weights_sha256,
    }


def _register_first_version(model_uri: str, name: str, tags: dict[str, str], home: Home) -> int:
    import contextlib
    import io

    import mlflow

    from arlm.registry.tracking import use_tracking

    client = use_tracking(home.mlflow_tracking_uri)
    client.create_registered_model(name)  # fails if the name appeared meanwhile: never a version 2
    with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Created version ..." there
        mv = mlflow.register_model(model_uri, name, tags=tags)
    client.set_registered_model_alias(name, "challenger", str(mv.version))
    return int(mv.version)


# -- export ------------------------------------------------------------------------------------------
def export_stage(
    model_uri: str, out_dir: str | Path, home: Home, *, force: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """A registered model -> a stock ``transformers`` folder, logged to the model's MLflow run."""
    from arlm.hf.export import check_out_dir, export_model_dir
    from arlm.registry.resolve import check_weights_tag, resolve_model
    from arlm.registry.tracking import use_tracking

    out = Path(out_dir).expanduser().resolve()
    check_out_dir(out, force)  # before the model is fetched
    uri = home.mlflow_tracking_uri
    with tempfile.TemporaryDirectory(prefix="arlm-export-") as tmp:
        res = resolve_model(model_uri, Path(tmp), uri)
        check_weights_tag(res)
        info = export_model_dir(res.model_dir, res.tokenizer_dir, out, force=force, source=model_uri)
    info["uri"] = model_uri
    if res.run_id:
        use_tracking(uri).log_artifacts(res.run_id, str(out), artifact_path=EXPORT_ARTIFACT)
        info["artifact_uri"] = f"runs:/{res.run_id}/{EXPORT_ARTIFACT}"
    _say(
        progress,
        f"[export-hf] {model_uri} -> {out} ({info['architecture']}; logits checked against arlm's: "
        f"max difference {info['max_abs_logit_diff']:.2g})",
    )
    return info


# -- fine-tune ---------------------------------------------------------------------------------------
@dataclass
class Base:
    """The model a fine-tuning starts from, with its files in the home."""

    source: str  # what --from said
    model_dir: Path
    tokenizer_id: str
    kind: str
    config: dict[str, Any]
    name: str | None = None  # registered base: its name and version
    version: int | None = None

    @property
    def label(self) -> str:
        return f"models:/{self.name}/{self.version}" if self.name else self.source


def resolve_base(from_uri: str, home: Home) -> Base:
    """``models:/NAME@ALIAS``, ``models:/NAME/N`` (the registry) or a Hugging Face folder / hf:NAME:
    its model folder kept under the home and its tokenizer installed as a tokenizer version."""
    from arlm.models.serialization import read_model_metadata

    home.ensure()
    _catalog(home).require()  # created in a fresh home before a tokenizer lands there; a lost one fails now
    if not str(from_uri).startswith(("models:/", "runs:/")):
        from arlm.hf.gpt2_import import read_hf_checkpoint

        ckpt = read_hf_checkpoint(from_uri)
        model_dir, _, _ = materialise(ckpt, home)
        tok = install_tokenizer(ckpt.tokenizer_json, home, source=ckpt.source)
        meta = read_model_metadata(model_dir)
        return Base(
            source=str(from_uri), model_dir=model_dir, tokenizer_id=tok.id, kind=meta["kind"], config=meta["config"]
        )
    from arlm.models.serialization import WEIGHTS_FILE, verify_weights
    from arlm.registry.resolve import check_weights_tag, resolve_model
    from arlm.tokenizers.tokenizer import META_JSON, TOKENIZER_JSON
    from arlm.versioning import read_json

    with tempfile.TemporaryDirectory(prefix="arlm-base-") as tmp:
        res = resolve_model(from_uri, Path(tmp), home.mlflow_tracking_uri)
        check_weights_tag(res)
        verify_weights(res.model_dir / WEIGHTS_FILE)
        key = content_hash(res.name, res.version, res.run_id, res.tags.get("arlm.weights_sha256"))
        final = home.root / IMPORTS / f"base-{key}"
        if not (final / "model" / "model_config.json").is_file():
            final.parent.mkdir(parents=True, exist_ok=True)
            with atomic_dir(final) as out:
                shutil.copytree(res.model_dir, out / "model")
        meta_path = res.tokenizer_dir / META_JSON
        tok_meta = read_json(meta_path) if meta_path.is_file() else {}
        tokenizer_json = (res.tokenizer_dir / TOKENIZER_JSON).read_text(encoding="utf-8")
        tid = tok_meta.get("id") or res.tags.get("arlm.tokenizer_version")
        tok = install_tokenizer(tokenizer_json, home, source=from_uri, tokenizer_id=tid, meta=tok_meta)
    meta = read_model_metadata(final / "model")
    return Base(
        source=from_uri,
        model_dir=final / "model",
        tokenizer_id=tok.id,
        kind=meta["kind"],
        config=meta["config"],
        name=res.name,
        version=None if res.version is None else int(res.version),
    )


@dataclass
class Runners:
    """How the fine-tuning runs each stage: plain calls by default; the Prefect flow passes its tasks
    (caching, the training slot, retries) instead. Each takes what the ``arlm.stages`` function does."""

    ingest: Callable[[Any], dict] = field(default=None)  # type: ignore[assignment]
    tokenize: Callable[[str, str], dict] = field(default=None)  # type: ignore[assignment]
    train: Callable[[Any, str], dict] = field(default=None)  # type: ignore[assignment]
    evaluate: Callable[[str, str, str | None], dict] = field(default=None)  # type: ignore[assignment]

    @classmethod
    def direct(
        cls, home: Home, ray_options, *, run_name: str, resume: str | None = None, progress: Progress | None = None
    ) -> Runners:
        from arlm import stages

        extra = {} if resume is None else {"resume": resume}
        return cls(
            ingest=lambda cfg: stages.ingest_stage(cfg, home, progress=progress),
            tokenize=lambda corpus_id, tok_id: stages.tokenize_stage(corpus_id, tok_id, home, progress=progress),
            train=lambda cfg, ds: stages.train_stage(
                cfg, ds, home, ray_options, run_name=run_name, progress=progress, **extra
            ),
            evaluate=lambda model_dir, ds, run: stages.evaluate_stage(
                model_dir, ds, home, mlflow_run_id=run, progress=progress
            ),
        )


ARCHITECTURE_FIELDS_KEPT = ("dropout",)  # the only model setting a fine-tuning may change


def finetune_config(train_cfg, base: Base, vocab_size: int):
    """``train_cfg`` turned into the fine-tuning of ``base``: its kind and config (only dropout may
    be overridden), ``init_from`` its model folder, the base's context length."""
    from arlm.hf.adapters import check_rank

    if train_cfg.lora_rank is not None:
        check_rank(train_cfg.lora_rank, train_cfg.lora_alpha)
        if base.kind != "gpt":
            raise ConfigError(
                f"--lora-rank: LoRA adapts the GPT's attention; the base {base.label} is a "
                f"{base.kind} model (fine-tune it fully instead)"
            )
    other = sorted(set(train_cfg.model_overrides) - set(ARCHITECTURE_FIELDS_KEPT))
    if other:
        raise ConfigError(
            f"finetune keeps the base model's architecture: model_overrides may only set "
            f"{', '.join(ARCHITECTURE_FIELDS_KEPT)}, got {', '.join(other)}"
        )
    if train_cfg.block_size not in (None, base.config.get("block_size")):
        raise ConfigError(
            f"finetune trains with the base's context of {base.config.get('block_size')} tokens; "
            f"--block-size {train_cfg.block_size} cannot change it"
        )
    if int(base.config.get("vocab_size", -1)) != vocab_size:
        raise DataError(
            f"base {base.label}: vocabulary/tokenizer mismatch: the model has "
            f"{base.config.get('vocab_size')} embedding rows, its tokenizer {vocab_size} tokens"
        )
    overrides = {k: v for k, v in base.config.items() if k not in ("vocab_size", "block_size")}
    overrides.update(train_cfg.model_overrides)
    return train_cfg.replace(
        model=base.kind,
        model_overrides=overrides,
        block_size=base.config.get("block_size"),
        init_from=str(base.model_dir),
    )


def trainable_share(cfg, vocab_size: int) -> tuple[int, int]:
    """(trainable, total) parameters of a fine-tuning config, counted on the model it builds."""
    from arlm.hf.adapters import inject_lora, trainable_counts

    cls, model_cfg = cfg.model_config(vocab_size)
    model = cls(model_cfg)
    if cfg.lora_rank is not None:
        inject_lora(model, cfg.lora_rank, cfg.lora_alpha)
    return trainable_counts(model)


def finetune_stage(
    from_uri: str,
    ingest_cfg,
    name: str,
    home: Home,
    train_cfg,
    ray_options=None,
    *,
    runners: Runners | None = None,
    resume: str | None = None,
    base: Base | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fine-tune ``from_uri`` on the corpus ``ingest_cfg`` names and register the result as a new
    version of ``name`` (see module doc); returns the summary, metrics, registration and base figures.
    ``base``: ``from_uri`` already resolved (:func:`resolve_base`), e.g. by a flow task."""
    from arlm.tokenizers import TokenizerArtifact
    from arlm.training.ray_launcher import RayOptions

    check_model_name(name)
    if train_cfg.lora_rank is not None:
        from arlm.hf.adapters import check_rank

        check_rank(train_cfg.lora_rank, train_cfg.lora_alpha)
    ray_options = ray_options or RayOptions()
    ray_options.validate()
    home.ensure()
    _catalog(home).require()
    base = base or resolve_base(from_uri, home)
    vocab = TokenizerArtifact.open(home.tokenizers / base.tokenizer_id).vocab_size
    cfg = finetune_config(train_cfg, base, vocab)
    trainable, total = trainable_share(cfg, vocab)
    runners = runners or Runners.direct(home, ray_options, run_name=name, resume=resume, progress=progress)
    method = "lora" if cfg.lora_rank is not None else "full"
    _say(
        progress,
        f"[finetune] {base.label} ({base.kind}, {total:,} parameters): {method} fine-tuning trains "
        f"{trainable:,} ({100 * trainable / max(total, 1):.3g}%)",
    )

    cv = runners.ingest(ingest_cfg)
    ds = runners.tokenize(cv["corpus_id"], base.tokenizer_id)
    dataset_id = ds["dataset_id"]
    cfg.validate(home.tokens / dataset_id, world_size=ray_options.num_workers)
    base_metrics = runners.evaluate(str(base.model_dir), dataset_id, None)
    _say(progress, f"[finetune] base {base.label} on the new test split: {base_metrics['bits_per_byte']:.4f} bits/byte")
    summary = runners.train(cfg, dataset_id)
    metrics = runners.evaluate(summary["model_dir"], dataset_id, summary["mlflow_run_id"])
    from arlm.stages import register_stage

    details = {
        "lora_rank": cfg.lora_rank,
        "lora_alpha": cfg.lora_alpha,
        "trainable_params": trainable,
        "total_params": total,
        "base_test_bits_per_byte": base_metrics["bits_per_byte"],
        "base_model_dir": str(base.model_dir),
        "corpus_id": cv["corpus_id"],
        "dataset_id": dataset_id,
    }
    tags = {
        "arlm.origin": "finetune",
        "arlm.base_model": base.label,
        "arlm.finetune_method": method,
        "arlm.trainable_params": str(trainable),
        "arlm.lora_rank": str(cfg.lora_rank or ""),
    }
    reg = register_stage(
        summary,
        metrics,
        name,
        home,
        progress=progress,
        base=(base.label, float(base_metrics["bits_per_byte"])),
        extra_tags=tags,
    )
    _catalog(home).record_model_origin(
        name,
        reg["version"],
        "finetune",
        source=str(from_uri),
        base_name=base.name,
        base_version=base.version,
        method=method,
        details=details,
    )
    return {
        "base": {
            "uri": base.label,
            "model_dir": str(base.model_dir),
            "tokenizer_id": base.tokenizer_id,
            "metrics": base_metrics,
        },
        "corpus": cv,
        "dataset": ds,
        "train": summary,
        "metrics": metrics,
        "registration": {k: v for k, v in reg.items() if k != "decision_markdown"},
        "decision_markdown": reg.get("decision_markdown"),
        "method": method,
        "trainable_params": trainable,
        "total_params": total,
    }
