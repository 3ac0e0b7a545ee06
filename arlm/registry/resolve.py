"""From a model URI to files on disk: ``models:/NAME@alias``, ``models:/NAME/3``, ``models:/m-<id>``,
``runs:/<run_id>/<name>``, or a local folder holding an ``MLmodel`` file.

Language models load as a ``TextGenerator`` (``load_generator``), translation models as a
``Translator`` (``load_translator``); each refuses the other family with a one-line ConfigError that
names the command to use instead.

The CLI and the evaluation flow load the model with arlm directly (``TextGenerator.from_dirs``)
rather than through ``mlflow.pyfunc.load_model``: the same files, without executing the logged code
in this process, and with the registry tags at hand (``arlm.token_dataset_version`` tells
``arlm evaluate --split`` which token dataset the model was trained and tested on).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arlm.errors import ConfigError, DataError, NotFoundError
from arlm.registry.missing import is_missing, registry_listing
from arlm.registry.tracking import use_tracking

_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)$")
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
DATASET_TAG = "arlm.token_dataset_version"
DATASET_PATH_TAG = "arlm.token_dataset_path"
WEIGHTS_TAG = "arlm.weights_sha256"


@dataclass
class ResolvedModel:
    uri: str
    local_dir: Path  # folder holding MLmodel
    model_dir: Path  # arlm model folder (safetensors + config)
    tokenizer_dir: Path
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    name: str | None = None
    version: str | None = None
    src_tokenizer_dir: Path | None = None  # translation models whose source has its own tokenizer

    @property
    def kind(self) -> str:
        from arlm.models.serialization import read_model_metadata

        return str(read_model_metadata(self.model_dir)["kind"])

    @property
    def is_translation(self) -> bool:
        from arlm.models.seq2seq import is_seq2seq_kind

        return is_seq2seq_kind(self.kind)


def _version_entity(client: Any, uri: str) -> Any | None:
    """The ModelVersion a ``models:/NAME@alias`` or ``models:/NAME/N`` URI names (None for others)."""
    from mlflow.exceptions import MlflowException

    m_alias, m_version = _ALIAS.match(uri), _VERSION.match(uri)
    try:
        if m_alias:
            return client.get_model_version_by_alias(m_alias["name"], m_alias["alias"])
        if m_version:
            return client.get_model_version(m_version["name"], m_version["version"])
    except MlflowException as exc:
        if is_missing(exc):
            raise NotFoundError(f"model URI {uri} not found; {registry_listing(client)}") from None
        raise
    return None


def _tags_of(client: Any, uri: str, mv: Any | None, local_dir: Path) -> tuple[dict[str, str], str | None]:
    """Registry tags (version's, else the logged model's, else the run's) and the source run id."""
    from mlflow.models import Model

    tags: dict[str, str] = {}
    run_id = None
    model_id = None
    try:
        mlmodel = Model.load(str(local_dir))
        run_id, model_id = mlmodel.run_id, getattr(mlmodel, "model_id", None)
    except Exception:
        pass
    if mv is not None:
        tags.update(mv.tags or {})
        run_id = mv.run_id or run_id
    if model_id and not tags:
        try:
            tags.update(
                {k: v for k, v in client.get_logged_model(model_id).tags.items() if not k.startswith("mlflow.")}
            )
        except Exception:
            pass
    if run_id and not tags:
        try:
            tags.update({k: v for k, v in client.get_run(run_id).data.tags.items() if not k.startswith("mlflow.")})
        except Exception:
            pass
    return tags, run_id


def _artifact_dirs(local_dir: Path) -> tuple[Path, Path, Path | None]:
    """(model, tokenizer, source tokenizer or None) folders of a downloaded arlm MLflow model."""
    from mlflow.models import Model

    try:
        flavor = Model.load(str(local_dir)).flavors["python_function"]
        artifacts = flavor["artifacts"]
        model_dir = local_dir / artifacts["model"]["path"]
        tokenizer_dir = local_dir / artifacts["tokenizer"]["path"]
        src = artifacts.get("src_tokenizer")
        src_tokenizer_dir = None if src is None else local_dir / src["path"]
    except (KeyError, OSError, TypeError) as exc:
        raise DataError(f"{local_dir}: not an arlm MLflow model (no model/tokenizer artifacts: {exc})") from None
    return model_dir, tokenizer_dir, src_tokenizer_dir


def resolve_model(uri: str, dst: Path, tracking_uri: str | None = None) -> ResolvedModel:
    """Download the model ``uri`` names into ``dst`` (a local MLmodel folder is used in place)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = use_tracking(tracking_uri)
    local = Path(uri)
    mv = None
    if "://" not in uri and not uri.startswith(("models:/", "runs:/")):
        if not (local / "MLmodel").is_file():
            raise NotFoundError(
                f"model {uri!r}: not a model URI (models:/NAME@alias, models:/NAME/N, "
                f"runs:/RUN/NAME) nor a folder with an MLmodel file; {registry_listing(client)}"
            )
        local_dir = local.resolve()
    else:
        mv = _version_entity(client, uri)
        try:
            local_dir = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst)))
        except MlflowException as exc:
            if is_missing(exc) or "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
                raise NotFoundError(f"model URI {uri} not found; {registry_listing(client)}") from None
            raise
        except OSError as exc:
            raise NotFoundError(f"model URI {uri}: artifacts unavailable ({exc})") from None
    model_dir, tokenizer_dir, src_tokenizer_dir = _artifact_dirs(local_dir)
    tags, run_id = _tags_of(client, uri, mv, local_dir)
    return ResolvedModel(
        uri=uri,
        local_dir=local_dir,
        model_dir=model_dir,
        tokenizer_dir=tokenizer_dir,
        tags=tags,
        run_id=run_id,
        name=getattr(mv, "name", None),
        version=None if mv is None else str(mv.version),
        src_tokenizer_dir=src_tokenizer_dir,
    )


def refuse_translation_model(res: ResolvedModel) -> None:
    """A ConfigError when ``res`` is a translation model: the language-model commands cannot use it."""
    if res.is_translation:
        raise ConfigError(
            f"model {res.uri} is a translation model ({res.kind}), not a language model: translate with "
            f"`arlm translate --model {res.uri} TEXT`, score it with `arlm evaluate --model {res.uri} --pairs FILE.tsv`"
        )


def refuse_language_model(res: ResolvedModel) -> None:
    """A ConfigError when ``res`` is a language model: translation commands cannot use it."""
    if not res.is_translation:
        raise ConfigError(
            f"model {res.uri} is a language model ({res.kind}), not a translation model: continue text with "
            f"`arlm generate --model {res.uri} PROMPT`, score it with `arlm evaluate --model {res.uri}`"
        )


def check_weights_tag(res: ResolvedModel) -> None:
    """The sha256 in the registry tag ``arlm.weights_sha256`` must be the one the model folder
    records (the file itself is checked against the folder's at load)."""
    from arlm.models.serialization import WEIGHTS_FILE, WeightsIntegrityError, recorded_sha256

    tagged = res.tags.get(WEIGHTS_TAG)
    recorded = recorded_sha256(res.model_dir)
    if tagged and recorded and tagged != recorded:
        raise WeightsIntegrityError(
            f"{res.model_dir / WEIGHTS_FILE}: sha256 recorded beside the weights "
            f"({recorded[:16]}...) differs from the registry's {WEIGHTS_TAG} "
            f"({tagged[:16]}...): the model folder was altered"
        )


def load_generator(uri: str, *, tracking_uri: str | None = None, device: str = "cpu"):
    """A ``TextGenerator`` for the model ``uri`` names, with its registry tags in ``.tags``."""
    from arlm.generation.text import TextGenerator

    with tempfile.TemporaryDirectory(prefix="arlm-model-") as tmp:
        res = resolve_model(uri, Path(tmp), tracking_uri)
        refuse_translation_model(res)
        check_weights_tag(res)
        gen = TextGenerator.from_dirs(res.model_dir, res.tokenizer_dir, device=device, tags=res.tags, source=uri)
        gen.resolved = res  # paths inside tmp are gone after this block; tags/ids remain useful
        return gen


class HFTextTokenizer:
    """Text <-> ids with an HF ``tokenizer.json`` (no arlm fast encoders: the served model needs only
    ``tokenizers``). Special-token strings in text are plain text, as everywhere in arlm; decoding
    drops special tokens (a translation's text never holds one)."""

    def __init__(self, path: str | Path):
        from arlm.errors import DataError, NotFoundError
        from tokenizers import Tokenizer

        p = Path(path)
        file = p / "tokenizer.json" if p.is_dir() else p
        if not file.is_file():
            raise NotFoundError(f"{file}: tokenizer.json missing")
        try:
            self.hf = Tokenizer.from_file(str(file))
        except Exception as exc:  # HF raises a bare Exception on a malformed file
            raise DataError(f"{file}: not a valid tokenizer.json ({exc})") from None
        self.hf.encode_special_tokens = True
        self.path = file
        self.vocab_size = self.hf.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.hf.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=True)


def translator_from_dirs(
    model_dir: str | Path,
    tokenizer_dir: str | Path,
    src_tokenizer_dir: str | Path | None = None,
    device: str = "cpu",
):
    """A ``Translator`` of a seq2seq model folder, its target (or joint) tokenizer and, when the
    source has its own, the source tokenizer; a language-model folder or tokenizers too large for
    the model's vocabularies are DataErrors naming the files."""
    from arlm.errors import DataError
    from arlm.models.seq2seq import load_seq2seq
    from arlm.translation.translator import Translator

    model = load_seq2seq(model_dir, device=device)
    tgt = HFTextTokenizer(tokenizer_dir)
    src = HFTextTokenizer(src_tokenizer_dir) if src_tokenizer_dir is not None else tgt
    for tok, vocab, side in ((tgt, model.config.vocab_size, "target"), (src, model.config.source_vocab_size, "source")):
        if tok.vocab_size > vocab:
            raise DataError(
                f"{tok.path}: tokenizer has {tok.vocab_size} ids but the model in {model_dir} has a {side} "
                f"vocabulary of {vocab}: they do not belong together"
            )
    return Translator(model, src, None if src is tgt else tgt)


def load_translator(uri: str, tracking_uri: str | None = None, *, device: str = "cpu"):
    """A ``Translator`` (``arlm.translation.Translator``) for the translation model ``uri`` names,
    with its registry tags in ``.tags`` and the resolution in ``.resolved``; a language model is a
    ConfigError saying which command takes it."""
    with tempfile.TemporaryDirectory(prefix="arlm-model-") as tmp:
        res = resolve_model(uri, Path(tmp), tracking_uri)
        refuse_language_model(res)
        check_weights_tag(res)
        translator = translator_from_dirs(res.model_dir, res.tokenizer_dir, res.src_tokenizer_dir, device=device)
        translator.tags = res.tags
        translator.source = uri
        translator.resolved = res  # paths inside tmp are gone after this block; tags/ids remain useful
        return translator


def resolve_model_for_eval(model_uri: str, home: Any, tracking_uri: str | None = None) -> tuple[Path, str, str | None]:
    """(model folder kept under the home's cache, token dataset id, MLflow run id) of a model URI.

    The dataset id comes from tag ``arlm.token_dataset_version`` (set at registration).
    """
    from arlm.versioning import atomic_dir, content_hash

    with tempfile.TemporaryDirectory(prefix="arlm-model-") as tmp:
        res = resolve_model(model_uri, Path(tmp), tracking_uri)
        refuse_translation_model(res)
        dataset_id = res.tags.get(DATASET_TAG)
        if not dataset_id:
            raise NotFoundError(
                f"model {model_uri} has no {DATASET_TAG} tag: cannot tell which token "
                "dataset to evaluate on (use --text-file)"
            )
        from arlm.models.serialization import WEIGHTS_FILE, verify_weights

        # the registered files themselves are checked, not only a copy cached by an earlier call
        verify_weights(res.model_dir / WEIGHTS_FILE)
        check_weights_tag(res)
        key = content_hash(res.name, res.version, res.run_id, str(res.local_dir) if res.name is None else "")
        final = Path(home.cache) / "models" / key
        if not (final / "model_config.json").is_file():
            with atomic_dir(final) as out:
                for f in res.model_dir.iterdir():
                    shutil.copy2(f, out / f.name)
        return final, dataset_id, res.run_id


def mlflow_alias_resolver(home):
    """Resolve ``NAME@ALIAS`` with MLflow's registry of this home (imported only when needed)."""

    def resolve(name: str, alias: str) -> int:
        from arlm.errors import NotFoundError
        from arlm.registry.sqlite_registry import registry_client

        uri = home.mlflow_tracking_uri
        if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).exists():
            # no registry was ever written here: do not create one (and skip importing MLflow)
            raise NotFoundError(
                f"models:/{name}@{alias}: alias not in the catalog nor in MLflow (no MLflow store at {uri})"
            )
        try:
            # the home's SQLite store is read without importing MLflow (seconds saved)
            return int(registry_client(uri).get_model_version_by_alias(name, alias).version)
        except Exception as exc:  # not installed, no such model/alias, store unreachable
            raise NotFoundError(
                f"models:/{name}@{alias}: alias not in the catalog nor in MLflow "
                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from None

    return resolve
