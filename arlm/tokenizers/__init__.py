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

from arlm.tokenizers.artifact import TokenizerArtifact, build_tokenizer, tokenizer_id
from arlm.tokenizers.config import EOT, PAD, SPECIAL_TOKENS, TokenizerConfig
from arlm.tokenizers.corpus_io import CorpusLike
from arlm.tokenizers.dataset import TokenDataset, token_dataset_from_arrays, tokenize
from arlm.tokenizers.tokenizer import Tokenizer, load_tokenizer

__all__ = [
    "EOT", "PAD", "SPECIAL_TOKENS", "CorpusLike", "TokenDataset", "Tokenizer", "TokenizerArtifact",
    "TokenizerConfig", "build_tokenizer", "load_tokenizer", "token_dataset_from_arrays", "tokenize",
    "tokenizer_id",
]
