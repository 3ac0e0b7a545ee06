"""Decoding settings, validated before any work starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arlm.errors import ConfigError


def _as_tuple(value: Any, name: str, kind: type) -> tuple:
    if value is None:
        return ()
    if isinstance(value, kind):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise ConfigError(f"generation option {name}: expected a list of {kind.__name__}, got {value!r}") from None
    for item in items:
        if not isinstance(item, kind) or isinstance(item, bool):
            raise ConfigError(f"generation option {name}: expected {kind.__name__} items, got {item!r}")
    return items


@dataclass(frozen=True)
class GenerationConfig:
    """How to continue a prompt.

    Greedy decoding is the default. Sampling is on when ``do_sample`` is true, or, with
    ``do_sample`` left at None, as soon as a sampling knob leaves its neutral value
    (``temperature`` not 1 or 0, ``top_k > 0``, ``top_p < 1``): asking for a temperature and
    silently getting greedy output would surprise. ``temperature=0`` alone means greedy (the common
    API convention); a negative temperature, or 0 together with sampling (``do_sample``, top-k,
    top-p), is rejected. ``num_beams > 1`` runs beam search (deterministic; not combined
    with sampling). ``stop`` strings end a row when its generated text contains one (needs a decode
    callback); ``stop_token_ids`` end a row when one is produced (the id is not returned).
    ``use_cache=False`` recomputes the forward pass over the whole prefix for each token: the slow
    reference that the cache is measured and tested against.
    """

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float = 1.0
    num_beams: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    use_cache: bool = True
    do_sample: bool | None = None
    length_penalty: float = 1.0

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ConfigError(f"generation option max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if isinstance(self.num_beams, bool) or not isinstance(self.num_beams, int) or self.num_beams < 1:
            raise ConfigError(f"generation option num_beams must be an integer >= 1, got {self.num_beams!r}")
        top_k = self.top_k or None
        if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
            raise ConfigError(f"generation option top_k must be an integer >= 0, got {self.top_k!r}")
        set_("top_k", top_k)
        try:
            temperature = float(self.temperature)
            top_p = float(self.top_p)
        except (TypeError, ValueError):
            raise ConfigError("generation options temperature and top_p must be numbers") from None
        if not 0.0 < top_p <= 1.0:
            raise ConfigError(f"generation option top_p must be in (0, 1], got {self.top_p!r}")
        set_("temperature", temperature)
        set_("top_p", top_p)
        if temperature < 0:
            raise ConfigError(f"generation option temperature must be >= 0 (0: greedy), got {self.temperature!r}")
        do_sample = self.do_sample
        if do_sample is None:
            do_sample = temperature not in (0.0, 1.0) or top_k is not None or top_p < 1.0
        set_("do_sample", bool(do_sample))
        if self.do_sample and temperature <= 0:
            raise ConfigError(
                f"generation option temperature must be > 0 when sampling (top_k/top_p/"
                f"do_sample given), got {self.temperature!r}; use temperature=0 alone "
                "for greedy decoding"
            )
        if self.do_sample and self.num_beams > 1:
            raise ConfigError(
                "generation options: beam search (num_beams > 1) cannot be combined with "
                "sampling (temperature/top_k/top_p/do_sample)"
            )
        stop = _as_tuple(self.stop, "stop", str)
        if any(s == "" for s in stop):
            raise ConfigError("generation option stop: stop strings must not be empty")
        set_("stop", stop)
        set_("stop_token_ids", _as_tuple(self.stop_token_ids, "stop_token_ids", int))
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ConfigError(f"generation option seed must be an integer, got {self.seed!r}")

    def check_context(self, max_context: int | None, kind: str = "model") -> None:
        """Kept for callers of the old API: any ``max_new_tokens`` now fits, since generation
        slides the window past a model's context (see ``arlm.generation.steppers``)."""
