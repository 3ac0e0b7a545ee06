"""The MLflow side of arlm: log the pyfunc model, register it through the champion gate, resolve
model URIs back to files. MLflow is imported inside the functions, so ``import arlm.registry`` is
cheap; ``pyfunc_model.py`` is the file MLflow stores and executes (models from code).
"""

from __future__ import annotations

from arlm.lazy import lazy_getattr

_EXPORTS = {
    "log_model": "arlm.registry.log",
    "pip_requirements": "arlm.registry.log",
    "register_with_gate": "arlm.registry.gate",
    "GateDecision": "arlm.registry.gate",
    "promote": "arlm.registry.gate",
    "rollback": "arlm.registry.gate",
    "load_generator": "arlm.registry.resolve",
    "load_translator": "arlm.registry.resolve",
    "resolve_model": "arlm.registry.resolve",
    "resolve_model_for_eval": "arlm.registry.resolve",
    "mlflow_alias_resolver": "arlm.registry.resolve",
    "list_models": "arlm.registry.listing",
    "show_model": "arlm.registry.listing",
    "version_metric": "arlm.registry.listing",
    "format_models_list": "arlm.registry.listing",
    "format_model_show": "arlm.registry.listing",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
