"""One set of defaults: the CLI, the flow parameters and TrainConfig agree (arlm.defaults)."""

from __future__ import annotations

import argparse

from arlm.defaults import DEFAULT_PIPELINE_LR, DEFAULT_PIPELINE_STEPS


def test_cli_flow_and_library_defaults_agree():
    from flows.params import PipelineParams

    from arlm.cli.pipeline_cmds import add_train_options
    from arlm.stages import make_train_config
    from arlm.training import TrainConfig

    parser = argparse.ArgumentParser()
    add_train_options(parser)
    args = parser.parse_args([])
    params = PipelineParams()
    lib = TrainConfig(max_steps=1)
    for name in ("seed", "optimizer", "model"):
        assert getattr(args, name) == getattr(params, name) == getattr(lib, name), name
    # a step budget by default, with no time cap: deterministic
    assert args.max_steps == params.max_steps == DEFAULT_PIPELINE_STEPS
    assert args.max_seconds is None and params.max_seconds is None
    assert args.resume == params.resume == "auto"
    assert args.learning_rate == params.learning_rate == DEFAULT_PIPELINE_LR
    cfg = make_train_config(params.model, max_steps=params.max_steps, max_seconds=params.max_seconds,
                            seed=params.seed, optimizer=params.optimizer)
    assert cfg.total_steps(64) == DEFAULT_PIPELINE_STEPS and cfg.max_seconds is None
    assert cfg.checkpoint_seconds == 60 and 0 < cfg.warmup_fraction <= 0.05
    assert parser.parse_args(["--max-steps", "none", "--max-seconds", "30"]).max_steps is None
