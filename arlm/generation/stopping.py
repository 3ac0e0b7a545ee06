"""When a row is finished: a stop token id, or a stop string in its generated text."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from arlm.errors import ConfigError
from arlm.generation.config import GenerationConfig

# A character can span several byte-level tokens (up to 4 UTF-8 bytes); a small margin on top.
_TOKENS_PER_CHAR = 4
_MARGIN = 4


class StopChecker:
    def __init__(self, cfg: GenerationConfig, decode: Callable[[list[int]], str] | None):
        if cfg.stop and decode is None:
            raise ConfigError(
                "generation option stop: stop strings need a decode callback (generate(..., decode=tokenizer.decode))"
            )
        self.stop_ids = frozenset(cfg.stop_token_ids)
        self.stop = cfg.stop
        self.decode = decode
        self.tail = max((len(s) for s in self.stop), default=0) * _TOKENS_PER_CHAR + _MARGIN

    def is_stop_token(self, token: int) -> bool:
        return token in self.stop_ids

    def hits_stop_string(self, generated: Sequence[int]) -> bool:
        """True when the text of the last tokens contains a stop string (checked after each token,
        so the first occurrence is always caught within the decoded tail)."""
        if not self.stop:
            return False
        text = self.decode(list(generated[-self.tail :]))
        return any(s in text for s in self.stop)
