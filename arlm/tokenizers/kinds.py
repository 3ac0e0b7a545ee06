"""Training each tokenizer kind into an HF ``tokenizers.Tokenizer`` (so tokenizer.json always exists).

* ``bpe``: byte-level BPE. Pre-tokenization by ``cfg.pattern`` (``patterns``), all 256
  bytes in the initial alphabet (nothing is unencodable) and ``ignore_merges=True`` (a piece that
  is itself a token is taken whole), which is exactly tiktoken's algorithm: the fast path in
  ``fast_encoders`` rebuilds the same ids from the ranks.
* ``char``: a BPE model with no merges whose vocabulary is the 256 ``<0xNN>`` byte tokens plus the
  corpus' most frequent characters, ``byte_fallback=True`` (an unseen character becomes its UTF-8
  bytes) and a ``ByteFallback`` + ``Fuse`` decoder. No pre-tokenizer and no normalizer, so
  whitespace and every character survive a round trip.
* ``bytes``: byte-level, one token per byte, no merges (ids 2..257 in byte-level alphabet order).

Ids 0 and 1 are always ``<|endoftext|>`` and ``<|pad|>``. They sit in the model's vocabulary (that
is how HF gives them those ids), so the char and bytes models keep ``ignore_merges=False``: with
it, a text that is exactly ``<|endoftext|>`` would be looked up whole and become the special id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from arlm.errors import DataError
from arlm.tokenizers.byte_level import bytes_to_unicode
from arlm.tokenizers.config import SPECIAL_TOKENS, TokenizerConfig
from arlm.tokenizers.patterns import byte_level_pre_tokenizer


def _bytes_pipeline(tok) -> None:
    from tokenizers import decoders, pre_tokenizers

    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()


def _nonempty(texts: Iterable[str], what: str) -> Iterator[str]:
    """Pass texts through, raising a clear error if there were none with content."""
    any_text = False
    for t in texts:
        if t:
            any_text = True
            yield t
    if not any_text:
        raise DataError(f"{what}: no training text (the split is empty)")


def train_bpe(cfg: TokenizerConfig, texts: Iterable[str], what: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = byte_level_pre_tokenizer(cfg.pattern)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_nonempty(texts, what), trainer)
    return tok


def byte_fallback_token(b: int) -> str:
    return f"<0x{b:02X}>"


def train_char(cfg: TokenizerConfig, texts: Iterable[str], what: str):
    from tokenizers import Tokenizer, decoders, models

    counts: Counter[str] = Counter()
    for t in _nonempty(texts, what):
        counts.update(t)
    n_specials = len(SPECIAL_TOKENS)
    vocab: dict[str, int] = {s: i for i, s in enumerate(SPECIAL_TOKENS)}
    for b in range(256):
        vocab[byte_fallback_token(b)] = n_specials + b
    room = cfg.vocab_size - len(vocab)
    # Most frequent first, ties by code point: deterministic for the same corpus.
    chars = sorted((c for c, n in counts.items() if n >= cfg.min_frequency), key=lambda c: (-counts[c], c))
    for c in chars[:room]:
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], byte_fallback=True, ignore_merges=False))
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return tok


def make_bytes():
    from tokenizers import Tokenizer, models

    n_specials = len(SPECIAL_TOKENS)
    vocab: dict[str, int] = {s: i for i, s in enumerate(SPECIAL_TOKENS)}
    for b, c in sorted(bytes_to_unicode().items()):
        vocab[c] = n_specials + b  # id = 2 + byte value
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], ignore_merges=False))
    _bytes_pipeline(tok)
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return tok


def train_hf_tokenizer(cfg: TokenizerConfig, texts: Iterable[str], what: str):
    """The HF tokenizer of ``cfg.kind`` learned from ``texts`` (a stream; read once)."""
    if cfg.kind == "bpe":
        return train_bpe(cfg, texts, what)
    if cfg.kind == "char":
        return train_char(cfg, texts, what)
    return make_bytes()
