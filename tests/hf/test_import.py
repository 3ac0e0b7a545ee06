"""Import of Hugging Face GPT-2 checkpoints: same function as transformers, clear refusals that
change nothing, registration as version 1 with the tokenizer and the catalog origin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from arlm.errors import ConfigError, DataError, NotFoundError
from hf.conftest import EOT, hf_model, registry_state, write_gpt2


def _greedy_hf(model, ids: list[int], n: int) -> list[int]:
    out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
    return out[0, len(ids) :].tolist()


@pytest.mark.parametrize("eps,activation", [(1e-5, "gelu_new"), (1e-3, "gelu")])
def test_imported_logits_and_greedy_generations_equal_transformers(tmp_path, bpe, eps, activation):
    from arlm.generation import GenerationConfig, generate
    from arlm.hf.gpt2_import import load_hf_model

    folder = write_gpt2(tmp_path / "g", bpe, layer_norm_epsilon=eps, activation_function=activation)
    model, tok, ckpt = load_hf_model(folder)
    assert ckpt.gpt_fields["norm_eps"] == eps
    assert ckpt.gpt_fields["activation"] == ("gelu_tanh" if activation == "gelu_new" else "gelu")
    theirs = hf_model(folder)
    prompts = ["def parse_args(self, args=None):", "The quick brown fox", "class Path(object):\n    "]
    batch = [tok.encode(p)[:6] for p in prompts]
    ids = torch.tensor(batch)
    with torch.no_grad():
        diff = (model(ids)[0] - theirs(ids).logits).abs().max().item()
    assert diff < 1e-5, diff
    for row in batch:
        mine = generate(model, [row], GenerationConfig(max_new_tokens=20))[0]
        assert mine == _greedy_hf(theirs, row, 20)
    # the tokenizer is the checkpoint's, as is: same ids as transformers' own
    from transformers import AutoTokenizer

    hf_tok = AutoTokenizer.from_pretrained(str(folder))
    for p in prompts:
        assert tok.encode(p) == hf_tok(p)["input_ids"]
    assert tok.eot_id == bpe.token_to_id(EOT)


def test_vocab_and_merges_without_tokenizer_json_are_converted(tmp_path, bpe):
    from transformers import GPT2Tokenizer

    from arlm.hf.gpt2_import import load_hf_model

    folder = write_gpt2(tmp_path / "g", bpe)
    vocab = {k: v for k, v in sorted(bpe.get_vocab().items(), key=lambda kv: kv[1])}
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    merges = json.loads(bpe.to_str())["model"]["merges"]
    lines = [" ".join(m) if isinstance(m, list) else m for m in merges]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(lines) + "\n", encoding="utf-8")
    (folder / "tokenizer.json").unlink()
    assert len(GPT2Tokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"))) == 2000
    _, tok, _ = load_hf_model(folder)
    text = "def f(x):\n    return x + 1  # comment"
    assert tok.encode(text) == bpe.encode(text).ids


def _bad(tmp_path, bpe, kind: str) -> Path:
    folder = write_gpt2(tmp_path / kind, bpe)
    cfg = json.loads((folder / "config.json").read_text())
    if kind == "no-config":
        (folder / "config.json").unlink()
    elif kind == "llama":
        cfg.update(model_type="llama", architectures=["LlamaForCausalLM"])
    elif kind == "neox-parallel":
        cfg = {
            "model_type": "gpt_neox",
            "architectures": ["GPTNeoXForCausalLM"],
            "use_parallel_residual": True,
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "vocab_size": cfg["vocab_size"],
        }
    elif kind == "wide-mlp":
        cfg["n_inner"] = 3 * cfg["n_embd"]
    elif kind == "truncated":
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif kind == "vocab-mismatch":
        cfg["vocab_size"] += 5
    elif kind == "eos-mismatch":
        cfg["eos_token_id"] = 7
    elif kind == "pickle-only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    if kind != "no-config":
        (folder / "config.json").write_text(json.dumps(cfg))
    return folder


BAD = {
    "no-config": (NotFoundError, "config.json: missing"),
    "llama": (ConfigError, "architecture arlm cannot hold: LlamaForCausalLM"),
    "neox-parallel": (ConfigError, "use_parallel_residual=true"),
    "wide-mlp": (ConfigError, "n_inner=192"),
    "truncated": (DataError, "model.safetensors: truncated or corrupt safetensors file"),
    "vocab-mismatch": (
        DataError,
        "vocabulary/tokenizer mismatch: config.json vocab_size is 2005, the tokenizer has 2000",
    ),
    "eos-mismatch": (DataError, "vocabulary/tokenizer mismatch: <|endoftext|> is id 0"),
    "pickle-only": (DataError, "reads safetensors only (never unpickles)"),
}


def test_bad_checkpoints_are_refused_clearly_and_change_nothing(tmp_path, bpe, home):
    """Every refusal names the file and the problem, and leaves registry, catalog and home as
    they were (one home and one MLflow store for all cases: the store is created once)."""
    from arlm.hf.stages import import_stage

    good = write_gpt2(tmp_path / "good", bpe)
    import_stage(str(good), "first", home, progress=lambda m: None)
    before = registry_state(home)
    for kind, (error, needle) in BAD.items():
        folder = _bad(tmp_path, bpe, kind)
        with pytest.raises(error) as info:
            import_stage(str(folder), f"bad-{kind}", home, progress=lambda m: None)
        assert needle in str(info.value), (kind, str(info.value))
        assert str(folder) in str(info.value), (kind, str(info.value))
        assert registry_state(home) == before, kind
    # an existing name is refused the same way (import makes version 1 of a new name)
    with pytest.raises(ConfigError, match="already registered"):
        import_stage(str(good), "first", home, progress=lambda m: None)
    assert registry_state(home) == before


def test_import_registers_version_1_with_tokenizer_and_origin(tmp_path, bpe, home, capsys):
    from arlm.catalog import Catalog, format_lineage
    from arlm.cli.main import main
    from arlm.registry import load_generator
    from arlm.registry.tracking import use_tracking

    folder = write_gpt2(tmp_path / "g", bpe)
    assert main(["import-hf", str(folder), "--name", "tiny-gpt2"]) == 0
    assert "registered models:/tiny-gpt2/1 (@champion)" in capsys.readouterr().out
    client = use_tracking(home.mlflow_tracking_uri)
    mv = client.get_model_version_by_alias("tiny-gpt2", "champion")
    assert str(mv.version) == "1" and mv.tags["arlm.origin"] == "import"
    assert mv.tags["arlm.source"] == str(folder)
    lin = Catalog(home.catalog_path).lineage("models:/tiny-gpt2@champion")
    assert lin["origin"]["origin"] == "import" and lin["missing"] == []
    assert lin["tokenizer"]["vocab_size"] == 2000
    text = format_lineage(lin)
    assert f"imported from {folder}" in text
    # the registered model generates what transformers generates
    gen = load_generator("models:/tiny-gpt2@champion", tracking_uri=home.mlflow_tracking_uri)
    ids = bpe.encode("import os").ids
    from arlm.generation import GenerationConfig, generate

    assert generate(gen.model, [ids], GenerationConfig(max_new_tokens=20))[0] == _greedy_hf(hf_model(folder), ids, 20)

    # the origin survives a lost catalog: `arlm catalog rebuild` reads it back from the version's tags
    home.catalog_path.unlink()
    assert main(["catalog", "rebuild"]) == 0
    capsys.readouterr()
    assert Catalog(home.catalog_path).lineage("models:/tiny-gpt2/1")["origin"]["source"] == str(folder)

    # export-hf: the folder stock transformers loads, also logged to the version's MLflow run
    out = tmp_path / "export"
    assert main(["export-hf", "models:/tiny-gpt2@champion", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with torch.no_grad():
        ids_t = torch.tensor([ids])
        assert (hf_model(out)(ids_t).logits - hf_model(folder)(ids_t).logits).abs().max().item() < 1e-5
    logged = {a.path for a in client.list_artifacts(mv.run_id, "hf_export")}
    assert {"hf_export/model.safetensors", "hf_export/config.json", "hf_export/tokenizer.json"} <= logged
    (out / "extra.txt").write_text("keep")
    assert main(["export-hf", "models:/tiny-gpt2@champion", str(out)]) == 2
    assert "folder not empty; pass --force" in capsys.readouterr().err
    assert (out / "extra.txt").is_file()


def test_hf_name_resolves_through_the_local_hub_cache_only(tmp_path, bpe, monkeypatch):
    """hf:OWNER/NAME is found in a Hub cache laid out as huggingface_hub writes it (refs/main ->
    snapshots/<commit>/...); a name not in the cache is an error, nothing is downloaded."""
    from arlm.hf.gpt2_import import read_hf_checkpoint
    from arlm.hf.hub import resolve_source

    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--acme--tiny-gpt2"
    snapshot = repo / "snapshots" / commit
    write_gpt2(tmp_path / "src", bpe)
    shutil.copytree(tmp_path / "src", snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_source("hf:acme/tiny-gpt2", cache_dir=cache) == snapshot
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    assert read_hf_checkpoint("hf:acme/tiny-gpt2").folder == snapshot
    with pytest.raises(NotFoundError, match="not in the local Hugging Face cache"):
        resolve_source("hf:acme/absent", cache_dir=cache)
