"""Issue 12: weights carry their sha256 and every load checks it; a NaN or infinite evaluation is
an error, never a stored catalog row."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from arlm.errors import DataError
from arlm.models import build_model, load_model, save_model
from arlm.models.serialization import WeightsIntegrityError
from arlm.versioning import sha256_file


def _tiny(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("gpt", 64, 16, n_layer=1, n_head=2, n_embd=16)


def test_save_records_sha256_and_load_refuses_a_changed_byte(tmp_path):
    d = save_model(_tiny(), tmp_path / "m")
    meta = json.loads((d / "model_config.json").read_text())
    assert meta["weights_sha256"] == sha256_file(d / "model.safetensors")
    load_model(d)  # intact
    data = bytearray((d / "model.safetensors").read_bytes())
    data[-5] ^= 0x01  # one bit of one weight
    (d / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match=r"model\.safetensors: corrupted weights: sha256"):
        load_model(d)


def test_folder_without_recorded_hash_loads_with_a_warning(tmp_path, capsys):
    d = save_model(_tiny(), tmp_path / "old")
    meta = json.loads((d / "model_config.json").read_text())
    del meta["weights_sha256"]
    (d / "model_config.json").write_text(json.dumps(meta))
    load_model(d)
    err = capsys.readouterr().err
    assert "no sha256 recorded" in err and "model.safetensors" in err


def test_checkpoint_load_checks_the_hash_too(tmp_path):
    from arlm.training.checkpoint import load_checkpoint, save_checkpoint

    model = _tiny()
    ckpt = save_checkpoint(tmp_path / "ckpt" / "latest", model, None, {"step": 1})
    assert json.loads((ckpt / "model_config.json").read_text())["weights_sha256"]
    load_checkpoint(ckpt, _tiny(1), restore_rng=False)


def test_nan_weights_make_evaluation_an_error(tmp_path):
    from arlm.evaluation import evaluate_tokens

    model = _tiny()
    with torch.no_grad():
        next(iter(model.parameters())).fill_(float("nan"))
    d = save_model(model, tmp_path / "nan")  # a faithful file of a broken model: the hash passes
    tokens = np.arange(40) % 64
    with pytest.raises(DataError, match="non-finite loss"):
        evaluate_tokens(load_model(d), tokens, 100, block_size=16, batch_size=4)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_catalog_refuses_non_finite_evaluations(home, bad):
    from arlm.catalog import Catalog

    cat = Catalog(home.catalog_path)
    with pytest.raises(DataError, match="non-finite metrics"):
        cat.record_evaluation(model_dir="m", dataset_id="d", metrics={"loss": bad, "bits_per_byte": 2.0})
    assert cat.rows("SELECT count(*) AS n FROM evaluations")[0]["n"] == 0
    cat.record_evaluation(model_dir="m", dataset_id="d", metrics={"loss": 1.0, "bits_per_byte": 2.0})
    assert cat.rows("SELECT metrics FROM evaluations")[0]["metrics"]["loss"] == 1.0
    assert math.isfinite(cat.rows("SELECT metrics FROM evaluations")[0]["metrics"]["bits_per_byte"])
