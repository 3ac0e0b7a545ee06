"""Generation past the context: the window slides (issue 12), and a cut prompt is announced."""

from __future__ import annotations

import warnings

import pytest
import torch

from arlm.generation import GenerationConfig, PromptTruncatedWarning, generate
from arlm.generation.sampling import choose_next, make_generator

VOCAB = 53
BLOCK = 16


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread (two threads on a loaded 2-core machine are ~50x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_gpt(positions: str = "learned", seed: int = 0):
    from arlm.models import build_model

    torch.manual_seed(seed)
    return build_model("gpt", VOCAB, BLOCK, n_layer=2, n_head=2, n_embd=32, positions=positions).eval()


def reference(model, prompt: list[int], n: int, cfg: GenerationConfig) -> list[int]:
    """nanoGPT's loop: each token from a forward over the last BLOCK tokens only."""
    gen = make_generator(cfg.seed, torch.device("cpu"))
    idx = torch.tensor([prompt[-BLOCK:]])
    out = []
    with torch.inference_mode():
        for _ in range(n):
            logits, _ = model(idx[:, -BLOCK:])
            tok = choose_next(logits[:, -1, :], cfg, gen)
            out.append(int(tok[0]))
            idx = torch.cat([idx, tok[:, None]], dim=1)
    return out


@pytest.mark.parametrize("positions", ["learned", "rope"])
@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_three_contexts_long_equals_a_recompute_over_the_last_block(positions, use_cache):
    model = tiny_gpt(positions)
    prompt = [3, 1, 4, 1, 5, 9, 2, 6]
    cfg = GenerationConfig(max_new_tokens=3 * BLOCK, use_cache=use_cache)
    out = generate(model, [prompt], cfg)[0]
    assert len(out) == 3 * BLOCK
    assert out == reference(model, prompt, 3 * BLOCK, cfg)


def test_sampling_past_the_context_follows_the_same_window():
    model = tiny_gpt(seed=1)
    prompt = [7, 8, 9]
    cfg = GenerationConfig(max_new_tokens=3 * BLOCK, temperature=1.3, top_k=20, seed=5)
    out = generate(model, [prompt], cfg)[0]
    assert len(out) == 3 * BLOCK and len(set(out)) > 5  # really sampled, not a loop
    assert out == reference(model, prompt, 3 * BLOCK, cfg)
    assert (
        out
        == generate(
            model,
            [prompt],
            GenerationConfig(max_new_tokens=3 * BLOCK, temperature=1.3, top_k=20, seed=5, use_cache=False),
        )[0]
    )


def test_batched_prompts_of_different_lengths_slide_each_their_own_window():
    model = tiny_gpt(seed=2)
    prompts = [[1, 2, 3], list(range(5, 20)), [40]]  # 3, 15 and 1 tokens: cross the edge apart
    cfg = GenerationConfig(max_new_tokens=2 * BLOCK + 5)
    batch = generate(model, prompts, cfg)
    assert batch == [generate(model, [p], cfg)[0] for p in prompts]
    assert batch == [reference(model, p, 2 * BLOCK + 5, cfg) for p in prompts]


def test_beam_search_past_the_context():
    model = tiny_gpt(seed=3)
    prompt = [2, 7, 1, 8, 2, 8]
    cached = generate(model, [prompt], GenerationConfig(max_new_tokens=3 * BLOCK, num_beams=3))[0]
    recomputed = generate(model, [prompt], GenerationConfig(max_new_tokens=3 * BLOCK, num_beams=3, use_cache=False))[0]
    assert len(cached) == 3 * BLOCK and cached == recomputed
    # width 1 is greedy
    greedy = GenerationConfig(max_new_tokens=3 * BLOCK)
    assert generate(model, [prompt], GenerationConfig(max_new_tokens=3 * BLOCK, num_beams=1))[0] == reference(
        model, prompt, 3 * BLOCK, greedy
    )


def test_a_prompt_longer_than_the_context_is_cut_with_a_notice():
    model = tiny_gpt(seed=4)
    long_prompt = [(i * 7) % VOCAB for i in range(100)]
    cfg = GenerationConfig(max_new_tokens=5)
    notices: list[str] = []
    out = generate(model, [long_prompt, [1, 2]], cfg, on_notice=notices.append)
    assert notices == [
        ("prompt 0 has 100 tokens, more than the 16-token context of this gpt model: only its last 16 tokens are used")
    ]
    assert out[0] == generate(model, [long_prompt[-BLOCK:]], cfg)[0]
    with pytest.warns(PromptTruncatedWarning, match="the prompt has 100 tokens"):
        generate(model, [long_prompt], cfg)
    with warnings.catch_warnings():  # a prompt that fits says nothing
        warnings.simplefilter("error")
        generate(model, [long_prompt[-BLOCK:]], cfg)
