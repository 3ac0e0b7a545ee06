"""--task translation in the one declaration of settings: the pipeline flow's Prefect form has a
`task` field, the pair settings are PairIngestConfig's (same defaults and help), and the CLI refuses
a model of the wrong family, or no parallel corpus, in a second and before any work."""

from __future__ import annotations

import dataclasses

import pytest

from arlm.errors import ConfigError
from arlm.translation.lake import PairIngestConfig


def _params(argv: list[str]):
    from arlm.cli.main import build_parser
    from arlm.cli.pipeline_cmds import params_from_args
    from arlm_flows.params import PipelineParams

    return params_from_args(PipelineParams, build_parser().parse_args(argv))


def test_the_pipeline_flow_form_has_task_and_the_pair_settings():
    from prefect.utilities.callables import parameter_schema

    from arlm_flows.params import PAIR_FIELDS, PAIR_RENAME
    from arlm_flows.pipeline import pipeline

    schema = parameter_schema(pipeline).model_dump()
    props = schema["definitions"]["PipelineParams"]["properties"]
    assert props["task"]["enum"] == ["language-model", "translation"] and props["task"]["default"] == "language-model"
    fields = {f.name: f for f in dataclasses.fields(PairIngestConfig)}
    for name in PAIR_FIELDS:
        prop = props[PAIR_RENAME.get(name, name)]
        assert prop["default"] == fields[name].default and prop["description"] == fields[name].metadata["help"], name
    assert props["tokenizer_sides"]["enum"] == ["joint", "separate"]


def test_cli_builds_the_pair_config_and_the_seq2seq_default():
    p = _params(
        ["pipeline", "--task", "translation", "--corpus", "x.tsv", "--src-lang", "de", "--pair-max-chars", "300"]
    )
    cfg = p.pair_ingest_config()
    assert (cfg.corpus, cfg.src_lang, cfg.tgt_lang, cfg.max_chars) == ("x.tsv", "de", "es", 300)
    assert p.translation_train_config().model == "transformer-seq2seq/tiny"
    assert _params(
        ["pipeline", "--task", "translation", "--model", "lstm-attn-seq2seq/small"]
    ).translation_train_config().model == ("lstm-attn-seq2seq/small")


def test_wrong_family_and_missing_corpus_are_refused_before_any_work(tmp_path):
    from arlm.cli.pipeline_cmds import preflight_corpus, preflight_train

    home = ["--home", str(tmp_path / "home")]
    p = _params([*home, "pipeline", "--task", "translation", "--corpus", "bible-en-es", "--model", "gpt/small"])
    with pytest.raises(ConfigError, match="'gpt/small' is a language model"):
        preflight_train(p, [p.model])
    p = _params([*home, "pipeline", "--model", "transformer-seq2seq"])
    with pytest.raises(ConfigError, match="add --task translation"):
        preflight_train(p, [p.model])
    p = _params([*home, "pipeline", "--task", "translation"])
    with pytest.raises(ConfigError, match="needs a parallel corpus"):
        preflight_corpus(p)
    p = _params([*home, "pipeline", "--task", "translation", "--corpus", str(tmp_path / "nope.tsv")])
    with pytest.raises(Exception, match="no such file"):
        preflight_corpus(p)
    assert not (tmp_path / "home").exists()
