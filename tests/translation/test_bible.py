"""``bible-en-es``: the OSIS-to-text conversion (on markup as diatheke exports it), the committed
sample, and (slow, where Debian's SWORD packages are installed) the real build."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from arlm.translation.bible import BOOKS, EN_MODULE, ES_MODULE, fix_drop_cap, osis_to_text, parse_export
from arlm.translation.pairs import read_pairs, split_pairs

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bible-en-es-sample.tsv"

# Lines shaped like diatheke's default (raw OSIS) export of the two modules.
EN_EXPORT = "\n".join(
    [
        'Genesis 1:1: <w savlm="strong:H0430">In</w> <w savlm="strong:H0853">the</w> '
        '<w savlm="strong:H7225">beginning</w>, <w savlm="strong:H0430">God</w><note placement="foot" '
        'swordFootnote="1">The Hebrew word rendered “God” is “Elohim.”</note><w savlm="strong:H1254">created</w> '
        "<w>the</w> <w>heavens</w> <w>and</w> <w>the</w> <w>earth</w>.",
        '<title canonical="true" type="psalm">A Psalm by David.</title> <lg sID="gen1"/> <l level="1" sID="gen2"/>'
        'Psalms 3:1: Yahweh, how <w>my</w> adversaries <w>have</w> increased!<l eID="gen2" level="1"/>',
        '<title canonical="true" type="psalm">A Psalm by David.</title> <lg sID="gen1"/> <l level="1" sID="gen2"/>'
        "Psalms 3:2: <w>Many</w> <w>there</w> are.",
        '<title canonical="true" type="psalm">A Psalm by David.</title> <lg sID="gen1"/> <l level="1" sID="gen2"/>'
        "Psalms 4:1: <w>Answer</w> <w>me</w>.",
        '<lg eID="gen3"/> <speaker>Friends</speaker> <lg sID="gen4"/> Song of Solomon 1:4: Take <w>me</w> away.',
        "I John 1:1: <w>That</w> which was from the beginning.",
        "Revelation of John 22:21: <w>The</w> <w>grace</w> be with all the saints. Amen.  "
        '<chapter eID="Rev.22"/><div canonical="true" eID="gen9" osisID="Rev" type="book"/> '
        '<div sID="gen10" type="glossary"/> The following words used in the World English Bible &amp; more.',
        "Tobit 1:1: <w>The</w> book of the words of Tobit.",
        "(engWEB2015eb)",
    ]
)


def test_words_notes_titles_speakers_and_the_glossary():
    verses = parse_export(EN_EXPORT, keep_titles=True, drop_caps=False)
    assert verses[("Gen", 1, 1)] == "In the beginning, God created the heavens and the earth."
    assert verses[("Ps", 3, 1)] == "A Psalm by David. Yahweh, how my adversaries have increased!"
    assert verses[("Ps", 3, 2)] == "Many there are."  # the title diatheke repeats is not repeated here
    # a title of the next psalm that merely repeats the previous heading's markup (same sIDs) is a
    # leak too: Psalm 4's own title would carry new ids
    assert verses[("Ps", 4, 1)] == "Answer me."
    assert verses[("Song", 1, 4)] == "Take me away."
    assert verses[("1John", 1, 1)] == "That which was from the beginning."  # not John 1:1
    assert verses[("Rev", 22, 21)] == "The grace be with all the saints. Amen."
    assert ("Tob", 1, 1) not in verses and len(verses) == 7  # books without a Spanish side are left out


def test_markup_to_text_details():
    assert osis_to_text('<w>a</w><w>b</w> &amp; <transChange type="added">c</transChange>') == "a b & c"
    assert osis_to_text('<w>word</w> , <note n="1">x <w>y</w></note>next') == "word, next"
    assert osis_to_text('line one<l eID="1"/><l sID="2"/>line two') == "line one line two"
    assert osis_to_text("<w>Jehová</w><w>Dios</w>") == "Jehová Dios"


def test_spanish_drop_capitals():
    assert fix_drop_cap("EN el principio crió Dios") == "En el principio crió Dios"
    assert fix_drop_cap("¡OH Jehová, cuánto") == "¡Oh Jehová, cuánto"
    assert (
        fix_drop_cap("Al Músico principal: Salmo de David. TE alabaré")
        == "Al Músico principal: Salmo de David. Te alabaré"
    )
    assert fix_drop_cap("Y dijo Dios") == "Y dijo Dios"
    es = "Genesis 1:1: <w>EN el principio</w> <w>crió</w> <w>Dios</w>.\nGenesis 1:2: <w>Y LA tierra</w>."
    verses = parse_export(es, keep_titles=True, drop_caps=True)
    assert verses[("Gen", 1, 1)] == "En el principio crió Dios."
    assert verses[("Gen", 1, 2)] == "Y LA tierra."  # only a chapter's first verse


def test_the_committed_sample():
    pairs = read_pairs(f"{FIXTURE}:en,es,book")
    assert 200 <= len(pairs) <= 400
    assert set(pairs.documents) <= {osis for osis, _ in BOOKS} and len(pairs.documents) >= 20
    text = " ".join(pairs.src + pairs.tgt)
    assert "Godcreated" not in text and "Glossary" not in text and "<" not in text
    assert not re.search(r"\b[a-z]+[A-Z][a-z]+\b", " ".join(pairs.src))  # no words glued across tags
    assert "crió" in text and pairs.src[0] == "In the beginning, God created the heavens and the earth."
    assert pairs.tgt[0] == "En el principio crió Dios los cielos y la tierra."


def _sword_installed() -> bool:
    if not shutil.which("diatheke"):
        return False
    listing = subprocess.run(["diatheke", "-b", "system", "-k", "modulelist"], capture_output=True, text=True).stdout
    return EN_MODULE in listing and ES_MODULE in listing


@pytest.mark.slow
@pytest.mark.skipif(
    not _sword_installed(), reason="Debian's diatheke, sword-text-web and sword-text-sparv are not installed"
)
def test_real_build(tmp_path):
    from arlm.translation.bible import build_bible_en_es

    built = build_bible_en_es(tmp_path / "bible-en-es.tsv", install=False)
    stats = built.stats
    assert 30_500 <= stats["pairs"] <= 31_102 and stats["books"] == 66
    pairs = read_pairs(f"{tmp_path / 'bible-en-es.tsv'}:en,es,book")
    assert len(pairs) == stats["pairs"]
    splits, split_stats = split_pairs(pairs, 0.05, 0.05, seed=0)
    assert split_stats["by"] == "document"
    held_out = set(splits["val"].doc) | set(splits["test"].doc)
    assert held_out and not held_out & set(splits["train"].doc)
    assert 0.02 * len(pairs) <= len(splits["test"]) <= 0.08 * len(pairs)
    text = " ".join(pairs.src)
    assert "Godcreated" not in text and "The following words used in the World English Bible" not in text
    assert pairs.src[0] == "In the beginning, God created the heavens and the earth."
