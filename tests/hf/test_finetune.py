"""Fine-tuning through the one training loop: full and LoRA (peft) lower the validation loss of an
imported GPT-2 on new text; LoRA leaves the base tensors bit-identical, trains under 1% of the
parameters, merges into a plain model computing the same, and resumes bit for bit. End to end:
`arlm finetune` (Prefect flow, Ray Train) registers a version whose lineage shows its base model
and both corpora."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from arlm.errors import ConfigError
from arlm.training import TrainConfig, train
from hf.conftest import registry_state, token_dataset
from integration.conftest import local_ray, prefect_api  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def base(tmp_path_factory, gpt2_dir):
    """(arlm model folder of the imported tiny GPT-2, its config)."""
    from arlm.hf.gpt2_import import load_hf_model
    from arlm.models import save_model

    model, _, _ = load_hf_model(gpt2_dir)
    d = tmp_path_factory.mktemp("base") / "model"
    save_model(model, d)
    return d, model.config


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, bpe):
    return token_dataset(tmp_path_factory.mktemp("tokens") / "ds", bpe).path


def config(base, **changes) -> TrainConfig:
    model_dir, cfg = base
    overrides = {k: v for k, v in cfg.to_dict().items() if k not in ("vocab_size", "block_size")}
    values = dict(
        model="gpt",
        model_overrides=overrides,
        block_size=cfg.block_size,
        init_from=str(model_dir),
        batch_size=8,
        lr=3e-3,
        min_lr=3e-4,
        warmup_steps=2,
        max_steps=24,
        eval_interval=8,
        eval_batches=2,
        checkpoint_interval=8,
        log_interval=4,
        seed=3,
        optimizer="adamw",
        device="cpu",
        compile=False,
    )
    values.update(changes)
    return TrainConfig(**values)


def val_loss(model_dir, dataset) -> float:
    """Exact loss of a model folder on the whole validation split."""
    from arlm.evaluation import evaluate_tokens
    from arlm.models import load_model
    from arlm.tokenizers import TokenDataset

    ds = TokenDataset.open(dataset)
    model = load_model(model_dir)
    return evaluate_tokens(
        model, ds.tokens("val"), ds.n_bytes("val"), block_size=model.config.block_size, batch_size=16
    )["loss"]


def test_full_fine_tuning_lowers_the_validation_loss(base, dataset, tmp_path):
    before = val_loss(base[0], dataset)
    result = train(config(base, lr=1e-3), dataset, tmp_path / "full")
    after = val_loss(result.latest_checkpoint, dataset)
    assert after < before - 0.2, (before, after)


def test_lora_trains_adapters_only_and_merges_into_the_same_function(base, dataset, tmp_path):
    from arlm.hf.adapters import inject_lora, merge_checkpoint, trainable_counts
    from arlm.models import build_model, load_model

    cfg = config(base, lora_rank=2)
    result = train(cfg, dataset, tmp_path / "lora")

    # base tensors bit-identical; only adapters added
    base_sd = load_file(str(base[0] / "model.safetensors"))
    tuned = load_file(str(result.latest_checkpoint / "model.safetensors"))
    adapters = {k for k in tuned if ".lora_" in k}
    assert adapters and all(".c_attn." in k for k in adapters)
    for k, v in tuned.items():
        if k in adapters:
            continue
        assert torch.equal(v, base_sd[k.replace(".base_layer", "")]), k
    # under 1% of the parameters trained
    model = build_model("gpt", base[1].vocab_size, base[1].block_size, **cfg.model_overrides)
    trainable, total = trainable_counts(inject_lora(model, 2))
    assert 0 < trainable / total < 0.01, (trainable, total)
    assert sum(tuned[k].numel() for k in adapters) == trainable

    # the merged plain model computes what base + adapters compute
    merged = merge_checkpoint(result.latest_checkpoint, tmp_path / "merged")
    before, after = val_loss(base[0], dataset), val_loss(merged, dataset)
    assert after < before - 0.1, (before, after)
    plain = load_model(merged)
    assert not any(".lora_" in k or "base_layer" in k for k in plain.state_dict())
    adapted = inject_lora(build_model("gpt", base[1].vocab_size, base[1].block_size, **cfg.model_overrides), 2)
    adapted.load_state_dict(tuned, strict=False)
    adapted.eval()
    ids = torch.randint(0, base[1].vocab_size, (2, base[1].block_size))
    with torch.no_grad():
        assert (plain(ids)[0] - adapted(ids)[0]).abs().max().item() < 1e-5


class Stop(Exception):
    pass


def test_lora_run_stopped_and_resumed_is_bit_identical(base, dataset, tmp_path):
    cfg = config(base, lora_rank=2, max_steps=12, checkpoint_interval=6, eval_interval=4)
    whole = train(cfg, dataset, tmp_path / "whole")

    def crash_after_step_6(metrics, checkpoint_dir):
        if metrics["kind"] == "checkpoint" and metrics["step"] == 6:
            raise Stop()

    with pytest.raises(Stop):
        train(cfg, dataset, tmp_path / "resumed", reporter=crash_after_step_6)
    resumed = train(cfg, dataset, tmp_path / "resumed")
    assert resumed.restarts == 1 and resumed.final_val_loss == whole.final_val_loss
    for name in ("model.safetensors", "optimizer.safetensors"):
        a = load_file(str(whole.latest_checkpoint / name))
        b = load_file(str(resumed.latest_checkpoint / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_lora_rank_of_zero_or_below_is_refused(base, dataset, tmp_path, home, capsys):
    from arlm.cli.main import main
    from arlm.hf.adapters import check_rank

    for rank in (0, -3):
        with pytest.raises(ConfigError, match=f"lora_rank must be a positive integer, got {rank}"):
            config(base, lora_rank=rank).validate(dataset)
        with pytest.raises(ConfigError, match="LoRA rank must be a positive integer"):
            check_rank(rank)
    with pytest.raises(ConfigError, match="lora_rank needs init_from"):
        config(base, lora_rank=2, init_from=None).validate(dataset)
    before = registry_state(home)
    code = main(["finetune", "--from", str(base[0]), "--corpus", str(tmp_path), "--name", "ft", "--lora-rank", "0"])
    assert code == 2
    assert "lora_rank must be a positive integer, got 0" in capsys.readouterr().err
    assert registry_state(home) == before


# -- end to end: CLI -> Prefect flow -> Ray Train -> registry -> catalog lineage ---------------------
def _prose(folder, words: list[str], seed: int, n_docs: int = 30):
    import random

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_docs):
        sents = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 9))).capitalize() + "." for _ in range(80)]
        (folder / f"doc{i:03d}.txt").write_text(" ".join(sents) + "\n", encoding="utf-8")
    return folder


@pytest.mark.slow
def test_finetune_command_registers_a_version_whose_lineage_shows_base_and_both_corpora(
    tmp_path,
    home,
    prefect_api,  # noqa: F811  (a fixture imported above)
    local_ray,  # noqa: F811
    capsys,
):
    from arlm import stages
    from arlm.catalog import Catalog
    from arlm.cli.main import main
    from arlm.training.ray_launcher import RayOptions
    from testkit import build_token_dataset, write_prose_corpus

    quiet = lambda m: None  # noqa: E731
    corpus_a = write_prose_corpus(tmp_path / "corpus-a")
    ds_a = build_token_dataset(home, corpus_a, vocab_size=512)
    cfg = TrainConfig(
        model="gpt/tiny",
        max_steps=60,
        batch_size=16,
        block_size=64,
        lr=3e-3,
        optimizer="adamw",
        eval_interval=30,
        eval_batches=4,
        device="cpu",
    )
    summary = stages.train_stage(cfg, ds_a, home, RayOptions(), run_name="base", progress=quiet)
    metrics = stages.evaluate_stage(summary["model_dir"], ds_a, home, progress=quiet)
    reg = stages.register_stage(summary, metrics, "base", home, progress=quiet)
    assert reg["promoted"]

    corpus_b = _prose(
        tmp_path / "corpus-b",
        ["river", "stone", "bridge", "water", "under", "the", "old", "slowly", "flows", "a", "green", "field"],
        seed=5,
    )
    code = main(
        [
            "finetune",
            "--from",
            "models:/base@champion",
            "--corpus",
            str(corpus_b),
            "--name",
            "base-ft",
            "--max-steps",
            "60",
            "--lr",
            "3e-3",
            "--batch-size",
            "16",
            "--eval-interval",
            "30",
            "--eval-batches",
            "4",
            "--device",
            "cpu",
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(out)
    assert result["method"] == "full" and result["registration"]["promoted"], result["registration"]
    assert result["metrics"]["bits_per_byte"] < result["base"]["metrics"]["bits_per_byte"]

    assert main(["catalog", "lineage", "models:/base-ft@champion"]) == 0
    text = capsys.readouterr().out
    assert "fine-tuned (all weights) from models:/base/1" in text
    assert str(corpus_b) in text and str(corpus_a) in text
    lin = Catalog(home.catalog_path).lineage("models:/base-ft@champion")
    assert lin["base"]["model"]["name"] == "base" and lin["missing"] == []
    assert not math.isnan(lin["origin"]["details"]["base_test_bits_per_byte"])


def test_a_hugging_face_folder_as_base_and_what_a_fine_tuning_may_change(gpt2_dir, home):
    from arlm.hf.stages import finetune_config, resolve_base
    from arlm.models import load_model
    from arlm.tokenizers import TokenizerArtifact

    base = resolve_base(str(gpt2_dir), home)
    assert base.name is None and base.label == str(gpt2_dir) and base.kind == "gpt"
    tok = TokenizerArtifact.open(home.tokenizers / base.tokenizer_id)
    assert tok.vocab_size == 2000 and tok.eot_id == 0
    assert load_model(base.model_dir).config.activation == "gelu_tanh"
    assert resolve_base(str(gpt2_dir), home).model_dir == base.model_dir  # content-addressed: written once

    plain = TrainConfig(max_steps=5)
    cfg = finetune_config(plain.replace(model_overrides={"dropout": 0.0}), base, 2000)
    assert cfg.init_from == str(base.model_dir) and cfg.block_size == 64 and cfg.model_overrides["dropout"] == 0.0
    with pytest.raises(ConfigError, match="may only set dropout, got n_layer"):
        finetune_config(plain.replace(model_overrides={"n_layer": 6}), base, 2000)
    with pytest.raises(ConfigError, match="--block-size 32 cannot change it"):
        finetune_config(plain.replace(block_size=32), base, 2000)
    with pytest.raises(ConfigError, match="LoRA rank must be a positive integer"):
        finetune_config(plain.replace(lora_rank=0, init_from="x"), base, 2000)
