"""Tokenizer kinds (byte-level BPE, char, bytes), fast encoding, and token datasets.

Public API (docs/architecture.md): ``TokenizerConfig``, ``build_tokenizer`` -> ``TokenizerArtifact``,
``load_tokenizer`` -> ``Tokenizer``, ``tokenize`` -> ``TokenDataset``, ``TokenDataset.open``.
"""

from arlm.tokenizers.artifact import TokenizerArtifact, build_tokenizer, tokenizer_id
from arlm.tokenizers.config import EOT, PAD, SPECIAL_TOKENS, TokenizerConfig
from arlm.tokenizers.corpus_io import CorpusLike
from arlm.tokenizers.dataset import TokenDataset, tokenize
from arlm.tokenizers.tokenizer import Tokenizer, load_tokenizer

__all__ = [
    "EOT", "PAD", "SPECIAL_TOKENS", "CorpusLike", "TokenDataset", "Tokenizer", "TokenizerArtifact",
    "TokenizerConfig", "build_tokenizer", "load_tokenizer", "tokenize", "tokenizer_id",
]
