"""``bible-en-es``: English-Spanish verse pairs from Debian's public-domain SWORD Bibles.

Sources (both ``DistributionLicense=Public Domain`` in their ``.conf``), read with ``diatheke``:

- English: the World English Bible (module ``engWEB2015eb``, Debian package ``sword-text-web``);
- Spanish: the Reina-Valera 1909 (module ``spaRV1909eb``, package ``sword-text-sparv``).

Each module is exported once, whole (``-k "Genesis 1:1-Revelation 22:21"``), in its source markup:
both modules are OSIS (``SourceType=OSIS``), and diatheke's default ``internal`` output hands that
OSIS over unrendered, one verse a line (``Book C:V: <osis>``). The rendered exports lose what the
text conversion needs: ``-f plain`` glues words that a footnote separated ("God<note/>created" ->
"Godcreated"), and ``-f OSIS`` flattens the glossary appended to Revelation 22:21 into plain text.
``osis_to_text`` therefore works on the markup: notes, speaker labels and non-canonical titles are
dropped, a space goes between adjacent word tags (``</w><w>``) and at line/paragraph milestones,
and the verse ends where the book does (the English module appends its glossary after the last
verse of Revelation inside ``<div type="glossary">``). Two quirks of the export are undone:
diatheke repeats a psalm's title before every later verse until the next title (the title is kept
only where it first appears: verse 1, where the Spanish text has it too), and the Spanish text
capitalises the first word of each chapter ("EN el principio" -> "En el principio").

Verses are aligned by reference (same KJV versification in both modules); the English
deuterocanonical books have no Spanish side and are left out; a verse empty on either side is
dropped. Pairs carry their book (OSIS id) as the document, so ``split_pairs`` holds whole books
out for validation and test.

Missing tools: with ``install=True`` and root, ``apt-get install -y diatheke sword-text-web
sword-text-sparv`` is run; otherwise a NotFoundError says what to install.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

from arlm.errors import DataError, NotFoundError
from arlm.translation.pairs import Pairs, write_pairs_tsv

EN_MODULE = "engWEB2015eb"
ES_MODULE = "spaRV1909eb"
APT_PACKAGES = ("diatheke", "sword-text-web", "sword-text-sparv")
INSTALL_HINT = "apt-get install -y " + " ".join(APT_PACKAGES)
EXPORT_RANGE = "Genesis 1:1-Revelation 22:21"
NAME = "bible-en-es"

# The 66 books both modules share: (OSIS id, the name diatheke prints with the English locale).
BOOKS: tuple[tuple[str, str], ...] = (
    ("Gen", "Genesis"),
    ("Exod", "Exodus"),
    ("Lev", "Leviticus"),
    ("Num", "Numbers"),
    ("Deut", "Deuteronomy"),
    ("Josh", "Joshua"),
    ("Judg", "Judges"),
    ("Ruth", "Ruth"),
    ("1Sam", "I Samuel"),
    ("2Sam", "II Samuel"),
    ("1Kgs", "I Kings"),
    ("2Kgs", "II Kings"),
    ("1Chr", "I Chronicles"),
    ("2Chr", "II Chronicles"),
    ("Ezra", "Ezra"),
    ("Neh", "Nehemiah"),
    ("Esth", "Esther"),
    ("Job", "Job"),
    ("Ps", "Psalms"),
    ("Prov", "Proverbs"),
    ("Eccl", "Ecclesiastes"),
    ("Song", "Song of Solomon"),
    ("Isa", "Isaiah"),
    ("Jer", "Jeremiah"),
    ("Lam", "Lamentations"),
    ("Ezek", "Ezekiel"),
    ("Dan", "Daniel"),
    ("Hos", "Hosea"),
    ("Joel", "Joel"),
    ("Amos", "Amos"),
    ("Obad", "Obadiah"),
    ("Jonah", "Jonah"),
    ("Mic", "Micah"),
    ("Nah", "Nahum"),
    ("Hab", "Habakkuk"),
    ("Zeph", "Zephaniah"),
    ("Hag", "Haggai"),
    ("Zech", "Zechariah"),
    ("Mal", "Malachi"),
    ("Matt", "Matthew"),
    ("Mark", "Mark"),
    ("Luke", "Luke"),
    ("John", "John"),
    ("Acts", "Acts"),
    ("Rom", "Romans"),
    ("1Cor", "I Corinthians"),
    ("2Cor", "II Corinthians"),
    ("Gal", "Galatians"),
    ("Eph", "Ephesians"),
    ("Phil", "Philippians"),
    ("Col", "Colossians"),
    ("1Thess", "I Thessalonians"),
    ("2Thess", "II Thessalonians"),
    ("1Tim", "I Timothy"),
    ("2Tim", "II Timothy"),
    ("Titus", "Titus"),
    ("Phlm", "Philemon"),
    ("Heb", "Hebrews"),
    ("Jas", "James"),
    ("1Pet", "I Peter"),
    ("2Pet", "II Peter"),
    ("1John", "I John"),
    ("2John", "II John"),
    ("3John", "III John"),
    ("Jude", "Jude"),
    ("Rev", "Revelation of John"),
)
_OSIS_OF = {name: osis for osis, name in BOOKS}
_ORDER = {osis: i for i, (osis, _) in enumerate(BOOKS)}
# "Book C:V: " at a verse line's start or after the leaked heading before it; longest names first
# so "I John" is not read as "John".
_REF = re.compile(
    r"(?:^|(?<=[>\s]))(" + "|".join(re.escape(n) for n in sorted(_OSIS_OF, key=len, reverse=True)) + r") (\d+):(\d+): "
)
_TAG = re.compile(r"<(/?)([A-Za-z]+)\b([^>]*?)(/?)>")
_DROP_CONTENT = {"note", "speaker", "title"}  # their text is not the verse's (psalm titles: see parse_export)
_BREAKS = {"l", "lg", "lb", "p", "div", "chapter", "milestone", "verse", "item", "list"}
_WORD_STARTS = {"w", "transChange", "seg", "name", "q", "foreign", "hi", "divineName", "rdg"}
_END_OF_TEXT = re.compile(
    r'<div\b[^>]*\beID="[^"]*"[^>]*\btype="book"|<div\b[^>]*\btype="(?:glossary|introduction|'
    r'preface|titlePage|colophon|appendix)"'
)
_CANONICAL_TITLE = re.compile(r'<title\b[^>]*\bcanonical="true"[^>]*>(.*?)</title>', re.S)
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)\]])")
_CAPS_WORD = re.compile(r"\b[^\W\d_]{2,}\b")


@dataclass
class BibleBuild:
    """What ``build_bible_en_es`` made: the pairs and figures to report."""

    pairs: Pairs
    stats: dict


def osis_to_text(markup: str) -> str:
    """Plain text of one verse's OSIS markup (see the module docstring)."""
    end = _END_OF_TEXT.search(markup)
    if end:
        markup = markup[: end.start()]
    out: list[str] = []
    drop = 0  # depth inside elements whose text is dropped (notes, speakers, titles)
    pos = 0
    for m in _TAG.finditer(markup):
        if not drop and m.start() > pos:
            out.append(markup[pos : m.start()])
        pos = m.end()
        closing, name, self_closing = m.group(1) == "/", m.group(2), m.group(4) == "/"
        if name in _DROP_CONTENT:
            if not self_closing:
                drop = max(0, drop - 1) if closing else drop + 1
            continue
        if drop:
            continue
        # a word tag right after a letter starts a new word ("God</w><w>created"); milestones
        # of lines, paragraphs and chapters separate what they stand between
        if name in _BREAKS or (not closing and name in _WORD_STARTS and out and out[-1][-1:].isalnum()):
            out.append(" ")
    if not drop:
        out.append(markup[pos:])
    text = _SPACES.sub(" ", html.unescape("".join(out)))
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text).strip()


def fix_drop_cap(text: str) -> str:
    """The chapter's first word written in capitals ("EN el principio", "¡OH Jehová", after a
    psalm's title "...Salmo de David. TE alabaré") as a word: the first all-capital word of 2+
    letters keeps its first capital only."""
    for m in _CAPS_WORD.finditer(text):
        word = m.group(0)
        if word.isupper():
            return text[: m.start()] + word[0] + word[1:].lower() + text[m.end() :]
    return text


def parse_export(text: str, keep_titles: bool, drop_caps: bool) -> dict[tuple[str, int, int], str]:
    """{(OSIS book, chapter, verse): text} of a diatheke export (one verse a line, ``Book C:V: ``
    after any heading diatheke repeats before it). Books outside ``BOOKS`` are skipped.

    ``keep_titles``: a canonical title (a psalm's) in the heading is prepended to the verse where the
    heading first appears. ``drop_caps``: ``fix_drop_cap`` on each chapter's verse 1."""
    verses: dict[tuple[str, int, int], str] = {}
    previous_heading = None
    for line in text.split("\n"):
        m = _REF.search(line)
        if m is None:
            continue
        heading = line[: m.start()]
        book = _OSIS_OF[m.group(1)]
        chapter, verse = int(m.group(2)), int(m.group(3))
        body = osis_to_text(line[m.end() :])
        if keep_titles and heading and heading != previous_heading:
            titles = [osis_to_text(t) for t in _CANONICAL_TITLE.findall(heading)]
            title = " ".join(t for t in titles if t)
            if title and body:
                body = f"{title} {body}"
        previous_heading = heading
        if drop_caps and verse == 1 and body:
            body = fix_drop_cap(body)
        verses[(book, chapter, verse)] = body
    return verses


def _modules(diatheke: str) -> str:
    return subprocess.run(
        [diatheke, "-b", "system", "-k", "modulelist"], capture_output=True, text=True, timeout=60
    ).stdout


def ensure_sword(install: bool = True) -> str:
    """Path of ``diatheke`` with both modules installed; installs them through apt when allowed
    (``install`` and root), else a NotFoundError naming the packages."""
    diatheke = shutil.which("diatheke")
    have = _modules(diatheke) if diatheke else ""
    if diatheke and EN_MODULE in have and ES_MODULE in have:
        return diatheke
    apt = shutil.which("apt-get")
    if install and apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = [apt, "install", "-y", "-q", *APT_PACKAGES]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:  # package lists may be missing: refresh once, try again
            subprocess.run([apt, "update", "-q"], capture_output=True, text=True, env=env, timeout=900)
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        diatheke = shutil.which("diatheke")
        have = _modules(diatheke) if diatheke else ""
        if done.returncode == 0 and diatheke and EN_MODULE in have and ES_MODULE in have:
            return diatheke
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        raise NotFoundError(
            f"{NAME}: apt-get could not install {' '.join(APT_PACKAGES)} ({tail[0]}); install "
            f"them by hand: {INSTALL_HINT}"
        )
    missing = [
        p
        for p, ok in (
            ("diatheke", bool(diatheke)),
            ("sword-text-web", EN_MODULE in have),
            ("sword-text-sparv", ES_MODULE in have),
        )
        if not ok
    ]
    why = "" if install else " (installing was not allowed)"
    raise NotFoundError(
        f"{NAME} needs the Debian packages {', '.join(missing)}{why}: run `{INSTALL_HINT}` "
        "as root (they are in Debian's main archive)"
    )


def export_module(diatheke: str, module: str) -> str:
    """The whole module in its OSIS markup, one verse a line (English book names)."""
    done = subprocess.run([diatheke, "-b", module, "-l", "en", "-k", EXPORT_RANGE], capture_output=True, timeout=600)
    if done.returncode != 0 or not done.stdout.strip():
        err = done.stderr.decode("utf-8", "replace").strip()[:300]
        raise DataError(
            f"{NAME}: diatheke could not export {module} (exit {done.returncode}{': ' + err if err else ''})"
        )
    return done.stdout.decode("utf-8", "replace")


def align(english: dict, spanish: dict) -> tuple[Pairs, dict]:
    """Pairs of the references both sides have, in canonical order, with counts of what was left out."""
    pairs = Pairs(src_lang="en", tgt_lang="es", spec=NAME)
    counts = {
        "en_verses": len(english),
        "es_verses": len(spanish),
        "only_en": 0,
        "only_es": 0,
        "empty_en": 0,
        "empty_es": 0,
    }
    for ref in sorted(set(english) | set(spanish), key=lambda r: (_ORDER[r[0]], r[1], r[2])):
        en, es = english.get(ref), spanish.get(ref)
        if en is None or es is None:
            counts["only_en" if es is None else "only_es"] += 1
            continue
        if not en or not es:
            counts["empty_en" if not en else "empty_es"] += 1
            continue
        book, chapter, verse = ref
        pairs.append(en, es, book, f"{book}.{chapter}.{verse}")
    counts["pairs"] = len(pairs)
    counts["books"] = len(pairs.documents)
    return pairs, counts


def build_bible_en_es(out: str | os.PathLike | None = None, install: bool = True) -> BibleBuild:
    """Export, convert and align both Bibles; with ``out``, also write them as a TSV with the header
    ``book ref en es`` (read back with ``OUT:en,es,book``). Stats: verse and pair counts and the
    export/convert seconds."""
    diatheke = ensure_sword(install)
    t0 = time.perf_counter()
    with subprocess.Popen(
        [diatheke, "-b", ES_MODULE, "-l", "en", "-k", EXPORT_RANGE], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as es_proc:  # both exports run at once
        en_text = export_module(diatheke, EN_MODULE)
        es_out, es_err = es_proc.communicate(timeout=600)
    if es_proc.returncode != 0 or not es_out.strip():
        raise DataError(
            f"{NAME}: diatheke could not export {ES_MODULE} (exit {es_proc.returncode}: "
            f"{es_err.decode('utf-8', 'replace').strip()[:300]})"
        )
    t1 = time.perf_counter()
    english = parse_export(en_text, keep_titles=True, drop_caps=False)
    spanish = parse_export(es_out.decode("utf-8", "replace"), keep_titles=True, drop_caps=True)
    pairs, stats = align(english, spanish)
    t2 = time.perf_counter()
    stats.update(
        export_seconds=round(t1 - t0, 2),
        convert_seconds=round(t2 - t1, 2),
        modules={"en": EN_MODULE, "es": ES_MODULE},
        license="Public Domain",
    )
    if out is not None:
        write_pairs_tsv(pairs, out, header=True, doc_column="book", origin_column="ref")
        stats["path"] = str(out)
    return BibleBuild(pairs, stats)
