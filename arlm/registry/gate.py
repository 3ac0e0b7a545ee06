"""Registration with a quality gate, and the champion alias managed by hand.

The gate compares one test figure, named by a :class:`GateMetric`: bits per byte for language
models (lower is better, floor: the unigram baseline; the default) or sacreBLEU BLEU for
translation models (higher is better, floor: the copy-source baseline, BLEU of the untranslated
sources). Below, "beat" means lower bits per byte or higher BLEU; the rules are the same.

Every registered version gets alias ``challenger``. It becomes ``champion`` only if its test bits
per byte beat the unigram baseline of the same test text (a model that does not has learned nothing
beyond token frequencies: it is never crowned, even when there is no champion yet) and the current
champion's **on the same test split** (or there is no champion): figures measured on different
held-out text are not comparable, so a champion measured elsewhere is never replaced automatically
(``arlm models promote`` does it by hand). The decision and the figures are stored as version tags.

Every alias the gate, ``promote`` and ``rollback`` set is also recorded in the catalog's
``model_aliases`` (the home's catalog, or the ``catalog`` passed); MLflow stays the source of truth,
so a catalog that cannot be written gives a warning, not a failed registration.

MLflow aliases keep no history, so the registered model carries one: tag
``arlm.champion_history``, the JSON list of versions that were champion, oldest first.
``rollback`` moves ``champion`` back to the previous entry.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from arlm.errors import ConfigError, NotFoundError
from arlm.registry.missing import is_missing, registry_listing
from arlm.registry.tracking import use_tracking

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "arlm.champion_history"
BPB_TAG = "arlm.test_bpb"
SPLIT_TAG = "arlm.test_split_id"
UNIGRAM_TAG = "arlm.test_unigram_bpb"
BLEU_TAG = "arlm.test_bleu"
COPY_BLEU_TAG = "arlm.test_copy_bleu"
METRIC_TAG = "arlm.gate.metric"
MAX_HISTORY = 100


@dataclass(frozen=True)
class GateMetric:
    """The figure a gate compares, and how its decisions are worded and tagged.

    ``name``: the key in the evaluation's metrics (``bits_per_byte``, ``bleu``); ``unit``: printed
    after a number; ``test_tag``/``floor_tag``: the version tags holding the challenger's test
    figure and its floor baseline's; ``floor``: the baseline every crowned model must beat, measured
    on the same ``evidence``; ``floor_metric``: the floor's key in the evaluation's metrics (read
    from tag ``metric.<split>_<floor_metric>`` when not passed); ``floor_why``: what failing it
    means; ``short``: the suffix of the ``arlm.gate.*_<short>`` tags."""

    name: str
    unit: str
    higher_is_better: bool
    test_tag: str
    floor_tag: str
    floor: str
    floor_metric: str
    floor_why: str
    short: str
    evidence: str = "test text"
    digits: int = 4

    def beats(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b

    @property
    def better_op(self) -> str:
        return ">" if self.higher_is_better else "<"

    @property
    def not_better_op(self) -> str:
        return "<=" if self.higher_is_better else ">="

    def fmt(self, value: float) -> str:
        return f"{value:.{self.digits}f}"


BITS_PER_BYTE = GateMetric(
    name="bits_per_byte",
    unit="bits/byte",
    higher_is_better=False,
    test_tag=BPB_TAG,
    floor_tag=UNIGRAM_TAG,
    floor="unigram baseline",
    floor_metric="unigram_bits_per_byte",
    floor_why="the model does not beat token frequencies",
    short="bpb",
)
BLEU = GateMetric(
    name="bleu",
    unit="BLEU",
    higher_is_better=True,
    test_tag=BLEU_TAG,
    floor_tag=COPY_BLEU_TAG,
    floor="copy-source baseline",
    floor_metric="copy_bleu",
    floor_why="the model does not beat leaving the source untranslated",
    short="bleu",
    evidence="test pairs",
    digits=2,
)
GATE_METRICS = {m.name: m for m in (BITS_PER_BYTE, BLEU)}


def gate_metric(metric: GateMetric | str) -> GateMetric:
    """A :class:`GateMetric` or the name of one (``bits_per_byte``, ``bleu``)."""
    if isinstance(metric, GateMetric):
        return metric
    try:
        return GATE_METRICS[metric]
    except KeyError:
        raise ConfigError(f"gate metric {metric!r} unknown; known: {', '.join(GATE_METRICS)}") from None


@dataclass(frozen=True)
class GateDecision:
    """What the gate decided. ``challenger_value``/``champion_value``/``floor_value`` are figures of
    ``metric`` (``challenger_bpb``, ``champion_bpb``, ``unigram_bpb``: the same for bits per byte)."""

    name: str
    version: str
    promoted: bool
    challenger_value: float
    champion_version: str | None
    champion_value: float | None
    test_split_id: str
    reason: str
    floor_value: float | None = None
    metric: str = BITS_PER_BYTE.name

    @property
    def gate_metric(self) -> GateMetric:
        return gate_metric(self.metric)

    def _bpb(self, value: float | None) -> float | None:
        return value if self.metric == BITS_PER_BYTE.name else None

    @property
    def challenger_bpb(self) -> float | None:
        return self._bpb(self.challenger_value)

    @property
    def champion_bpb(self) -> float | None:
        return self._bpb(self.champion_value)

    @property
    def unigram_bpb(self) -> float | None:
        return self._bpb(self.floor_value)

    def summary(self) -> str:
        verdict = "promoted to champion" if self.promoted else "kept as challenger"
        return f"{self.name} v{self.version} {verdict}: {self.reason}"

    def markdown(self) -> str:
        m = self.gate_metric
        champ = "none" if self.champion_version is None else f"v{self.champion_version}"
        champ_value = "-" if self.champion_value is None else m.fmt(self.champion_value)
        floor = (
            [] if self.floor_value is None else [f"| {m.floor} (same {m.evidence}) | - | {m.fmt(self.floor_value)} |"]
        )
        return "\n".join(
            [
                f"# Registration of `{self.name}` v{self.version}",
                "",
                f"**Decision: {'PROMOTED to champion' if self.promoted else 'NOT promoted (challenger)'}**",
                "",
                f"| | version | test {m.unit} |",
                "| --- | --- | --- |",
                f"| challenger | v{self.version} | {m.fmt(self.challenger_value)} |",
                f"| previous champion | {champ} | {champ_value} |",
                *floor,
                "",
                f"Test split: `{self.test_split_id}`. {self.reason}",
                "",
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def version_by_alias(client: Any, name: str, alias: str) -> Any | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception as exc:  # MlflowException or RegistryMissing: not imported, MLflow is slow to import
        if is_missing(exc):
            return None
        raise


def record_aliases(
    name: str, aliases: Mapping[str, str], *, tracking_uri: str | None = None, catalog: Any = None
) -> None:
    """Mirror ``aliases`` ({alias: version}) of model ``name`` into the catalog's ``model_aliases``.

    ``catalog`` is a ``Catalog`` (or its path); by default the home's, when the registry is the
    home's. Failure is a warning: MLflow holds the aliases, ``arlm catalog rebuild`` copies them."""
    if not aliases:
        return
    try:
        from arlm.catalog import Catalog
        from arlm.home import get_home

        if catalog is None:
            home = get_home()
            if tracking_uri is not None and tracking_uri != home.mlflow_tracking_uri:
                return  # another registry: its catalog is not this home's
            catalog = home.catalog_path
        cat = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        for alias, version in aliases.items():
            cat.record_model_alias(name, alias, int(version))
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"arlm: warning: aliases of {name} not recorded in the catalog ({first})", file=sys.stderr)


def _history(client: Any, name: str) -> list[str]:
    raw = client.get_registered_model(name).tags.get(HISTORY_TAG)
    try:
        return [str(v) for v in json.loads(raw)] if raw else []
    except (TypeError, ValueError):
        return []


def _set_champion(client: Any, name: str, version: str, history: list[str]) -> None:
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-MAX_HISTORY:]))


def _float_tag(tags: Mapping[str, str], key: str) -> float | None:
    try:
        value = float(tags[key])
    except (KeyError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def decide(
    challenger_bpb: float,
    test_split_id: str,
    champion: Any | None,
    unigram_bpb: float | None = None,
    base: tuple[str, float] | None = None,
    *,
    metric: GateMetric | str = BITS_PER_BYTE,
) -> tuple[bool, float | None, str]:
    """(promote?, champion's figure, reason) - the gate itself, free of MLflow calls.

    ``challenger_bpb``: the challenger's test figure of ``metric`` (bits per byte by default).
    ``unigram_bpb``: the floor baseline's figure on the same test data (for bits per byte the
    unigram model of the same test text, for BLEU the copy-source baseline); a challenger that does
    not beat it is never promoted (None: not known, not checked). ``base``: (label, figure) of the
    model a fine-tuned challenger started from, measured on the same test data; a challenger that
    does not beat it is never promoted either."""
    m = gate_metric(metric)
    value, floor = challenger_bpb, unigram_bpb
    champ_value = None if champion is None else _float_tag(champion.tags, m.test_tag)
    if floor is not None and not m.beats(value, floor):
        return (
            False,
            champ_value,
            (
                f"{m.fmt(value)} {m.not_better_op} {m.fmt(floor)} {m.unit} of the {m.floor} on the same "
                f"{m.evidence}: {m.floor_why}, it is not crowned (promote by hand if wanted)."
            ),
        )
    if base is not None and not m.beats(value, base[1]):
        return (
            False,
            champ_value,
            (
                f"{m.fmt(value)} {m.not_better_op} {m.fmt(base[1])} {m.unit} of its base model {base[0]} "
                f"on the same {m.evidence}: fine-tuning did not improve on it."
            ),
        )
    if champion is None:
        beats = "" if floor is None else f" ({m.fmt(value)} {m.better_op} {m.fmt(floor)} {m.unit} of the {m.floor})"
        return True, None, f"there is no champion yet{beats}."
    champ_split = champion.tags.get(SPLIT_TAG)
    if champ_value is None or champ_split is None:
        return (
            False,
            champ_value,
            (f"champion v{champion.version} has no test figure to compare with; promote by hand if wanted."),
        )
    if champ_split != test_split_id:
        return (
            False,
            champ_value,
            (
                f"champion v{champion.version} was measured on another test split "
                f"({champ_split}): not comparable, promote by hand if wanted."
            ),
        )
    if m.beats(value, champ_value):
        return (
            True,
            champ_value,
            f"{m.fmt(value)} {m.better_op} {m.fmt(champ_value)} {m.unit} of champion v{champion.version}.",
        )
    return (
        False,
        champ_value,
        (
            f"{m.fmt(value)} {m.not_better_op} {m.fmt(champ_value)} {m.unit} of champion "
            f"v{champion.version}: no improvement."
        ),
    )


def _logged_model_info(model_uri: str) -> tuple[dict[str, str], str | None]:
    """(arlm tags, model card) of a logged model, for copying onto the registered version."""
    import mlflow

    tags: dict[str, str] = {}
    card = None
    try:
        info = mlflow.models.get_model_info(model_uri)
        card = (info.metadata or {}).get("description")
        if getattr(info, "model_id", None):
            logged = mlflow.MlflowClient().get_logged_model(info.model_id)
            tags = {k: v for k, v in logged.tags.items() if not k.startswith("mlflow.")}
    except Exception:  # best effort: registration must not fail on missing metadata
        pass
    return tags, card


def _floor_from_tags(tags: Mapping[str, str], test_split_id: str, metric: GateMetric = BITS_PER_BYTE) -> float | None:
    """The floor baseline the pipeline puts in the version tags (``metric.<split>_unigram_bits_per_byte``,
    ``metric.<split>_copy_bleu``)."""
    split = test_split_id.rpartition(":")[2] or "test"
    return _float_tag(tags, f"metric.{split}_{metric.floor_metric}")


def _unigram_from_tags(tags: Mapping[str, str], test_split_id: str) -> float | None:
    return _floor_from_tags(tags, test_split_id, BITS_PER_BYTE)


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"register_with_gate: {what} must be a finite number, got {value!r}")
    return float(value)


def register_with_gate(
    model_uri: str,
    name: str,
    test_bpb: float,
    test_split_id: str,
    *,
    tracking_uri: str | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    unigram_bpb: float | None = None,
    catalog: Any = None,
    base: tuple[str, float] | None = None,
    metric: GateMetric | str = BITS_PER_BYTE,
) -> GateDecision:
    """Register ``model_uri`` as a new version of ``name``, alias it ``challenger``, and promote
    it to ``champion`` if it passes the gate (see module doc).

    ``test_bpb`` is the test figure of ``metric`` (default bits per byte; ``metric="bleu"`` for a
    translation model's test BLEU). ``unigram_bpb`` is the floor baseline's figure on the same test
    data (bits per byte: the evaluation's ``unigram_bits_per_byte``; BLEU: its ``copy_bleu``, the
    copy-source baseline); when not given it is read from tag ``metric.<split>_unigram_bits_per_byte``
    (``metric.<split>_copy_bleu``) if present. ``catalog``: where aliases are mirrored (default:
    the home's catalog). ``base``: (label, test figure) of the model a fine-tuned version started
    from, on the same test split: the challenger must beat it too."""
    import mlflow
    from mlflow.exceptions import MlflowException

    m = gate_metric(metric)
    what = "test bits per byte" if m is BITS_PER_BYTE else f"test {m.unit}"
    floor_what = "unigram bits per byte" if m is BITS_PER_BYTE else f"{m.floor} {m.unit}"
    test_value = _finite(test_bpb, what)
    floor = unigram_bpb
    if floor is None:
        floor = _floor_from_tags({k: str(v) for k, v in (tags or {}).items()}, test_split_id, m)
    else:
        floor = _finite(floor, floor_what)
    client = use_tracking(tracking_uri)
    logged_tags, card = _logged_model_info(model_uri)
    version_tags = {
        **logged_tags,
        **{k: str(v) for k, v in (tags or {}).items()},
        m.test_tag: repr(test_value),
        SPLIT_TAG: test_split_id,
    }
    if m is not BITS_PER_BYTE:
        version_tags[METRIC_TAG] = m.name
    if floor is not None:
        version_tags[m.floor_tag] = repr(float(floor))
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
    with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Created version ..." there
        mv = mlflow.register_model(model_uri, name, tags=version_tags)
    version = str(mv.version)
    if description or card:
        client.update_model_version(name, version, description=description or card)
    client.set_registered_model_alias(name, CHALLENGER, version)

    champion = version_by_alias(client, name, CHAMPION)
    promoted, champ_value, reason = decide(
        test_value, test_split_id, champion, None if floor is None else float(floor), base, metric=m
    )
    if base is not None:
        client.set_model_version_tag(name, version, f"arlm.gate.base_{m.short}", repr(float(base[1])))
    if promoted:
        history = _history(client, name)
        if champion is not None and (not history or history[-1] != str(champion.version)):
            history.append(str(champion.version))  # an alias set outside arlm: remember it
        _set_champion(client, name, version, history + [version])
    decision = GateDecision(
        name=name,
        version=version,
        promoted=promoted,
        challenger_value=test_value,
        champion_version=None if champion is None else str(champion.version),
        champion_value=champ_value,
        test_split_id=test_split_id,
        reason=reason,
        floor_value=None if floor is None else float(floor),
        metric=m.name,
    )
    for key, value in {
        "arlm.gate.decision": "promoted" if promoted else "refused",
        "arlm.gate.reason": reason,
        f"arlm.gate.challenger_{m.short}": repr(test_value),
        f"arlm.gate.champion_{m.short}": "" if champ_value is None else repr(champ_value),
        "arlm.gate.champion_version": decision.champion_version or "",
    }.items():
        client.set_model_version_tag(name, version, key, value)
    record_aliases(
        name,
        {CHALLENGER: version, **({CHAMPION: version} if promoted else {})},
        tracking_uri=tracking_uri,
        catalog=catalog,
    )
    return decision


def _check_version(client: Any, name: str, version: str | int) -> str:
    try:
        return str(client.get_model_version(name, str(version)).version)
    except Exception as exc:
        if is_missing(exc):
            raise NotFoundError(f"model {name} has no version {version}; {registry_listing(client)}") from None
        raise


def promote(name: str, version: str | int, *, tracking_uri: str | None = None, catalog: Any = None) -> str | None:
    """Make ``version`` the champion by hand; returns the previous champion's version (or None)."""
    from arlm.registry.sqlite_registry import registry_client

    client = registry_client(tracking_uri)
    version = _check_version(client, name, version)
    current = version_by_alias(client, name, CHAMPION)
    history = _history(client, name)
    if current is not None and (not history or history[-1] != str(current.version)):
        history.append(str(current.version))
    if current is None or str(current.version) != version:
        _set_champion(client, name, version, history + [version])
    client.set_model_version_tag(name, version, "arlm.gate.decision", "promoted by hand")
    record_aliases(name, {CHAMPION: version}, tracking_uri=tracking_uri, catalog=catalog)
    return None if current is None else str(current.version)


def rollback(name: str, *, tracking_uri: str | None = None, catalog: Any = None) -> tuple[str, str]:
    """Move ``champion`` back to the previous champion; returns (from_version, to_version)."""
    from arlm.registry.sqlite_registry import registry_client

    client = registry_client(tracking_uri)
    _check_registered(client, name)
    current = version_by_alias(client, name, CHAMPION)
    if current is None:
        raise NotFoundError(f"model {name} has no champion to roll back")
    history = _history(client, name)
    if history and history[-1] == str(current.version):
        history = history[:-1]
    while history and history[-1] == str(current.version):
        history.pop()
    if not history:
        raise ConfigError(f"model {name}: champion v{current.version} has no previous champion to roll back to")
    previous = history[-1]
    _set_champion(client, name, previous, history)
    client.set_model_version_tag(name, str(current.version), "arlm.gate.decision", "rolled back")
    record_aliases(name, {CHAMPION: previous}, tracking_uri=tracking_uri, catalog=catalog)
    return str(current.version), previous


def _check_registered(client: Any, name: str) -> None:
    try:
        client.get_registered_model(name)
    except Exception as exc:
        if is_missing(exc):
            raise NotFoundError(f"no registered model named {name!r}; {registry_listing(client)}") from None
        raise
