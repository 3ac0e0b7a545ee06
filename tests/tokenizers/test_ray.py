"""Encoding as Ray tasks when the process is connected to Ray: same shards as local encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from arlm.tokenizers import TokenizerConfig, build_tokenizer, tokenize
from arlm.tokenizers.parallel import encode_parallel, resolve_backend


@pytest.mark.slow
def test_tokenize_uses_ray_tasks_when_connected(ray_tasks, corpus, tmp_path: Path) -> None:
    art = build_tokenizer(TokenizerConfig(vocab_size=400), corpus, tmp_path / "tok")
    assert resolve_backend("auto") == "ray"
    tok = art.load()
    texts = [f"document {i} " * (i + 1) for i in range(50)]
    parts = list(encode_parallel(tok, [texts], backend="auto", target_bytes=500))
    assert len(parts) > 3  # really cut into several tasks
    tokens = np.concatenate([p[0] for p in parts])
    expected = np.concatenate([np.asarray(tok.encode(t) + [tok.eot_id]) for t in texts])
    assert np.array_equal(tokens, expected)
    assert np.concatenate([p[1] for p in parts]).tolist() == [len(tok.encode(t)) + 1 for t in texts]

    on_ray = tokenize(corpus, art, tmp_path / "ray")  # backend "auto" -> Ray
    local = tokenize(corpus, art, tmp_path / "local", backend="serial")
    assert on_ray.id == local.id
    for f in sorted(p.name for p in local.path.iterdir()):
        assert (on_ray.path / f).read_bytes() == (local.path / f).read_bytes(), f
