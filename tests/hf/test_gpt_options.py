"""The GPT options added for pretrained checkpoints (``activation``, ``norm_eps``) change nothing for
the presets: the same state-dict keys, and weights written before the options existed (in
data/gpt-before-options, by the GPT of that time) still give the logits they gave then."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from arlm.errors import ConfigError

DATA = Path(__file__).parent / "data" / "gpt-before-options"


def test_preset_state_dict_keys_are_unchanged():
    from arlm.models import build_model

    model = build_model("gpt/tiny", 100, None)
    per_block = [
        "ln_1.weight",
        "attn.c_attn.weight",
        "attn.c_proj.weight",
        "ln_2.weight",
        "mlp.c_fc.weight",
        "mlp.c_proj.weight",
    ]
    expected = [
        "wte.weight",
        "wpe.weight",
        *(f"blocks.{i}.{k}" for i in range(4) for k in per_block),
        "ln_f.weight",
        "lm_head.weight",
    ]
    assert list(model.state_dict()) == expected
    cfg = model.config
    assert (cfg.activation, cfg.norm_eps) == ("gelu", 1e-5)
    assert model.blocks[0].mlp.gelu.approximate == "none" and model.ln_f.eps == 1e-5


@pytest.mark.parametrize("positions", ["learned", "rope"])
def test_weights_written_before_the_options_compute_the_same_logits(positions):
    import json

    from arlm.models.serialization import config_from_metadata

    meta = json.loads((DATA / f"{positions}-config.json").read_text())
    assert "activation" not in meta["config"] and "norm_eps" not in meta["config"]
    cls, cfg = config_from_metadata(meta)
    model = cls(cfg)
    missing, unexpected = model.load_state_dict(load_file(str(DATA / f"{positions}.safetensors")), strict=False)
    assert missing == ["lm_head.weight"] and not unexpected  # the tied head, re-tied by the constructor
    expected = load_file(str(DATA / f"{positions}-expected.safetensors"))
    with torch.no_grad():
        logits = model.eval()(expected["ids"])[0]
    torch.testing.assert_close(logits, expected["logits"], rtol=0, atol=1e-6)


def test_the_new_options_take_effect_and_are_checked():
    from arlm.models import build_model

    torch.manual_seed(0)
    exact = build_model("gpt", 50, 16, n_layer=1, n_head=2, n_embd=16, bias=True)
    tanh = build_model("gpt", 50, 16, n_layer=1, n_head=2, n_embd=16, bias=True, activation="gelu_tanh", norm_eps=1e-3)
    tanh.load_state_dict(exact.state_dict())
    ids = torch.randint(0, 50, (1, 16))
    with torch.no_grad():
        assert not torch.equal(exact(ids)[0], tanh(ids)[0])
    assert tanh.blocks[0].mlp.gelu.approximate == "tanh" and tanh.blocks[0].ln_1.eps == 1e-3
    with pytest.raises(ConfigError, match="activation must be one of"):
        build_model("gpt", 50, 16, activation="relu")
    with pytest.raises(ConfigError, match="norm_eps must be in"):
        build_model("gpt", 50, 16, norm_eps=0)
