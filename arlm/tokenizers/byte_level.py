"""GPT-2's reversible map between bytes and printable characters (HF ``ByteLevel``'s alphabet).

Byte-level tokenizers store their tokens as strings of these characters in tokenizer.json; the
tiktoken path and the piece display need the raw bytes back.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """byte -> character, as in GPT-2's encoder.py and HF tokenizers' ``ByteLevel``."""
    keep = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(keep, chars)}


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def token_to_bytes(token: str) -> bytes:
    """The raw bytes of a byte-level token string (KeyError if it is not byte-level)."""
    table = unicode_to_bytes()
    return bytes(table[c] for c in token)
