"""What every registry reader says when a model, version or alias is not there.

Shared by ``gate`` (register, promote, rollback), ``resolve`` (model URIs to files) and ``listing``
(``arlm models list/show``); it imports nothing from them, so none of them imports another for it.
"""

from __future__ import annotations

from typing import Any


def is_missing(exc: Exception) -> bool:
    """An MLflow (or ``SqliteRegistry``) error saying the model, version or alias does not exist."""
    return getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


def registry_listing(client: Any) -> str:
    """One line naming the registered models and their aliases (for not-found messages)."""
    try:
        models = client.search_registered_models()
    except Exception:  # pragma: no cover - listing is a courtesy
        return "could not list registered models"
    if not models:
        return "no models are registered yet (run `arlm pipeline` or `arlm train` first)"
    parts = []
    for m in models:
        aliases = ", ".join(f"@{a}=v{v}" for a, v in sorted((m.aliases or {}).items()))
        parts.append(f"{m.name} ({aliases or 'no aliases'})")
    return "registered models: " + "; ".join(parts)
