"""The tiktoken fast path is chosen only when the BPE's ids rise in merge order (ranks = ids);
a tokenizer.json renumbered afterwards falls back to HF, says so in one line, and keeps HF's ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arlm.tokenizers import TokenizerConfig, build_tokenizer, load_tokenizer
from arlm.tokenizers.byte_level import token_to_bytes
from arlm.tokenizers.fast_encoders import TiktokenEncoder, rank_order_problem, select_encoder
from arlm.tokenizers.patterns import pattern_of

from .conftest import make_docs


@pytest.fixture(scope="module")
def trained(module_corpus, tmp_path_factory) -> Path:
    """tokenizer.json of a small byte-level BPE, as ``build_tokenizer`` writes it."""
    art = build_tokenizer(TokenizerConfig(kind="bpe", vocab_size=400), module_corpus, tmp_path_factory.mktemp("bpe"))
    return Path(art.path) / "tokenizer.json"


def _competing_merges(spec: dict) -> tuple[str, str, str]:
    """ASCII letters x, y, z (their own byte-level characters) with merges (x, y) before (y, z)
    and no token "xyz": on the piece "xyz" HF makes [xy, z], while a lowest-rank-first rule that
    ranks yz before xy makes [x, yz]."""
    vocab = spec["model"]["vocab"]
    pairs = [tuple(m) for m in spec["model"]["merges"]]
    singles = [(a, b) for a, b in pairs if len(a) == len(b) == 1 and (a + b).isascii() and (a + b).isalpha()]
    for x, y in singles:
        for y2, z in singles:
            if y2 == y and pairs.index((x, y)) < pairs.index((y, z)) and x + y + z not in vocab:
                return x, y, z
    raise AssertionError("the trained BPE has no two competing letter merges to renumber")


def _renumbered(spec: dict) -> tuple[dict, str]:
    """The same BPE with the ids of two competing merges' results swapped, and a piece they split
    differently: HF still applies the merges in list order (only the labels change), tiktoken
    with ranks = ids would not."""
    spec = json.loads(json.dumps(spec))
    vocab = spec["model"]["vocab"]
    x, y, z = _competing_merges(spec)
    vocab[x + y], vocab[y + z] = vocab[y + z], vocab[x + y]
    return spec, x + y + z


def _texts() -> list[str]:
    return make_docs(30, seed=7) + ["the model reads text", " naïve café 東京 🙂", "", "<|endoftext|> x"]


def test_a_trained_bpe_has_ids_in_merge_order_and_gets_tiktoken(trained, capsys) -> None:
    spec = json.loads(trained.read_text())
    added = {t["content"] for t in spec["added_tokens"]}
    plain = {t: i for t, i in spec["model"]["vocab"].items() if t not in added}
    assert rank_order_problem(spec["model"]["merges"], plain) is None
    assert load_tokenizer(trained).encoder.name == "tiktoken"
    assert capsys.readouterr().err == ""


def test_ids_out_of_merge_order_fall_back_to_hf_with_the_same_ids(trained, tmp_path, capsys) -> None:
    spec, piece = _renumbered(json.loads(trained.read_text()))
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    tok = load_tokenizer(path)
    err = capsys.readouterr().err.strip().splitlines()
    assert tok.encoder.name == "hf"
    assert len(err) == 1 and err[0].startswith("arlm: notice: BPE ids are not in merge order (merge ")
    texts = _texts() + [piece, f" {piece}{piece}"]
    assert [tok.encode(t) for t in texts] == [tok.reference_encode(t) for t in texts]
    assert tok.encode_batch(texts) == [tok.reference_encode(t) for t in texts]

    # what the check prevents: tiktoken on these ids gives other tokens than HF for some text
    added = {t["content"]: t["id"] for t in spec["added_tokens"]}
    ranks = {token_to_bytes(t): i for t, i in spec["model"]["vocab"].items() if t not in added}
    unchecked = TiktokenEncoder(ranks, added, pattern_of(spec["pre_tokenizer"]))
    assert unchecked.encode(piece) != tok.reference_encode(piece)
    assert tok.decode(tok.encode(piece)) == piece


def test_the_notice_goes_where_the_caller_says(trained) -> None:
    from tokenizers import Tokenizer as HFTokenizer

    hf = HFTokenizer.from_str(json.dumps(_renumbered(json.loads(trained.read_text()))[0]))
    heard: list[str] = []
    assert select_encoder(hf, on_notice=heard.append).name == "hf"
    assert len(heard) == 1 and "not in merge order" in heard[0]


@pytest.mark.parametrize(
    "merges, vocab, says",
    [
        ([["a", "b"], ["ab", "c"]], {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4}, None),
        ([["a", "b"], ["ab", "c"]], {"a": 0, "b": 1, "c": 2, "ab": 4, "abc": 3}, "not above"),
        (["a b", "ab c"], {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4}, None),  # the older "a b" form
        ([["a", "b"], ["a", "bc"]], {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4}, "not in the vocabulary"),
        ([["a", "b"], ["ab", "c"], ["a", "bc"]], {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 5, "abc": 4}, "again"),
        ([["a", "b"]], {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4}, "made by no merge"),
    ],
)
def test_rank_order_problem_names_the_first_broken_merge(merges, vocab, says) -> None:
    problem = rank_order_problem(merges, vocab)
    assert problem is None if says is None else says in problem
