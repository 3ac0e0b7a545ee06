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

import codecs
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

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
    encoding: str = "utf-8"  # a canonical codec name, or "auto" (see ``choose_encoding``)
    seed: int = 0  # of the split hash, which workers compute beside the doc id
    min_chars: int = 1
    max_chars: int = 50_000_000
    max_line_chars: int = 1_000_000
    segment_chars: int = 8192
    normalize: str = "NFC"
    strip_control: bool = True

    @classmethod
    def from_config(cls, cfg) -> Policy:
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

    def merge(self, other: Tally) -> None:
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


# Byte order marks, longest first (UTF-32-LE's starts with UTF-16-LE's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
DETECT_BYTES = 1 << 20  # what ``auto`` shows the detector (it samples within that)
NEAR_TIE = 0.1  # charset-normalizer "chaos" within which windows-1252 is preferred
_SINGLE_BYTE = re.compile(r"^(cp12\d\d|iso8859_\d+|latin_1|mac_\w+|cp8\d\d|cp7\d\d)$")


def canonical_encoding(name: str) -> str:
    """``auto``, or Python's canonical name of a text codec (``latin-1`` -> ``iso8859-1``).

    ``LookupError`` for an unknown name or a codec that does not decode bytes to text (base64...).
    """
    key = name.strip().lower()
    if key == "auto":
        return "auto"
    info = codecs.lookup(key)
    if not getattr(info, "_is_text_encoding", True):
        raise LookupError(f"{name} is not a text encoding")
    return "utf-8" if info.name == "utf-8-sig" else info.name  # utf-8 drops a BOM anyway


@lru_cache(maxsize=64)
def ascii_compatible(encoding: str) -> bool:
    """True when ASCII text (newline, quotes, JSON/CSV punctuation) has the same bytes in
    ``encoding``: its files can be cut at ``\\n`` bytes and sniffed for NULs like UTF-8."""
    probe = "\n\r\t\"',:{}[] azAZ09"
    try:
        return probe.encode(encoding) == probe.encode("ascii") and b"\n".decode(encoding) == "\n"
    except (UnicodeError, LookupError):
        return False


def sniff_bom(data: bytes) -> tuple[str | None, int]:
    """(codec, BOM length) of a byte order mark at the start of ``data``, else (None, 0)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, len(bom)
    return None, 0


def _family(encoding: str) -> str:
    return "-".join(encoding.split("-")[:2]) if encoding.startswith("utf-") else encoding


def detect_encoding(data: bytes) -> str:
    """``auto``: UTF-8 when the bytes are valid UTF-8, else charset-normalizer's best guess
    (``utf-8`` when it has none: the ``encoding_errors`` policy then decides)."""
    if data.isascii():
        return "utf-8"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(data[:DETECT_BYTES])
    best = matches.best()
    if best is None:
        return "utf-8"
    # Short Western text leaves several single-byte code pages nearly tied (latin-1 "déjà" read
    # as cp1257 "déją"); like the WHATWG default for undeclared text, windows-1252 wins a near tie.
    if _SINGLE_BYTE.match(best.encoding):
        for m in matches:
            if m.encoding == "cp1252" and m.chaos <= best.chaos + NEAR_TIE:
                best = m
                break
    try:
        found = canonical_encoding(best.encoding)
    except LookupError:
        return "utf-8"
    # a detection on a sample must not cut a file at bytes that are not newlines
    return found if ascii_compatible(found) else "utf-8"


def choose_encoding(data: bytes, policy: Policy, at_start: bool = True) -> tuple[str, int]:
    """(codec, BOM bytes to drop) for ``data`` under ``policy.encoding``.

    ``utf-8`` (the default) and ``auto`` honour a byte order mark (UTF-8, UTF-16 or UTF-32, LE or
    BE); without one, ``utf-8`` decodes as UTF-8 and ``auto`` asks ``detect_encoding``. Any other
    name is used as given (a BOM of the same family is dropped). ``at_start`` is False for a
    slice that does not begin the file (no BOM there).
    """
    bom, n = sniff_bom(data) if at_start else (None, 0)
    want = policy.encoding
    if want in ("utf-8", "auto"):
        if bom:
            return bom, n
        return ("utf-8", 0) if want == "utf-8" else (detect_encoding(data), 0)
    if bom and _family(bom) == _family(want):
        return bom, n
    return want, 0


def may_be_binary_checked(data: bytes, policy: Policy) -> bool:
    """Whether the raw-bytes binary sniff (NUL bytes) applies: not to UTF-16/32 text, whose
    ASCII characters hold NUL bytes (such text is sniffed after decoding instead)."""
    bom, _ = sniff_bom(data[:4])
    if bom is not None and not ascii_compatible(bom) and policy.encoding in ("utf-8", "auto"):
        return False
    return policy.encoding in ("utf-8", "auto") or ascii_compatible(policy.encoding)


def decode_text(
    data: bytes,
    encoding: str,
    uri: str,
    policy: Policy,
    tally: Tally,
    outcome=None,
    name: str | None = None,
    offset: int = 0,
) -> str | None:
    """``data`` decoded as ``encoding`` under ``policy.encoding_errors``; ``None``: skipped (tallied).

    Counted as ``utf8:ok`` / ``utf8:replaced`` whatever the codec (historic names: "decoded
    cleanly" / "needed U+FFFD"); ``outcome`` (a ``FileOutcome``) gets the codec and a flag when
    bytes were replaced, so the report can name those files. A strict error names ``name`` (else
    ``uri``) and the byte at ``offset`` + the bad byte's index.
    """
    if outcome is not None:
        outcome.encoding = encoding
    try:
        text = data.decode(encoding)
        tally.add("utf8:ok")
        return text
    except UnicodeDecodeError as exc:
        label = "UTF-8" if encoding == "utf-8" else encoding
        if policy.encoding_errors == "strict":
            raise DataError(
                f"{name or uri}: not valid {label} at byte {offset + exc.start} (encoding_errors=strict; "
                "use 'replace' or 'skip', or --encoding NAME|auto)"
            ) from None
        if policy.encoding_errors == "skip":
            tally.skip(uri, "invalid-utf8" if encoding == "utf-8" else f"invalid-{encoding}")
            return None
        tally.add("utf8:replaced")
        if outcome is not None:
            outcome.replaced = True
        return data.decode(encoding, errors="replace")


def decode(data: bytes, uri: str, policy: Policy, tally: Tally, outcome=None) -> str | None:
    """Decode under the policy (BOM, ``encoding``, ``encoding_errors``); ``None``: skipped."""
    encoding, n = choose_encoding(data, policy)
    return decode_text(data[n:], encoding, uri, policy, tally, outcome)


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


def clean_document(text: str, uri: str, policy: Policy, tally: Tally, controls_done: bool = False) -> Cleaned | None:
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


def clean_file_bytes(data: bytes, uri: str, policy: Policy, tally: Tally, outcome=None) -> Cleaned | None:
    """A whole text file (already read) to cleaned segments: binary sniff, decode, clean.

    ``outcome`` (a ``FileOutcome``, optional) records the codec used and whether bytes were
    replaced.
    """
    if may_be_binary_checked(data, policy) and looks_binary(data):
        tally.skip(uri, "binary")
        return None
    encoding, n = choose_encoding(data, policy)
    if n:
        data = data[n:]
    if encoding != "utf-8":
        text = decode_text(data, encoding, uri, policy, tally, outcome, offset=n)
        if text is None:
            return None
        if "\x00" in text[:BINARY_SNIFF_BYTES]:
            tally.skip(uri, "binary")
            return None
        if longest_line_exceeds(text, policy.max_line_chars):
            tally.skip(uri, "line-longer-than-max_line_chars")
            return None
        return clean_document(text, uri, policy, tally)
    if policy.strip_control:
        data = strip_bytes_controls(data)
    if data.isascii():  # valid UTF-8, already NFC, no C1 controls: the fast path
        tally.add("utf8:ok")
        if outcome is not None:
            outcome.encoding = "utf-8"
        if longest_line_exceeds(data, policy.max_line_chars):
            tally.skip(uri, "line-longer-than-max_line_chars")
            return None
        return _ascii_document(data, uri, policy, tally)
    text = decode_text(data, "utf-8", uri, policy, tally, outcome, offset=n)
    if text is None:
        return None
    if longest_line_exceeds(text, policy.max_line_chars):
        tally.skip(uri, "line-longer-than-max_line_chars")
        return None
    return clean_document(text, uri, policy, tally, controls_done=policy.strip_control)
