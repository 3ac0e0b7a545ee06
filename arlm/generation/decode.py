"""``generate``: continue token prompts with any model kind, through its ``step`` interface.

Batches of prompts of different lengths run in **lockstep**, without padding: the batch is first
fed the tokens every prompt has (the shortest prompt's length), then advances one position per
step; a row whose prompt is not yet consumed is fed its next prompt token (its prediction is
ignored), the others their chosen token. Every row therefore sits at the same position at every
step, which is all ``model.step`` and a plain forward need: no attention mask, no position offsets,
the same code for the KV cache, recurrent state and n-gram context. The price is that the prompt
tokens beyond the shortest prompt are consumed one per step rather than in one prefill. Finished
rows are dropped from the batch (``reorder_state``) so they cost nothing afterwards.

Context limit: kinds with ``max_context`` (the GPT) generate any number of tokens by sliding the
window (see ``steppers``): each token is predicted from the last ``max_context`` tokens, as nanoGPT
and ``transformers`` do. A prompt longer than the context keeps its last ``max_context`` tokens
(all the model can see when predicting); that truncation is announced through ``on_notice``, or
a ``PromptTruncatedWarning`` when no callback is given, never done silently.

Beam search runs prompt by prompt (the batch dimension holds the beams); ``on_token`` then fires
once the best hypothesis is known, since beams are not final before the end.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from arlm.errors import ConfigError
from arlm.generation.config import GenerationConfig
from arlm.generation.sampling import choose_next, make_generator
from arlm.generation.steppers import make_stepper
from arlm.generation.stopping import StopChecker

OnToken = Callable[[int, int], None]  # (prompt index, token id)
OnNotice = Callable[[str], None]  # a one-line notice for the user (the CLI prints it on stderr)


class PromptTruncatedWarning(UserWarning):
    """A prompt was longer than the model's context: only its last tokens were used."""


def notify(message: str, on_notice: OnNotice | None) -> None:
    if on_notice is not None:
        on_notice(message)
    else:
        warnings.warn(message, PromptTruncatedWarning, stacklevel=4)


def model_device(model: Any) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _prepare_prompts(
    model: Any, prompts: Sequence[Sequence[int]], cfg: GenerationConfig, on_notice: OnNotice | None = None
) -> list[list[int]]:
    if not prompts:
        raise ConfigError("generate: no prompts given")
    kind = getattr(model, "kind", "model")
    limit = getattr(model, "max_context", None)
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    out = []
    for i, prompt in enumerate(prompts):
        ids = [int(t) for t in prompt]
        if not ids:
            raise ConfigError(f"generate: prompt {i} is empty (give at least one token)")
        if vocab is not None and (min(ids) < 0 or max(ids) >= vocab):
            raise ConfigError(f"generate: prompt {i} has token ids outside [0, {vocab})")
        if limit is not None and len(ids) > limit:
            which = f"prompt {i} " if len(prompts) > 1 else "the prompt "
            notify(
                f"{which}has {len(ids):,} tokens, more than the {limit:,}-token context of this "
                f"{kind} model: only its last {limit:,} tokens are used",
                on_notice,
            )
            ids = ids[-limit:]
        out.append(ids)
    return out


def generate(
    model: Any,
    prompts: Sequence[Sequence[int]],
    cfg: GenerationConfig,
    on_token: OnToken | None = None,
    decode: Callable[[list[int]], str] | None = None,
    on_notice: OnNotice | None = None,
) -> list[list[int]]:
    """New token ids for each prompt (prompt excluded, stop token ids excluded).

    ``on_token(row, token_id)`` is called as each token is chosen (streaming). ``decode`` turns ids
    into text; it is needed only for ``cfg.stop`` strings. With ``cfg.seed`` sampling is
    reproducible for the same prompts, batch and device. ``on_notice(line)`` receives notices
    (a prompt cut to the model's context); without it they are ``PromptTruncatedWarning``s.
    """
    rows = _prepare_prompts(model, prompts, cfg, on_notice)
    stopper = StopChecker(cfg, decode)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            if cfg.num_beams > 1:
                results = [_beam_search(model, row, cfg, stopper) for row in rows]
                if on_token is not None:
                    for i, tokens in enumerate(results):
                        for t in tokens:
                            on_token(i, t)
                return results
            return _decode_lockstep(model, rows, cfg, stopper, on_token)
    finally:
        model.train(was_training)


def _decode_lockstep(
    model: Any, rows: list[list[int]], cfg: GenerationConfig, stopper: StopChecker, on_token: OnToken | None
) -> list[list[int]]:
    device = model_device(model)
    generator = make_generator(cfg.seed, device)
    lengths = [len(r) for r in rows]
    start = min(lengths)
    width = max(lengths)
    padded = torch.zeros(len(rows), width, dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        padded[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    lengths_t = torch.tensor(lengths, device=device)

    stepper = make_stepper(model, padded[:, :start], cfg.use_cache)
    out: list[list[int]] = [[] for _ in rows]
    active = list(range(len(rows)))  # original row index of each batch row
    pos = start
    while True:
        chosen = choose_next(stepper.logits, cfg, generator)
        if pos < width:  # some rows are still reading their prompt
            act = torch.tensor(active, device=device)
            forced = lengths_t[act] > pos
            chosen = torch.where(forced, padded[act, pos], chosen)
        finished_local = []
        for local, (row, tok) in enumerate(zip(active, chosen.tolist())):
            if pos < lengths[row]:
                continue  # still reading its prompt
            if stopper.is_stop_token(tok):
                finished_local.append(local)
                continue
            out[row].append(tok)
            if on_token is not None:
                on_token(row, tok)
            if len(out[row]) >= cfg.max_new_tokens or stopper.hits_stop_string(out[row]):
                finished_local.append(local)
        if finished_local:
            done = set(finished_local)
            keep = [i for i in range(len(active)) if i not in done]
            if not keep:
                return out
            index = torch.tensor(keep, device=device)
            stepper.reorder(index)
            chosen = chosen[index]
            active = [active[i] for i in keep]
        stepper.advance(chosen)
        pos += 1


def _beam_search(model: Any, prompt: list[int], cfg: GenerationConfig, stopper: StopChecker) -> list[int]:
    """Width-``num_beams`` beam search with length-normalised scores (score / len ** length_penalty).

    Keeps the ``num_beams`` best unfinished hypotheses per step from the 2 x width best extensions;
    a hypothesis ending in a stop token / stop string is set aside as finished. Stops when enough
    finished hypotheses beat every live one, or at ``max_new_tokens``.
    """
    device = model_device(model)
    width = cfg.num_beams
    stepper = make_stepper(model, torch.tensor([prompt], dtype=torch.long, device=device), cfg.use_cache)
    stepper.reorder(torch.zeros(width, dtype=torch.long, device=device))
    scores = torch.full((width,), float("-inf"), device=device)
    scores[0] = 0.0  # all beams start identical: expand only the first
    beams: list[list[int]] = [[] for _ in range(width)]
    finished: list[tuple[float, list[int]]] = []

    def norm(score: float, n: int) -> float:
        return score / max(n, 1) ** cfg.length_penalty

    for t in range(cfg.max_new_tokens):
        logp = torch.log_softmax(stepper.logits.float(), dim=-1) + scores[:, None]
        vocab = logp.size(-1)
        top_scores, top_idx = torch.topk(logp.reshape(-1), min(2 * width, logp.numel()))
        parents, tokens, new_scores, new_beams = [], [], [], []
        for score, flat in zip(top_scores.tolist(), top_idx.tolist()):
            if score == float("-inf"):
                break
            parent, tok = divmod(flat, vocab)
            if stopper.is_stop_token(tok):
                finished.append((norm(score, len(beams[parent])), beams[parent]))
                continue
            seq = beams[parent] + [tok]
            if stopper.hits_stop_string(seq):
                finished.append((norm(score, len(seq)), seq))
                continue
            parents.append(parent)
            tokens.append(tok)
            new_scores.append(score)
            new_beams.append(seq)
            if len(new_beams) == width:
                break
        beams = new_beams
        if not beams:
            break
        if len(finished) >= width and max(f[0] for f in finished) >= max(
            norm(s, len(b)) for s, b in zip(new_scores, beams)
        ):
            break
        if t == cfg.max_new_tokens - 1:
            break
        index = torch.tensor(parents, dtype=torch.long, device=device)
        stepper.reorder(index)
        stepper.advance(torch.tensor(tokens, dtype=torch.long, device=device))
        scores = torch.tensor(new_scores, device=device)
    candidates = finished + [(norm(s, len(b)), b) for s, b in zip(new_scores if beams else [], beams)]
    return max(candidates, key=lambda c: c[0])[1] if candidates else []
