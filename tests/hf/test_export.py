"""Export to stock transformers: every GPT preset the pipeline produces (learned and rotary) loads
with AutoModelForCausalLM / AutoTokenizer, no missing or unexpected keys, and computes arlm's
function: logits within 1e-5, identical greedy generations, perplexity within 0.1%."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from arlm.errors import ConfigError
from hf.conftest import EOT, stdlib_text, train_bpe

# gpt/tiny in the fast suite; the bigger presets take 10-40 s each on 2 busy cores
PRESETS = ["tiny", pytest.param("small", marks=pytest.mark.slow), pytest.param("baby", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """An arlm-style tokenizer folder: byte-level BPE with <|endoftext|> 0 and <|pad|> 1."""
    tok = train_bpe(vocab_size=600, specials=(EOT, "<|pad|>"))
    d = tmp_path_factory.mktemp("tok")
    tok.save(str(d / "tokenizer.json"))
    (d / "tokenizer_meta.json").write_text(
        json.dumps({"kind": "bpe", "vocab_size": tok.get_vocab_size(), "eot_id": 0, "pad_id": 1})
    )
    return d


def _model_dir(tmp_path, preset: str, positions: str, vocab: int, **overrides):
    from arlm.models import build_model, save_model

    torch.manual_seed(1)
    model = build_model(f"gpt/{preset}", vocab, None, positions=positions, dropout=0.0, **overrides)
    with torch.no_grad():  # move every tensor off its initial value (biases, norms)
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    d = tmp_path / f"{preset}-{positions}"
    save_model(model, d)
    return d


def _check_export(tmp_path, tokenizer_dir, preset: str, positions: str, n_eval_tokens: int = 3000):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from arlm.evaluation.metrics import evaluate_tokens, exact_windows
    from arlm.generation import GenerationConfig, generate
    from arlm.hf.export import export_model_dir
    from arlm.models import load_model
    from arlm.tokenizers import load_tokenizer

    tok = load_tokenizer(tokenizer_dir)
    model_dir = _model_dir(tmp_path, preset, positions, tok.vocab_size)
    out = tmp_path / f"export-{preset}-{positions}"
    info = export_model_dir(model_dir, tokenizer_dir, out)
    assert info["architecture"] == ("GPT2LMHeadModel" if positions == "learned" else "GPTNeoXForCausalLM")
    files = sorted(p.name for p in out.iterdir())
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt", ".pkl", ".py")) for f in files)
    config = json.loads((out / "config.json").read_text())
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (0, 0, 1)
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == 0
    assert "auto_map" not in config  # no custom code

    theirs, loading = AutoModelForCausalLM.from_pretrained(str(out), output_loading_info=True)
    assert type(theirs).__name__ == info["architecture"]
    assert not loading["missing_keys"] and not loading["unexpected_keys"] and not loading["mismatched_keys"]
    theirs.eval()
    hf_tok = AutoTokenizer.from_pretrained(str(out))
    assert (hf_tok.eos_token_id, hf_tok.pad_token_id) == (0, 1)
    mine = load_model(model_dir)
    text = stdlib_text(60_000)
    for prompt in ("def main(argv=None):", "The path of the file"):
        assert hf_tok(prompt)["input_ids"] == tok.encode(prompt)
    ids = torch.tensor([tok.encode(text[:5000])[:64], tok.encode(text[5000:10000])[:64]])
    with torch.no_grad():
        diff = (mine(ids)[0] - theirs(ids).logits).abs().max().item()
    assert diff < 1e-5, diff
    prompt = tok.encode("import os\n")
    greedy = generate(mine, [prompt], GenerationConfig(max_new_tokens=20))[0]
    hf_greedy = theirs.generate(
        torch.tensor([prompt]), max_new_tokens=20, min_new_tokens=20, do_sample=False, pad_token_id=1
    )[0, len(prompt) :].tolist()
    assert greedy == hf_greedy
    # perplexity of a test text: arlm's evaluation vs the stock model over the same windows
    tokens = np.asarray(tok.encode(text[20_000:]), dtype=np.int64)[:n_eval_tokens]
    block = mine.config.block_size
    ours = evaluate_tokens(mine, tokens, n_bytes=len(text[20_000:].encode()), block_size=block, batch_size=4)
    nats, count = 0.0, 0
    with torch.no_grad():
        for x, y in exact_windows(tokens, block, 4):
            logits = theirs(torch.from_numpy(x)).logits
            nats += torch.nn.functional.cross_entropy(
                logits.flatten(0, 1).double(), torch.from_numpy(y).flatten(), reduction="sum"
            ).item()
            count += y.size
    hf_ppl = float(np.exp(nats / count))
    assert abs(hf_ppl - ours["perplexity"]) / ours["perplexity"] < 1e-3, (hf_ppl, ours["perplexity"])


@pytest.mark.parametrize("positions", ["learned", "rope"])
@pytest.mark.parametrize("preset", PRESETS)
def test_every_gpt_preset_exports_to_a_stock_class_computing_the_same(tmp_path, tokenizer_dir, preset, positions):
    _check_export(tmp_path, tokenizer_dir, preset, positions)


@pytest.mark.slow
def test_the_gpt2_124m_preset_exports_too(tmp_path, tokenizer_dir):
    """The GPT-2-sized preset (learned positions, its own); the rotary mapping of every size is
    the same code, checked on the three smaller presets above."""
    _check_export(tmp_path, tokenizer_dir, "gpt2", "learned", n_eval_tokens=2100)


def test_untied_biased_rope_model_round_trips_through_neox(tmp_path, tokenizer_dir):
    """Rotary with biases and an untied head: NeoX with attention_bias, read back by import-hf."""
    from arlm.hf.export import export_model_dir
    from arlm.hf.gpt2_import import load_hf_model
    from arlm.models import load_model

    model_dir = _model_dir(tmp_path, "tiny", "rope", 600, bias=True, tie_weights=False)
    out = tmp_path / "out"
    export_model_dir(model_dir, tokenizer_dir, out)
    back, _, ckpt = load_hf_model(out)
    assert ckpt.gpt_fields["bias"] and not ckpt.gpt_fields["tie_weights"]
    ids = torch.randint(0, 600, (2, 40))
    with torch.no_grad():
        assert torch.equal(back(ids)[0], load_model(model_dir)(ids)[0])


def test_a_non_empty_out_dir_needs_force_and_recurrent_kinds_are_refused(tmp_path, tokenizer_dir):
    from arlm.hf.export import export_model_dir
    from arlm.models import build_model, save_model

    model_dir = _model_dir(tmp_path, "tiny", "learned", 600)
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="busy: folder not empty; pass --force"):
        export_model_dir(model_dir, tokenizer_dir, out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    export_model_dir(model_dir, tokenizer_dir, out, force=True)
    assert not (out / "keep.txt").exists() and (out / "config.json").is_file()

    lstm = tmp_path / "lstm"
    save_model(build_model("lstm", 600, 32), lstm)
    with pytest.raises(ConfigError, match="model kind 'lstm' has no stock transformers architecture"):
        export_model_dir(lstm, tokenizer_dir, tmp_path / "lstm-out")
    assert not (tmp_path / "lstm-out").exists()
