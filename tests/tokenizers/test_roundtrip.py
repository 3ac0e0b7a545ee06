"""Every kind round-trips any Unicode text; the tiktoken path gives HF's ids exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arlm.tokenizers import EOT, PAD, TokenizerConfig, build_tokenizer, load_tokenizer

from .conftest import WORDS

KINDS = ("bpe", "bpe-gpt2", "char", "bytes")
CONFIGS = {
    "bpe": TokenizerConfig(kind="bpe", vocab_size=600),
    "bpe-gpt2": TokenizerConfig(kind="bpe", vocab_size=600, pattern="gpt2"),
    "char": TokenizerConfig(kind="char"),
    "bytes": TokenizerConfig(kind="bytes"),
}

# Arbitrary Unicode (hypothesis excludes lone surrogates, which UTF-8 cannot hold), plus text
# salted with the pieces that stress the tokenizers: specials, whitespace runs, code, multi-byte.
SALT = st.sampled_from(
    list(WORDS)
    + [" " + w for w in WORDS]
    + [
        EOT,
        PAD,
        "<|",
        "|>",
        "\n\n",
        "    ",
        " \t",
        "\r\n",
        "def ",
        "'s",
        "'ll",
        "éé",
        "東京",
        "🙂",
        "\u200d",
        "\x00",
        "<0x41>",
        "  x",
        "123",
        " 45",
    ]
)
TEXT = st.one_of(st.text(), st.lists(st.one_of(SALT, st.text(max_size=5)), max_size=20).map("".join))


@pytest.fixture(scope="module")
def tokenizers_by_kind(module_corpus, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("tokenizers")
    return {k: load_tokenizer(build_tokenizer(cfg, module_corpus, out).path) for k, cfg in CONFIGS.items()}


def test_fast_encoder_chosen_per_kind(tokenizers_by_kind) -> None:
    assert tokenizers_by_kind["bpe"].encoder.name == "tiktoken"
    assert tokenizers_by_kind["bpe-gpt2"].encoder.name == "tiktoken"
    assert tokenizers_by_kind["bytes"].encoder.name == "bytes"
    assert tokenizers_by_kind["char"].encoder.name == "char-table"


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT)
def test_roundtrip_and_same_ids_as_hf(tokenizers_by_kind, kind: str, text: str) -> None:
    tok = tokenizers_by_kind[kind]
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert ids == tok.reference_encode(text)
    assert tok.encode_numpy(text).tolist() == ids
    # specials inside text are plain text on both paths: never the special ids
    assert tok.eot_id not in ids and tok.pad_id not in ids


@pytest.mark.parametrize("kind", KINDS)
def test_specials_are_ids_0_and_1_and_decode_to_their_text(tokenizers_by_kind, kind: str) -> None:
    tok = tokenizers_by_kind[kind]
    assert (tok.eot_id, tok.pad_id) == (0, 1)
    assert tok.encode(EOT) == tok.reference_encode(EOT) and tok.eot_id not in tok.encode(EOT)
    assert tok.decode([tok.eot_id]) == EOT and tok.decode([tok.pad_id]) == PAD
    tokens, lengths = tok.encode_documents(["ab", "", "c"])
    assert lengths.sum() == len(tokens) and tokens[lengths.cumsum() - 1].tolist() == [tok.eot_id] * 3


def test_bpe_learns_merges_and_bytes_is_one_token_per_byte(tokenizers_by_kind) -> None:
    text = "the model reads text"
    assert len(tokenizers_by_kind["bpe"].encode(text)) < len(text) / 2
    assert len(tokenizers_by_kind["bytes"].encode("é🙂")) == len("é🙂".encode())
    assert tokenizers_by_kind["bytes"].vocab_size == 258


def test_char_falls_back_to_bytes_for_unseen_characters(tokenizers_by_kind) -> None:
    tok = tokenizers_by_kind["char"]
    assert len(tok.encode("the")) == 3  # seen characters: one token each
    unseen = "\U0001f99c"  # not in the corpus: its 4 UTF-8 bytes
    assert [tok.token_bytes(i) for i in tok.encode(unseen)] == [bytes([b]) for b in unseen.encode()]


def test_pieces_concatenate_to_the_text(tokenizers_by_kind) -> None:
    text = "def f(x):\n    return 'naïve 🙂'"
    for tok in tokenizers_by_kind.values():
        assert b"".join(b for _, b in tok.pieces(text)) == text.encode()


def test_load_from_bare_json_infers_kind(tokenizers_by_kind, tmp_path: Path) -> None:
    for kind, tok in tokenizers_by_kind.items():
        p = tmp_path / f"{kind}.json"
        p.write_text(tok.to_json_str(), encoding="utf-8")
        again = load_tokenizer(p)
        assert (
            again.kind == kind.split("-")[0]
            and again.encoder.name == tok.encoder.name
            and again.encode("héllo wörld") == tok.encode("héllo wörld")
        )


def test_decode_rejects_out_of_range_ids(tokenizers_by_kind) -> None:
    from arlm.errors import DataError

    tok = tokenizers_by_kind["bpe"]
    with pytest.raises(DataError, match="out of range"):
        tok.decode([tok.vocab_size])


def test_patterns_cut_whitespace_runs_differently(tokenizers_by_kind) -> None:
    text = "x\n        return the model"
    fast = [b for _, b in tokenizers_by_kind["bpe"].pieces(text)]
    gpt2 = [b for _, b in tokenizers_by_kind["bpe-gpt2"].pieces(text)]
    assert b"".join(fast) == b"".join(gpt2) == text.encode()

    def token_starting_return(pieces: list[bytes]) -> bytes:
        return next(b for b in pieces if b.lstrip(b" ").startswith(b"r"))

    assert token_starting_return(fast).startswith(b"r")  # the indentation run is its own piece
    assert token_starting_return(gpt2).startswith(b" r")  # gpt2 glues the run's last space to the word


@pytest.mark.parametrize("pattern", ["fast", "gpt2"])
def test_tiktoken_matches_hf_on_real_code_with_many_merges(pattern: str, tmp_path: Path) -> None:
    """A bigger vocabulary trained on real Python source: merges of merges, long pieces."""
    import sysconfig

    from .conftest import write_corpus

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [p.read_text(encoding="utf-8") for p in sorted(stdlib.glob("[a-f]*.py"))[:40]]
    corpus = write_corpus(tmp_path / "lake", {"train": texts})
    tok = load_tokenizer(build_tokenizer(TokenizerConfig(vocab_size=3000, pattern=pattern), corpus, tmp_path).path)
    assert tok.encoder.name == "tiktoken" and tok.vocab_size > 2500
    hf = [e.ids for e in tok.hf.encode_batch(texts, add_special_tokens=False)]
    assert [tok.encode(t) for t in texts] == hf


def test_foreign_tokenizer_json_falls_back_to_hf(tokenizers_by_kind, tmp_path: Path) -> None:
    """A tokenizer.json the fast encoders cannot express (here: a normalizer) is encoded by HF itself."""
    import json

    spec = json.loads(tokenizers_by_kind["bpe"].to_json_str())
    spec["normalizer"] = {"type": "Lowercase"}
    p = tmp_path / "tokenizer.json"
    p.write_text(json.dumps(spec), encoding="utf-8")
    tok = load_tokenizer(p)
    assert tok.encoder.name == "hf"
    assert tok.encode("The MODEL") == tokenizers_by_kind["bpe"].encode("the model")
    assert tok.encode_batch(["The", "MODEL"]) == [tok.encode("The"), tok.encode("MODEL")]


@pytest.mark.parametrize("kind", KINDS)
def test_encode_batch_matches_encode(tokenizers_by_kind, kind: str) -> None:
    tok = tokenizers_by_kind[kind]
    texts = ["the model reads", "", "東京 🙂 <|endoftext|>", "    return x\n"]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]
