"""Tokenizer kinds (byte-level BPE, char, bytes), fast encoding, and token datasets.

Public API (docs/architecture.md): ``TokenizerConfig``, ``build_tokenizer`` -> ``TokenizerArtifact``,
``load_tokenizer`` -> ``Tokenizer``, ``tokenize`` -> ``TokenDataset``, ``TokenDataset.open``.

Decisions worth knowing before using it:

* tokenizer.json (HF format) is the source of truth; ``Tokenizer`` encodes with a faster encoder
  that gives HF's ids exactly (``fast_encoders``: tiktoken for BPE, numpy tables for char/bytes).
* ``<|endoftext|>`` (id 0) and ``<|pad|>`` (id 1) written inside text are plain text on every
  path (HF with ``encode_special_tokens=True``, which tokenizer.json cannot store, so set it when
  loading the file yourself). Token datasets put one ``<|endoftext|>`` after each document.
* The BPE's pre-tokenization regex is ``patterns.FAST`` by default (GPT-2's without the
  whitespace look-ahead), ``pattern="gpt2"`` for GPT-2's exactly.
* Corpora are any object with ``.id`` and ``.files`` (``corpus_io.CorpusLike``), read as
  streamed Parquet batches; ``arlm.data`` is not imported.
"""

from importlib import import_module
from typing import TYPE_CHECKING

# Names are imported on first use, so that reading a token dataset (all the training loop needs,
# e.g. on a GPU machine with torch and numpy only) does not import the tokenizer config's pydantic.
_WHERE = {
    "TokenizerArtifact": "artifact",
    "build_tokenizer": "artifact",
    "tokenizer_id": "artifact",
    "EOT": "config",
    "PAD": "config",
    "SPECIAL_TOKENS": "config",
    "TokenizerConfig": "config",
    "CorpusLike": "corpus_io",
    "TokenDataset": "dataset",
    "random_token_dataset": "dataset",
    "token_dataset_from_arrays": "dataset",
    "tokenize": "dataset",
    "Tokenizer": "tokenizer",
    "load_tokenizer": "tokenizer",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'arlm.tokenizers' has no attribute {name!r}")
    value = getattr(import_module(f"arlm.tokenizers.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from arlm.tokenizers.artifact import TokenizerArtifact, build_tokenizer, tokenizer_id  # noqa: F401
    from arlm.tokenizers.config import EOT, PAD, SPECIAL_TOKENS, TokenizerConfig  # noqa: F401
    from arlm.tokenizers.corpus_io import CorpusLike  # noqa: F401
    from arlm.tokenizers.dataset import TokenDataset, random_token_dataset, token_dataset_from_arrays, tokenize  # noqa: F401
    from arlm.tokenizers.tokenizer import Tokenizer, load_tokenizer  # noqa: F401
