"""One declaration per setting: TrainConfig's fields give the CLI options, the flow parameters
(the Prefect form) and the loop's config, with the same defaults and help (arlm.options)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import pytest

from arlm.errors import ConfigError
from arlm.training.config import TrainConfig

COMMANDS = ("pipeline", "train", "compare")


def _params(argv: list[str]):
    from arlm.cli.main import build_parser
    from arlm.cli.pipeline_cmds import params_from_args
    from arlm_flows.params import CompareParams, PipelineParams, TrainFlowParams

    args = build_parser().parse_args(argv)
    cls = {"pipeline": PipelineParams, "train": TrainFlowParams, "compare": CompareParams}[argv[0]]
    return params_from_args(cls, args)


def _subparser(command: str):
    from arlm.cli.main import build_parser

    parser = build_parser()
    sub = next(
        a for a in parser._actions if a.dest == "command" or hasattr(a, "choices") and command in (a.choices or {})
    )
    return sub.choices[command]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_train_field_is_an_option_with_the_library_default(command):
    from arlm_flows.params import PipelineParams

    lib = TrainConfig()
    cfg = _params([command]).train_config()
    schema = PipelineParams.model_json_schema()["properties"]
    options = {a.dest: a for a in _subparser(command)._actions}
    for f in dataclasses.fields(TrainConfig):
        if command == "compare" and f.name == "model":  # compare takes --models
            continue
        assert f.name in options, f"--{f.name} missing from `arlm {command}`"
        assert getattr(cfg, f.name) == getattr(lib, f.name), f.name
        default = getattr(lib, f.name)
        expected = list(default) if isinstance(default, tuple) else default
        assert schema[f.name].get("default") == expected, f.name
        assert schema[f.name]["description"] == f.metadata["help"], f.name
        assert f.metadata["help"] in options[f.name].help.replace("%%", "%"), f.name


def test_changing_one_default_in_train_config_changes_cli_help_and_flow_schema(tmp_path):
    """The declaration is the field: change its default and nothing else, in a fresh process."""
    script = textwrap.dedent("""
        import io, json, contextlib
        from arlm.training.config import TrainConfig
        TrainConfig.__dataclass_fields__["warmup_steps"].default = 37
        from arlm.cli.main import build_parser
        from arlm.cli.pipeline_cmds import params_from_args
        from arlm_flows.params import PipelineParams
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                build_parser().parse_args(["pipeline", "--help"])
            except SystemExit:
                pass
        params = params_from_args(PipelineParams, build_parser().parse_args(["pipeline"]))
        print(json.dumps({"help": out.getvalue(),
                          "schema": PipelineParams.model_json_schema()["properties"]["warmup_steps"]["default"],
                          "config": params.train_config().warmup_steps}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["schema"] == 37 and got["config"] == 37
    help_text = " ".join(got["help"].split())
    assert "Linear warm-up steps" in help_text and "(default: 37)" in help_text.rsplit("--warmup-steps N", 1)[1][:200]


def test_config_file_then_options_then_set(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("max_steps: 7\nlr: 0.003\nwarmup-steps: 5\nmodel_overrides: {n_layer: 2}\noptimizer: adamw\n")
    p = _params(
        [
            "pipeline",
            "--config",
            str(f),
            "--lr",
            "0.004",
            "--set",
            "model_overrides.n_head=2",
            "--set",
            "betas=[0.8, 0.9]",
            "--set",
            "max_seconds=none",
        ]
    )
    cfg = p.train_config()
    assert (cfg.max_steps, cfg.lr, cfg.warmup_steps, cfg.optimizer) == (7, 0.004, 5, "adamw")
    assert cfg.model_overrides == {"n_layer": 2, "n_head": 2} and cfg.betas == (0.8, 0.9)
    assert cfg.max_seconds is None
    # --set is applied last, over an option given on the command line
    assert _params(["train", "--lr", "0.004", "--set", "lr=0.005"]).train_config().lr == 0.005
    # fields of the ingest and tokenizer configs too
    p = _params(["compare", "--set", "vocab_size=300", "--tokenizer", "char", "--models", "gpt/tiny,rnn"])
    assert p.tokenizer_config().vocab_size == 300 and p.tokenizer_config().kind == "char"
    assert p.models == ["gpt/tiny", "rnn"]


def test_unknown_keys_are_refused_with_close_matches(tmp_path):
    with pytest.raises(ConfigError, match=r"--set: unknown parameter 'warmup_step'; did you mean warmup_steps"):
        _params(["pipeline", "--set", "warmup_step=3"])
    f = tmp_path / "bad.yaml"
    f.write_text("max_step: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown parameter 'max_step'; did you mean max_steps"):
        _params(["train", "--config", str(f)])
    f.write_text("lr: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: not valid YAML"):
        _params(["train", "--config", str(f)])
    with pytest.raises(ConfigError, match=r"--lr: .*number"):
        _params(["train", "--set", "lr=fast"])
    with pytest.raises(ConfigError, match=r"--set 'lr': expected KEY=VALUE"):
        _params(["train", "--set", "lr"])


def test_bad_config_file_exits_non_zero_before_any_work(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("warmup_stepz: 3\n")
    home = tmp_path / "home"
    proc = subprocess.run(
        [sys.executable, "-m", "arlm.cli.main", "--home", str(home), "pipeline", "--config", str(f)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "unknown parameter 'warmup_stepz'; did you mean warmup_steps" in proc.stderr
    assert not home.exists()


def test_models_presets_lists_every_kind_with_its_size(capsys):
    from arlm.cli.main import main
    from arlm.models.registry import PRESETS

    assert main(["models", "presets", "--json", "--vocab-size", "512"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {f"{k}/{p}" for k, presets in PRESETS.items() for p in presets}
    assert rows["gpt/small"]["params"] > rows["gpt/tiny"]["params"] > 0
    assert rows["ngram/bigram"]["params"] is None  # counted, not trained
    assert main(["models", "presets"]) == 0
    out = capsys.readouterr().out
    assert f"{TrainConfig().model} *" in out  # the default model is marked
