"""Cleaning: bytes to normalized text documents, with a count of every decision.

Pure functions of (data, policy) so that they run the same in-process, in a process pool or in
a Ray task. Fast paths matter here (this is most of the ingest CPU): ASCII control bytes are
deleted on the raw bytes (they never occur inside a multi-byte UTF-8 sequence), the C1 controls
and NFC are looked at only when the text is not pure ASCII, and NFC normalizes only when
``unicodedata.is_normalized`` says it must.
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
BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Policy:
    """The cleaning part of ``IngestConfig``, small and picklable for workers."""

    encoding_errors: str = "replace"
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

    def skip(self, uri: str, reason: str) -> None:
        self.counts[f"skipped:{reason}"] += 1
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


def segment(text: str, size: int) -> list[str]:
    """Cut ``text`` into pieces of about ``size`` characters, at line ends where there are any.

    A piece ends at the last newline before ``size`` (so lines stay whole); a line longer than
    ``size`` is cut at the last space, else hard at ``size``. Concatenating the pieces gives the
    text back exactly.
    """
    if size <= 0 or len(text) <= size:
        return [text]
    out: list[str] = []
    start, n = 0, len(text)
    while n - start > size:
        end = start + size
        cut = text.rfind("\n", start, end)
        if cut < start + size // 4:
            cut = text.rfind(" ", start, end)
        if cut < start + size // 4:
            cut = end - 1
        out.append(text[start:cut + 1])
        start = cut + 1
    if start < n:
        out.append(text[start:])
    return out


def longest_line_exceeds(text: str, limit: int) -> bool:
    """True when some line of ``text`` is longer than ``limit`` characters.

    Jumps from the last newline of each ``limit``-wide window to the next (``rfind`` is a
    memrchr), so it costs a handful of calls per ``limit`` characters, not one per line.
    """
    pos, n = 0, len(text)
    while n - pos > limit:
        nl = text.rfind("\n", pos, pos + limit + 1)
        if nl < 0:
            return True
        pos = nl + 1
    return False


def clean_document(text: str, uri: str, policy: Policy, tally: Tally,
                   controls_done: bool = False) -> list[str]:
    """One raw document to zero or more cleaned segments (empty list: skipped, and why)."""
    text = normalize_text(text, policy, controls_done=controls_done)
    if len(text.strip()) < max(policy.min_chars, 1):
        tally.skip(uri, "empty" if not text.strip() else "shorter-than-min_chars")
        return []
    if len(text) > policy.max_chars:
        tally.skip(uri, "longer-than-max_chars")
        return []
    pieces = segment(text, policy.segment_chars)
    if len(pieces) > 1:
        tally.add("segmented-documents")
        pieces = [p for p in pieces if p.strip()]
    tally.add("kept-documents")
    return pieces


def clean_file_bytes(data: bytes, uri: str, policy: Policy, tally: Tally) -> list[str]:
    """A whole text file (already read) to cleaned segments: binary sniff, decode, clean."""
    if looks_binary(data):
        tally.skip(uri, "binary")
        return []
    if policy.strip_control:
        data = strip_bytes_controls(data)
    text = decode(data, uri, policy, tally)
    if text is None:
        return []
    if longest_line_exceeds(text, policy.max_line_chars):
        tally.skip(uri, "line-longer-than-max_line_chars")
        return []
    return clean_document(text, uri, policy, tally, controls_done=policy.strip_control)
