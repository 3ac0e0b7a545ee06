"""Read-only views of the registry for ``arlm models list / show``.

They go through :func:`arlm.registry.sqlite_registry.registry_client`: the home's SQLite store is
read without importing MLflow (these commands answer in well under 2 s), other stores through
``MlflowClient``.

Each version is shown with the figure its gate compared (:func:`version_metric`, read from its
tags): test bits per byte for a language model, test BLEU for a translation model (tag
``arlm.gate.metric`` names the metric when it is not bits per byte).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arlm.errors import NotFoundError
from arlm.registry.gate import (
    BITS_PER_BYTE,
    BLEU,
    BPB_TAG,
    CHAMPION,
    GATE_METRICS,
    HISTORY_TAG,
    METRIC_TAG,
    GateMetric,
    _float_tag,
)
from arlm.registry.missing import is_missing, registry_listing
from arlm.registry.sqlite_registry import registry_client

# units written before the number ("BLEU 12.30"); the others after it ("1.6580 bits/byte")
_NAME_FIRST = {BLEU.unit}


def _metric_of(tags: Mapping[str, str]) -> GateMetric | None:
    named = tags.get(METRIC_TAG)
    if named:
        return GATE_METRICS.get(named)
    if BPB_TAG in tags:  # language models carry no metric tag: bits per byte is the default
        return BITS_PER_BYTE
    if BLEU.test_tag in tags:
        return BLEU
    return None


def format_metric(metric: GateMetric, value: float) -> str:
    """``value`` of ``metric`` with its name: ``1.6580 bits/byte``, ``BLEU 12.30``."""
    number = metric.fmt(value)
    return f"{metric.unit} {number}" if metric.unit in _NAME_FIRST else f"{number} {metric.unit}"


def version_metric(tags: Mapping[str, str] | None) -> dict[str, Any] | None:
    """The test figure a version's gate compared, read from its tags: ``{"metric": "bleu",
    "unit": "BLEU", "value": 12.3, "text": "BLEU 12.30"}`` (``bits_per_byte``, ``bits/byte``,
    ``1.6580 bits/byte`` for a language model); None when the tags hold none."""
    tags = tags or {}
    metric = _metric_of(tags)
    if metric is None:
        return None
    value = _float_tag(tags, metric.test_tag)
    if value is None:
        return None
    return {"metric": metric.name, "unit": metric.unit, "value": value, "text": format_metric(metric, value)}


def list_models(*, tracking_uri: str | None = None) -> list[dict[str, Any]]:
    """One row per registered model: latest version, aliases, and the champion's test figure:
    ``champion_test_metric`` (see :func:`version_metric`; None without a champion or figure) and
    ``champion_test_bpb`` (bits per byte; None for a translation model)."""
    client = registry_client(tracking_uri)
    rows = []
    for m in client.search_registered_models(order_by=["name ASC"]):
        aliases = {a: str(v) for a, v in (m.aliases or {}).items()}
        versions = client.search_model_versions(f"name='{m.name}'")
        latest = max((int(v.version) for v in versions), default=None)
        champ_tags: dict[str, str] = {}
        if CHAMPION in aliases:
            champ = next((v for v in versions if str(v.version) == aliases[CHAMPION]), None)
            champ_tags = dict(champ.tags or {}) if champ is not None else {}
        metric = version_metric(champ_tags)
        champ_bpb = champ_tags.get(BPB_TAG)
        rows.append(
            {
                "name": m.name,
                "latest_version": latest,
                "n_versions": len(versions),
                "aliases": aliases,
                "champion_test_bpb": float(champ_bpb) if champ_bpb else None,
                "champion_test_metric": metric,
            }
        )
    return rows


def show_model(name: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """A registered model with every version's aliases, gate outcome, test figure (``test_metric``,
    see :func:`version_metric`) and arlm tags."""
    client = registry_client(tracking_uri)
    try:
        m = client.get_registered_model(name)
    except Exception as exc:  # MlflowException or RegistryMissing
        if is_missing(exc):
            raise NotFoundError(f"no registered model named {name!r}; {registry_listing(client)}") from None
        raise
    by_version: dict[str, list[str]] = {}
    for alias, v in (m.aliases or {}).items():
        by_version.setdefault(str(v), []).append(alias)
    versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    return {
        "name": name,
        "aliases": {a: str(v) for a, v in (m.aliases or {}).items()},
        "champion_history": m.tags.get(HISTORY_TAG, "[]"),
        "versions": [
            {
                "version": str(v.version),
                "aliases": sorted(by_version.get(str(v.version), [])),
                "created": v.creation_timestamp,
                "run_id": v.run_id,
                "source": v.source,
                "test_metric": version_metric(v.tags),
                "tags": {k: val for k, val in sorted((v.tags or {}).items())},
                "description": v.description or "",
            }
            for v in versions
        ],
    }


def _aliases_text(aliases: Mapping[str, str]) -> str:
    return ", ".join(f"@{a}=v{v}" for a, v in sorted(aliases.items())) or "-"


def format_models_list(rows: list[dict[str, Any]]) -> str:
    """``arlm models list`` as text: one line per model of :func:`list_models`, with the
    champion's test figure and its name in column ``champion test metric``."""
    if not rows:
        return "no registered models"
    width = max(
        [len("champion test metric")] + [len((r.get("champion_test_metric") or {}).get("text", "-")) for r in rows]
    )
    lines = [f"{'name':<24}{'versions':>9}{'latest':>8}  {'champion test metric':>{width}}  aliases"]
    for r in rows:
        figure = (r.get("champion_test_metric") or {}).get("text", "-")
        lines.append(
            f"{r['name']:<24}{r['n_versions']:>9}{r['latest_version'] or '-':>8}  {figure:>{width}}  "
            f"{_aliases_text(r['aliases'])}"
        )
    return "\n".join(lines)


def format_model_show(info: dict[str, Any]) -> str:
    """``arlm models show`` as text (:func:`show_model`): aliases, champion history, and one line
    per version with its aliases, test figure (``test 1.6580 bits/byte``, ``test BLEU 12.30``) and
    gate decision."""
    lines = [
        f"{info['name']}  aliases: {_aliases_text(info['aliases'])}",
        f"champion history: {info['champion_history']}",
    ]
    for v in info["versions"]:
        t = v["tags"]
        metric = v.get("test_metric") or version_metric(t)
        figure = f"test {metric['text']}" if metric else "test -"
        lines.append(
            f"  v{v['version']:<4} {','.join(v['aliases']) or '-':<22} {figure:<26} "
            f"gate: {t.get('arlm.gate.decision', '-')} ({t.get('arlm.gate.reason', '')})"
        )
    return "\n".join(lines)
