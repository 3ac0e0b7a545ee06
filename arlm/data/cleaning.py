"""Cleaning: bytes to normalized text documents, with a count of every decision.

Pure functions of (data, policy) so that they run the same in-process, in a process pool or in
a Ray task. Fast paths matter here (this is most of the ingest CPU): ASCII control bytes are
deleted on the raw bytes (they never occur inside a multi-byte UTF-8 sequence), the C1 controls
and NFC are looked at only when the text is not pure ASCII, and NFC normalizes only when
``unicodedata.is_normalized`` says it must. Pure-ASCII input (most English text) is never
decoded at all: it is cut into segments and hashed as bytes, and its segments are handed on as
spans of one buffer (``Cleaned``), which the reader packs into an Arrow array without copies
through Python strings.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from arlm.errors import DataError

# C0 controls except \t \n \r, plus DEL.
_ASCII_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13)) + b"\x7f"
_C1_CONTROL = re.compile("[\x80-\x9f]")
_ASCII_CONTROL_STR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NON_SPACE = re.compile(rb"\S")
BINARY_SNIFF_BYTES = 8192

# A cleaned document: its UTF-8 bytes and the (start, end) byte spans of its segments.
Cleaned = tuple[bytes, list[tuple[int, int]]]


@dataclass(frozen=True)
class Policy:
    """The cleaning part of ``IngestConfig``, small and picklable for workers."""

    encoding_errors: str = "replace"
    seed: int = 0  # of the split hash, which workers compute beside the doc id
    min_chars: int = 1
    max_chars: int = 50_000_000
    max_line_chars: int = 1_000_000
    segment_chars: int = 8192
    normalize: str = "NFC"
    strip_control: bool = True

    @classmethod
    def from_config(cls, cfg) -> "Policy":
        return cls(**{k: getattr(cfg, k) for k in cls.__dataclass_fields__})


@dataclass
class Tally:
    """What happened to the input: counts by outcome and reason, plus examples of skipped uris."""

    counts: Counter = field(default_factory=Counter)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (uri, reason), bounded
    max_examples: int = 200

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    last: tuple[str, str] = ("", "")  # the latest (uri, reason), beyond the bounded examples

    def skip(self, uri: str, reason: str) -> None:
        self.counts[f"skipped:{reason}"] += 1
        self.last = (uri, reason)
        if len(self.skipped) < self.max_examples:
            self.skipped.append((uri, reason))

    def merge(self, other: "Tally") -> None:
        self.counts.update(other.counts)
        room = self.max_examples - len(self.skipped)
        if room > 0:
            self.skipped.extend(other.skipped[:room])


def looks_binary(data: bytes) -> bool:
    """Git's rule (a NUL byte in the first 8 KB), plus a high share of non-text control bytes."""
    head = data[:BINARY_SNIFF_BYTES]
    if b"\x00" in head:
        return True
    if not head:
        return False
    n_ctrl = len(head) - len(head.translate(None, _ASCII_CONTROL))
    return n_ctrl / len(head) > 0.10


def decode(data: bytes, uri: str, policy: Policy, tally: Tally) -> str | None:
    """UTF-8 decode under the policy; ``None`` means the input is skipped (and tallied)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
        tally.add("utf8:ok")
        return text
    except UnicodeDecodeError as exc:
        if policy.encoding_errors == "strict":
            raise DataError(
                f"{uri}: not valid UTF-8 at byte {exc.start} (encoding_errors=strict; "
                "use 'replace' or 'skip')") from None
        if policy.encoding_errors == "skip":
            tally.skip(uri, "invalid-utf8")
            return None
        tally.add("utf8:replaced")
        return data.decode("utf-8", errors="replace")


def strip_bytes_controls(data: bytes) -> bytes:
    return data.translate(None, _ASCII_CONTROL)


def normalize_text(text: str, policy: Policy, controls_done: bool = False) -> str:
    """Control characters out, NFC in; cheap when the text is already clean ASCII."""
    if policy.strip_control and not controls_done:
        text = _ASCII_CONTROL_STR.sub("", text)
    if text.isascii():
        return text
    if policy.strip_control:
        text = _C1_CONTROL.sub("", text)
    if policy.normalize == "NFC" and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


def segment_spans(text: str | bytes, size: int) -> list[tuple[int, int]]:
    """Cut ``text`` into spans of about ``size`` characters, at line ends where there are any.

    A span ends at the last newline before ``size`` (so lines stay whole); a line longer than
    ``size`` is cut at the last space, else hard at ``size``. The spans tile the text exactly.
    Works on ``str`` and on ASCII ``bytes`` alike (one byte per character there).
    """
    n = len(text)
    if size <= 0 or n <= size:
        return [(0, n)]
    nl, sp = ("\n", " ") if isinstance(text, str) else (b"\n", b" ")
    out: list[tuple[int, int]] = []
    start = 0
    while n - start > size:
        end = start + size
        cut = text.rfind(nl, start, end)
        if cut < start + size // 4:
            cut = text.rfind(sp, start, end)
        if cut < start + size // 4:
            cut = end - 1
        out.append((start, cut + 1))
        start = cut + 1
    if start < n:
        out.append((start, n))
    return out


def segment(text: str, size: int) -> list[str]:
    """``segment_spans`` as strings."""
    return [text[a:b] for a, b in segment_spans(text, size)]


def longest_line_exceeds(text: str | bytes, limit: int) -> bool:
    """True when some line of ``text`` is longer than ``limit`` characters (bytes for bytes).

    Jumps from the last newline of each ``limit``-wide window to the next (``rfind`` is a
    memrchr), so it costs a handful of calls per ``limit`` characters, not one per line.
    """
    nl = "\n" if isinstance(text, str) else b"\n"
    pos, n = 0, len(text)
    while n - pos > limit:
        cut = text.rfind(nl, pos, pos + limit + 1)
        if cut < 0:
            return True
        pos = cut + 1
    return False


def _check_length(n_chars: int, n_stripped: int, uri: str, policy: Policy, tally: Tally) -> bool:
    if n_stripped < max(policy.min_chars, 1):
        tally.skip(uri, "empty" if not n_stripped else "shorter-than-min_chars")
        return False
    if n_chars > policy.max_chars:
        tally.skip(uri, "longer-than-max_chars")
        return False
    return True


def _ascii_document(data: bytes, uri: str, policy: Policy, tally: Tally) -> Cleaned | None:
    """Length checks and segments of clean ASCII bytes, without decoding them."""
    if not _check_length(len(data), len(data.strip()), uri, policy, tally):
        return None
    spans = segment_spans(data, policy.segment_chars)
    if len(spans) > 1:
        tally.add("segmented-documents")
        view = memoryview(data)
        spans = [(a, b) for a, b in spans if _NON_SPACE.search(view[a:b])]
    tally.add("kept-documents")
    return data, spans


def clean_document(text: str, uri: str, policy: Policy, tally: Tally,
                   controls_done: bool = False) -> Cleaned | None:
    """One raw document to its cleaned UTF-8 bytes and segment spans (None: skipped, tallied)."""
    text = normalize_text(text, policy, controls_done=controls_done)
    if text.isascii():
        return _ascii_document(text.encode("ascii"), uri, policy, tally)
    if not _check_length(len(text), len(text.strip()), uri, policy, tally):
        return None
    pieces = segment(text, policy.segment_chars)
    if len(pieces) > 1:
        tally.add("segmented-documents")
        pieces = [p for p in pieces if p.strip()]
    tally.add("kept-documents")
    # lone surrogates (from JSON escapes) cannot be UTF-8: they become '?'
    encoded = [p.encode("utf-8", errors="replace") for p in pieces]
    spans, pos = [], 0
    for e in encoded:
        spans.append((pos, pos + len(e)))
        pos += len(e)
    return b"".join(encoded), spans


def clean_file_bytes(data: bytes, uri: str, policy: Policy, tally: Tally) -> Cleaned | None:
    """A whole text file (already read) to cleaned segments: binary sniff, decode, clean."""
    if looks_binary(data):
        tally.skip(uri, "binary")
        return None
    if policy.strip_control:
        data = strip_bytes_controls(data)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.isascii():  # valid UTF-8, already NFC, no C1 controls: the fast path
        tally.add("utf8:ok")
        if longest_line_exceeds(data, policy.max_line_chars):
            tally.skip(uri, "line-longer-than-max_line_chars")
            return None
        return _ascii_document(data, uri, policy, tally)
    text = decode(data, uri, policy, tally)
    if text is None:
        return None
    if longest_line_exceeds(text, policy.max_line_chars):
        tally.skip(uri, "line-longer-than-max_line_chars")
        return None
    return clean_document(text, uri, policy, tally, controls_done=policy.strip_control)
