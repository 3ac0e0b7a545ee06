"""``arlm translate`` and ``arlm evaluate --pairs`` end to end on a real MLflow store, with the one-line
errors for a source over the model's limit, bad files, and a model of the wrong family given to a
command (``arlm generate``/``evaluate`` with a translator, ``translate``/``evaluate --pairs`` with a
language model)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from arlm.cli.main import main
from arlm.translation.decode import DecodeConfig
from translation.test_translation_eval import PAIRS_SPEC, pair_home, tiny_lm_dir, tiny_model_dir

TR = "models:/tr-cli@champion"
LM = "models:/lm-cli@champion"
SOURCES = ["In the beginning, God created the heavens and the earth.", "God saw the light, and saw that it was good."]
REFERENCES = [
    "En el principio crió Dios los cielos y la tierra.",
    "Y vió Dios que la luz era buena.",
]


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory):
    from arlm.registry import log_model, register_with_gate

    root = tmp_path_factory.mktemp("cli") / "arlm-home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARLM_HOME", str(root))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        hp = pair_home(root)
        models = tmp_path_factory.mktemp("models")
        tr = log_model(tiny_model_dir(models / "tr", hp["vocab_size"]), hp["tokenizer_dir"], name="tr-cli")
        register_with_gate(tr.model_uri, "tr-cli", 10.0, "c:test", unigram_bpb=1.0, metric="bleu")
        lm = log_model(tiny_lm_dir(models / "lm", hp["vocab_size"]), hp["tokenizer_dir"], name="lm-cli")
        register_with_gate(lm.model_uri, "lm-cli", 3.0, "d:test")
        yield hp


@pytest.fixture(scope="module")
def translator(cli_home):
    from arlm.registry.resolve import load_translator

    return load_translator(TR)


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_translate_text_file_and_stdin(cli_home, translator, capsys, tmp_path, monkeypatch):
    expected = translator.translate(SOURCES, DecodeConfig(num_beams=2))
    code, out, err = _run(capsys, "translate", "--model", TR, "--num-beams", "2", SOURCES[0])
    assert code == 0 and out == expected[0] + "\n", err
    default = translator.translate(SOURCES[:1], DecodeConfig(num_beams=4))[0]
    assert _run(capsys, "translate", "--model", TR, SOURCES[0])[1] == default + "\n"  # 4 beams unless told

    f = tmp_path / "in.txt"
    f.write_text(f"{SOURCES[0]}\n\n{SOURCES[1]}\r\n", encoding="utf-8")
    code, out, err = _run(capsys, "translate", "--model", TR, "--num-beams", "2", "--input-file", str(f))
    flat = [t.replace("\n", " ").replace("\r", " ") for t in expected]
    assert code == 0 and out.split("\n") == [flat[0], "", flat[1], ""], err  # a blank line stays blank

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SOURCES[1].encode("utf-8"))))
    code, out, _ = _run(capsys, "translate", "--model", TR, "--num-beams", "2", "--input-file", "-")
    assert code == 0 and out == flat[1] + "\n"


def test_a_source_over_the_limit_is_refused_with_the_limit_and_line_or_truncated(cli_home, capsys, tmp_path):
    long = " ".join(SOURCES * 30)
    f = tmp_path / "long.txt"
    f.write_text(f"{SOURCES[0]}\n{long}\n", encoding="utf-8")
    code, out, err = _run(capsys, "translate", "--model", TR, "--num-beams", "1", "--input-file", str(f))
    assert code == 2 and out == ""  # nothing printed: every line is checked first
    assert f"{f}:2: " in err and "more than this model's limit of 159 source tokens" in err and "--truncate" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, out, err = _run(capsys, "translate", "--model", TR, "--num-beams", "1", "--truncate", "--input-file", str(f))
    assert code == 0 and len(out.split("\n")) == 3, err
    code, _, err = _run(capsys, "translate", "--model", TR, long)
    assert code == 2 and "TEXT: " in err and "limit of 159" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give the TEXT to translate or --input-file FILE"),
        (["--num-beams", "0", "x"], "num_beams must be an integer >= 1"),
        (["--max-len-a", "-1", "x"], "max_len_a"),
        (["   "], "TEXT is empty"),
        (["--input-file", "/nonexistent/f.txt"], "/nonexistent/f.txt: no such file"),
    ],
)
def test_translate_usage_errors_are_one_line(cli_home, capsys, argv, message):
    code, out, err = _run(capsys, "translate", "--model", TR, *argv)
    assert code == 2 and message in err and out == "" and "Traceback" not in err


def test_translate_refuses_a_file_that_is_not_utf8(cli_home, capsys, tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes("first line\nse\xf1or\n".encode("latin-1"))
    code, _, err = _run(capsys, "translate", "--model", TR, "--input-file", str(f))
    assert code == 2 and f"{f}:2: not UTF-8 text" in err


def test_evaluate_pairs_prints_and_returns_every_score(cli_home, translator, capsys, tmp_path):
    from arlm.translation.evaluate import evaluate_pairs

    f = tmp_path / "pairs.tsv"
    f.write_text("".join(f"{s}\t{t}\n" for s, t in zip(SOURCES, REFERENCES)), encoding="utf-8")
    code, out, err = _run(capsys, "evaluate", "--model", TR, "--pairs", str(f), "--num-beams", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    m = report["metrics"]
    expected = evaluate_pairs(translator, SOURCES, REFERENCES, num_beams=2)
    for key in ("bleu", "chrf", "chrf_pp", "rouge_l", "loss", "perplexity", "copy_bleu", "copy_chrf"):
        assert m[key] == pytest.approx(expected[key]), key
    for key in ("bleu_signature", "chrf_signature", "chrf_pp_signature"):
        assert m[key] == expected[key] and m[key].startswith("nrefs:1|")
    assert m["n_pairs"] == 2 and report["translations"][0]["translation"] == expected.hypotheses[0]

    # every SPEC form of read_pairs: here the fixture's header row, first 3 pairs, text report
    code, out, err = _run(
        capsys,
        "evaluate",
        "--model",
        TR,
        "--pairs",
        PAIRS_SPEC,
        "--num-beams",
        "1",
        "--max-pairs",
        "3",
        "--samples",
        "1",
    )
    assert code == 0, err
    assert "BLEU" in out and "copy-source baseline" in out and "perplexity" in out and "nrefs:1|" in out
    assert "pairs 3 " in out and out.count("\n  > ") == 1

    bad = tmp_path / "bad.tsv"
    bad.write_text(f"{SOURCES[0]}\t{REFERENCES[0]}\none\ttwo\tthree\n", encoding="utf-8")
    code, out, err = _run(capsys, "evaluate", "--model", TR, "--pairs", str(bad))
    assert code == 2 and f"{bad}: line 2 has 3 tab-separated columns" in err and out == ""


def test_each_command_refuses_the_other_family_in_one_line(cli_home, capsys, tmp_path):
    f = tmp_path / "pairs.tsv"
    f.write_text(f"{SOURCES[0]}\t{REFERENCES[0]}\n", encoding="utf-8")
    cases = [
        (["generate", "--model", TR, "hello"], "is a translation model (transformer-seq2seq), not a language model"),
        (["evaluate", "--model", TR], "--pairs FILE.tsv"),
        (["evaluate", "--model", TR, "--text-file", str(f)], "is a translation model"),
        (["translate", "--model", LM, "hello"], "is a language model (gpt), not a translation model"),
        (["evaluate", "--model", LM, "--pairs", str(f)], "is a language model (gpt)"),
        (["evaluate", "--model", LM, "--num-beams", "2"], "--num-beams: only with --pairs"),
    ]
    for argv, message in cases:
        code, out, err = _run(capsys, *argv)
        assert code == 2 and message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_help_documents_every_option(capsys):
    for command, options in (
        (
            "translate",
            (
                "--model",
                "--input-file",
                "--num-beams",
                "--length-penalty",
                "--max-len-a",
                "--max-len-b",
                "--truncate",
                "--batch-size",
            ),
        ),
        ("evaluate", ("--pairs", "--num-beams", "--max-pairs", "--json", "--samples")),
    ):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        for option in options:
            assert option in text, (command, option)
    assert "models:/arlm-translator@champion" in _help_of(capsys, "translate").replace(
        "- ", "-"
    )  # argparse wraps at hyphens
    import argparse

    from arlm.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("translate", "evaluate"):
        for action in sub.choices[command]._actions:
            assert action.help, (command, action.option_strings or action.dest)


def _help_of(capsys, command: str) -> str:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return " ".join(capsys.readouterr().out.split())
