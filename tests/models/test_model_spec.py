"""Malformed model specs (``--model gpt/``...) are refused with the valid kinds/presets (issue 12)."""

from __future__ import annotations

import pytest

from arlm.errors import ConfigError
from arlm.models.registry import parse_spec


@pytest.mark.parametrize(
    "spec, match",
    [
        (
            "gpt/",
            (
                r"model spec 'gpt/' has an empty preset: give gpt/PRESET with PRESET one of tiny, small, "
                r"baby, gpt2, or gpt alone for gpt/tiny"
            ),
        ),
        ("/tiny", r"model spec '/tiny' has no kind: give KIND\[/PRESET\]; kinds: ngram, rnn, .*gpt"),
        ("gpt/tiny/x", r"unknown preset 'tiny/x' for model kind 'gpt' \(spec 'gpt/tiny/x'\); valid presets: tiny"),
        ("gpt//", r"unknown preset '/' for model kind 'gpt'"),
        ("", r"model spec must be KIND\[/PRESET\]"),
        ("transformer", r"unknown model kind 'transformer'; valid kinds: ngram, rnn"),
    ],
)
def test_malformed_specs_are_refused(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_spec(spec)


def test_good_specs():
    assert parse_spec("gpt") == ("gpt", "tiny")
    assert parse_spec(" gpt/baby ") == ("gpt", "baby")
    assert parse_spec("lstm-attn/small") == ("lstm-attn", "small")


def test_pipeline_cli_refuses_an_empty_preset_in_one_line(home, tmp_path, capsys):
    from arlm.cli.main import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("some text\n" * 50)
    code = main(["--home", str(home.root), "pipeline", "--model", "gpt/", "--corpus", str(corpus)])
    err = capsys.readouterr().err
    assert code == 2 and err.splitlines() == [
        (
            "arlm: error: model spec 'gpt/' has an empty preset: give gpt/PRESET with PRESET one of tiny, "
            "small, baby, gpt2, or gpt alone for gpt/tiny"
        )
    ]
    assert not any(home.lake.iterdir())
