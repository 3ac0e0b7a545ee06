"""arlm's ``transformer-seq2seq`` beside ``transformers``' ``MarianMTModel``: same data, same budget.

    python benchmarks/translation.py                           # bible-en-es (diatheke) or the fixture, 240 s each
    python benchmarks/translation.py --corpus bible-en-es --seconds 240 --preset tiny
    python benchmarks/translation.py --quick                   # the committed fixture, seconds (the test suite runs it)

One process, one run, both models side by side:

1. Data: the corpus is read, cleaned and split by document (``arlm.translation.pairs``; Bible books
   are held out whole), a joint byte-level BPE is trained on the training split (both languages, one
   id space), and every pair is encoded with it. Pairs longer than the model's limits (source + EOS
   over ``max_source_len``, BOS + target over ``block_size``) are left out of every split and counted.
   ``bible-en-es`` is exported once with ``diatheke`` (``arlm.translation.bible``) and cached in
   ``~/.cache/arlm/bible-en-es.tsv`` (``--cache-dir``); without diatheke the default corpus is the
   committed fixture ``tests/fixtures/bible-en-es-sample.tsv`` (289 pairs).
2. Models, from the same seed: arlm's ``transformer-seq2seq/PRESET`` (``build_seq2seq``; ``tiny``
   is the kind's default preset) and a ``MarianMTModel`` built from a ``MarianConfig`` of the same
   dimensions: encoder/decoder layers, d_model, heads, feed-forward width, vocabulary, maximum
   positions, dropout (on the residual branches and the attention weights, none inside the
   feed-forward, as arlm), GELU, shared and tied embeddings, ``init_std`` 0.02; pad id 1, EOS and
   decoder start 0 (arlm's ``<|endoftext|>``). Marian is post-norm with
   ``scale_embedding=True`` as in Helsinki-NLP's opus-mt configs (``--marian-scale-embedding off``
   for MarianConfig's default) and SDPA attention. arlm's ``tiny`` preset has the same layout
   (``norm="post"``: LayerNorm after each residual addition, embeddings times sqrt(d_model) beside
   fixed sinusoids); its deeper presets are pre-norm.
3. Training: one loop here drives both: the same token-id batches (``token_batches``, packed
   to ``--max-tokens`` padded tokens a side, batch order from the seed), AdamW (betas 0.9/0.98, no
   weight decay), gradient clipping at 1, the shared schedule (``arlm.training.schedule.lr_at``:
   warm-up, then cosine decay over the wall-clock budget), and the same loss, each model's through
   its own library's code: cross-entropy with label smoothing ``--label-smoothing`` (arlm's
   default) over the non-padding targets, computed by arlm's model (``Seq2SeqModel.loss``,
   ``arlm.models.fastops.cross_entropy``) and from Marian's logits by ``F.cross_entropy`` (stock
   PyTorch's fastest path: MarianMTModel's own loss has no label smoothing, and ``transformers``'
   ``LabelSmoother`` is slower). Likewise each model runs its own dropout and attention code:
   arlm's CPU fast paths (``arlm.models.fastops``, ``benchmarks/train_ops.py`` times them op by
   op), Marian's ``nn.functional`` ones. Steps of the two models alternate (the one with less
   training time so far goes next), each with its own dropout RNG stream, so a load change on a
   shared machine hits both; each stops when its own training time reaches ``--seconds``. The peak learning rate is
   ``--lr`` for both, or each model's own (``--lr-arlm``, ``--lr-marian``). Training time counts the
   forward, backward and optimizer step; building the batches (shared) is not counted.
4. Scores: the test split, beam 4, length penalty 1, at most ``ceil(1.5 x source tokens + 10)``
   output tokens (arlm's ``DecodeConfig``): arlm through ``translate_ids``, Marian through
   ``model.generate`` (batches of 32 sorted by length, as arlm; ``max_new_tokens`` the batch's
   largest limit + 1 for the EOS, each output cut to its own limit); both decoded by the same
   tokenizer and scored by ``arlm.evaluation.translation`` (sacreBLEU BLEU and chrF against the raw
   references). The sources sorted by length are cut into batches of 32 and each batch is
   translated by one model and then the other, each timed: translation sentences/s, side by side
   as in training. The teacher-forced test loss (nats per target token, no smoothing), the
   output/reference length ratio and the number of distinct outputs are printed too.

Prints a Markdown table, then the ratios arlm / Marian of test BLEU and of training target tokens/s
with PASS (>= 1.00) or FAIL. ``--strict`` makes a FAIL the exit status 1.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # benchmarks/tokenize.py shadows stdlib

import argparse  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "bible-en-es-sample.tsv"
FIXTURE_SPEC = f"{FIXTURE}:en,es,book"
DEFAULT_PRESET = "tiny"  # transformer-seq2seq's default preset (the first in SEQ2SEQ_PRESETS)


# -- data ----------------------------------------------------------------------------------------


def corpus_spec(corpus: str | None, cache_dir: Path) -> str:
    """The pairs SPEC of ``corpus``: ``bible-en-es`` exported once into ``cache_dir``; None: bible-en-es
    when diatheke is installed, else the committed fixture."""
    if corpus is None:
        corpus = "bible-en-es" if shutil.which("diatheke") else FIXTURE_SPEC
    if corpus != "bible-en-es":
        return corpus
    path = cache_dir / "bible-en-es.tsv"
    if not path.is_file():
        from arlm.translation.bible import build_bible_en_es

        cache_dir.mkdir(parents=True, exist_ok=True)
        print(f"exporting bible-en-es with diatheke into {path}", file=sys.stderr)
        build_bible_en_es(path)
    return f"{path}:en,es,book"


@dataclass
class Data:
    tokenizer: Any
    ids: dict[str, tuple[list[list[int]], list[list[int]]]]  # split -> (sources, targets) as token ids
    text: dict[str, tuple[list[str], list[str]]]  # split -> (sources, targets) as cleaned text
    stats: dict[str, Any] = field(default_factory=dict)


def prepare_data(spec: str, vocab_size: int, seed: int, max_source_len: int, block_size: int, test_pairs: int) -> Data:
    from arlm.tokenizers import TokenizerConfig
    from arlm.tokenizers.kinds import train_hf_tokenizer
    from arlm.tokenizers.tokenizer import Tokenizer
    from arlm.translation.pairs import clean_pairs, iter_pair_texts, read_pairs, split_pairs

    pairs, _ = clean_pairs(read_pairs(spec))
    by = "document" if len(pairs.documents) >= 3 and all(pairs.doc) else "pair"
    splits, split_stats = split_pairs(pairs, seed=seed, by=by)
    hf = train_hf_tokenizer(
        TokenizerConfig(kind="bpe", vocab_size=vocab_size), iter_pair_texts(splits["train"]), f"{spec} train split"
    )
    tok = Tokenizer(hf, kind="bpe")
    ids: dict = {}
    text: dict = {}
    dropped: dict[str, int] = {}
    for name in ("train", "test"):
        p = splits[name]
        src, tgt = tok.encode_batch(p.src), tok.encode_batch(p.tgt)
        keep = [i for i in range(len(p)) if 0 < len(src[i]) < max_source_len and 0 < len(tgt[i]) < block_size]
        dropped[name] = len(p) - len(keep)
        if name == "test" and test_pairs and len(keep) > test_pairs:  # an even, deterministic sample
            keep = [keep[int(j * len(keep) / test_pairs)] for j in range(test_pairs)]
        ids[name] = ([src[i] for i in keep], [tgt[i] for i in keep])
        text[name] = ([p.src[i] for i in keep], [p.tgt[i] for i in keep])
    stats = {
        "split_by": by,
        "documents": {s: v["documents"] for s, v in split_stats["splits"].items()},
        "pairs": {s: len(ids[s][0]) for s in ids},
        "dropped_too_long": dropped,
        "vocab_size": tok.vocab_size,
        "train_target_tokens": sum(len(t) + 1 for t in ids["train"][1]),
        "test_documents": splits["test"].documents,
    }
    return Data(tok, ids, text, stats)


class StepBatches:
    """The batch of every optimizer step, shared by both models: epochs of ``token_batches`` over the
    training pairs, concatenated; each built once and dropped once both models are past it."""

    def __init__(self, sources, targets, max_tokens: int, seed: int, pad_id: int, bos_id: int, eos_id: int):
        self.sources, self.targets = sources, targets
        self.src_len = [len(s) for s in sources]
        self.tgt_len = [len(t) for t in targets]
        self.max_tokens = max(max_tokens, max(self.src_len) + 1, max(self.tgt_len) + 1)
        self.seed, self.special = seed, (pad_id, bos_id, eos_id)
        self.order: list[list[int]] = []
        self.epochs = 0
        self.cache: dict[int, Any] = {}

    def __call__(self, step: int):
        from arlm.models.seq2seq import make_batch, token_batches

        while step >= len(self.order):
            self.order += token_batches(self.src_len, self.tgt_len, self.max_tokens, seed=self.seed, epoch=self.epochs)
            self.epochs += 1
        if step not in self.cache:
            idx = self.order[step]
            self.cache[step] = make_batch([self.sources[i] for i in idx], [self.targets[i] for i in idx], *self.special)
        return self.cache[step]

    def release_before(self, step: int) -> None:
        for s in [s for s in self.cache if s < step]:
            del self.cache[s]


# -- the two models --------------------------------------------------------------------------------


def build_arlm(preset: str, vocab_size: int, seed: int, label_smoothing: float):
    import torch

    from arlm.models.seq2seq import build_seq2seq

    torch.manual_seed(seed)
    return build_seq2seq(f"transformer-seq2seq/{preset}", vocab_size, label_smoothing=label_smoothing)


def marian_config(cfg: Any, scale_embedding: bool):
    """A ``MarianConfig`` of the same dimensions and special ids as arlm's config ``cfg``."""
    from transformers import MarianConfig

    return MarianConfig(
        vocab_size=cfg.vocab_size,
        decoder_vocab_size=cfg.vocab_size,
        d_model=cfg.d_model,
        encoder_layers=cfg.n_encoder_layer,
        decoder_layers=cfg.n_decoder_layer,
        encoder_attention_heads=cfg.n_head,
        decoder_attention_heads=cfg.n_head,
        encoder_ffn_dim=cfg.d_ff,
        decoder_ffn_dim=cfg.d_ff,
        max_position_embeddings=max(cfg.max_source_len, cfg.block_size),
        dropout=cfg.dropout,
        attention_dropout=cfg.dropout,  # arlm drops attention weights at the same rate
        activation_dropout=0.0,  # arlm has no dropout inside the feed-forward
        activation_function="gelu",
        init_std=0.02,
        scale_embedding=scale_embedding,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        pad_token_id=cfg.pad_id,
        eos_token_id=cfg.eos_id,
        bos_token_id=cfg.bos_id,
        decoder_start_token_id=cfg.bos_id,
        forced_eos_token_id=cfg.eos_id,
    )


def build_marian(arlm_cfg: Any, seed: int, scale_embedding: bool):
    import torch
    from transformers import MarianMTModel

    torch.manual_seed(seed)
    return MarianMTModel(marian_config(arlm_cfg, scale_embedding))


def trainable_params(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def arlm_logits(model, batch):
    return model(batch.src, batch.tgt_in, None, batch.src_mask)[0]


def marian_logits(model, batch):
    return model(
        input_ids=batch.src,
        attention_mask=batch.src_mask.long(),
        decoder_input_ids=batch.tgt_in,
        use_cache=False,
    ).logits


def arlm_loss(model, batch, label_smoothing: float):
    """arlm's own training loss: ``Seq2SeqModel.loss`` of its logits (``fastops.cross_entropy``)."""
    return model.loss(arlm_logits(model, batch), batch.tgt_out, label_smoothing)


def marian_loss(model, batch, label_smoothing: float):
    """MarianMTModel's logits through ``F.cross_entropy`` with label smoothing: stock PyTorch's
    fastest path (``transformers``' own ``LabelSmoother`` takes a log-softmax, a gather and a sum)."""
    labels = batch.tgt_out.masked_fill(batch.tgt_out == -1, -100)
    return smoothed_loss(marian_logits(model, batch), labels, label_smoothing)


def smoothed_loss(logits, labels, label_smoothing: float):
    """Mean label-smoothed cross-entropy over labels not -100, through ``F.cross_entropy``."""
    import torch.nn.functional as F

    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(),
        labels.reshape(-1),
        ignore_index=-100,
        label_smoothing=label_smoothing,
    )


@dataclass
class Contender:
    name: str
    model: Any
    logits: Any  # (model, Seq2SeqBatch) -> [B, T, V]
    loss: Any = None  # (model, Seq2SeqBatch, label_smoothing) -> the mean training loss
    lr: float = 1e-3  # peak learning rate
    optimizer: Any = None
    rng: Any = None  # this model's dropout RNG state between its steps
    seconds: float = 0.0
    steps: int = 0
    tokens: int = 0
    losses: list[float] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)


def train_side_by_side(contenders: list[Contender], batches: StepBatches, args) -> None:
    """Alternate optimizer steps between the contenders until each has trained ``args.seconds``."""
    import torch

    from arlm.training.schedule import lr_at

    for c in contenders:
        params = [p for p in c.model.parameters() if p.requires_grad]
        c.optimizer = torch.optim.AdamW(params, lr=c.lr, betas=(0.9, 0.98), weight_decay=0.0)
        c.rng = torch.Generator().manual_seed(args.seed).get_state()
        c.model.train()
    report = time.perf_counter() + 30
    while True:
        live = [c for c in contenders if c.seconds < args.seconds]
        if not live:
            break
        c = min(live, key=lambda c: c.seconds)
        batch = batches(c.steps)
        torch.set_rng_state(c.rng)
        t0 = time.perf_counter()
        lr = lr_at(c.steps, c.lr, c.lr * 0.1, args.warmup_steps, None, c.seconds / args.seconds, 0.05)
        for group in c.optimizer.param_groups:
            group["lr"] = lr
        loss = c.loss(c.model, batch, args.label_smoothing)
        c.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in c.optimizer.param_groups for p in g["params"]], 1.0)
        c.optimizer.step()
        value = float(loss.detach())
        c.seconds += time.perf_counter() - t0
        c.rng = torch.get_rng_state()
        if not math.isfinite(value):
            raise SystemExit(f"{c.name}: loss {value} at step {c.steps}: lower --lr")
        c.losses.append(value)
        c.steps += 1
        c.tokens += batch.n_target_tokens
        batches.release_before(min(x.steps for x in contenders))
        if time.perf_counter() > report:
            report = time.perf_counter() + 30
            print(
                "  "
                + "; ".join(f"{x.name}: {x.steps} steps, {x.seconds:.0f} s, loss {_recent(x):.3f}" for x in contenders),
                file=sys.stderr,
            )
    for c in contenders:
        c.model.eval()


def _recent(c: Contender, n: int = 50) -> float:
    tail = c.losses[-n:]
    return sum(tail) / len(tail) if tail else float("nan")


# -- scoring ---------------------------------------------------------------------------------------


def marian_translate(model, sources: list[list[int]], cfg: Any, limit_of) -> list[list[int]]:
    """Beam search through ``model.generate`` on arlm's batch layout (source + EOS, padded with 1),
    batches of ``cfg.batch_size`` sources sorted by length; output ids without the decoder start,
    cut at the first EOS and at each source's own length limit."""
    import torch

    from arlm.models.seq2seq import source_batch

    mc = model.config
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out: list[list[int]] = [[] for _ in sources]
    with torch.inference_mode():
        for start in range(0, len(order), cfg.batch_size):
            chunk = order[start : start + cfg.batch_size]
            src, mask = source_batch([sources[i] for i in chunk], mc.pad_token_id, mc.eos_token_id)
            limits = limit_of(mask.sum(dim=1))
            gen = model.generate(
                input_ids=src,
                attention_mask=mask.long(),
                num_beams=cfg.num_beams,
                length_penalty=cfg.length_penalty,
                early_stopping=False,
                do_sample=False,
                max_new_tokens=max(limits) + 1,  # + the EOS
            )
            for row, i in enumerate(chunk):
                ids = gen[row, 1:].tolist()  # without the decoder start token
                if mc.eos_token_id in ids:
                    ids = ids[: ids.index(mc.eos_token_id)]
                out[i] = [t for t in ids if t != mc.pad_token_id][: limits[row]]
    return out


def test_loss(c: Contender, data: Data, mc: Any) -> float:
    """Mean teacher-forced cross-entropy (nats, no smoothing) per test target token, EOS included."""
    import torch

    from arlm.models.seq2seq import make_batch, token_batches

    src_ids, tgt_ids = data.ids["test"]
    total = count = 0.0
    with torch.inference_mode():
        for idx in token_batches([len(s) for s in src_ids], [len(t) for t in tgt_ids], 4096, shuffle=False):
            batch = make_batch([src_ids[i] for i in idx], [tgt_ids[i] for i in idx], mc.pad_id, mc.bos_id, mc.eos_id)
            labels = batch.tgt_out.masked_fill(batch.tgt_out == -1, -100)
            logits = c.logits(c.model, batch).float()
            total += float(
                torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100, reduction="sum"
                )
            )
            count += int((labels != -100).sum())
    return total / count


def score(contenders: list[Contender], data: Data, arlm_model: Any) -> None:
    """Test loss, beam-4 translations, BLEU and chrF of each contender into ``results``. Sources are
    sorted by length and cut into batches of 32; each batch is translated by one model, then the
    other, each timed, so that a change of load on the machine hits both."""
    from arlm.evaluation.translation import bleu, chrf
    from arlm.translation.decode import DecodeConfig, output_limits, translate_ids

    src_ids, _ = data.ids["test"]
    srcs, refs = data.text["test"]
    dcfg = DecodeConfig(num_beams=4)
    outs: dict[str, list[list[int]]] = {c.name: [[] for _ in src_ids] for c in contenders}
    seconds = dict.fromkeys(outs, 0.0)
    order = sorted(range(len(src_ids)), key=lambda i: len(src_ids[i]))
    for start in range(0, len(order), dcfg.batch_size):
        chunk = order[start : start + dcfg.batch_size]
        sources = [src_ids[i] for i in chunk]
        for c in contenders:
            t0 = time.perf_counter()
            if c.name == "arlm":
                got = translate_ids(c.model, sources, dcfg)
            else:
                got = marian_translate(c.model, sources, dcfg, lambda n: output_limits(arlm_model, n, dcfg))
            seconds[c.name] += time.perf_counter() - t0
            for i, o in zip(chunk, got):
                outs[c.name][i] = o
    for c in contenders:
        hyps = [data.tokenizer.decode(o) for o in outs[c.name]]
        b = bleu(hyps, refs)
        c.results.update(
            test_loss=test_loss(c, data, arlm_model.config),
            bleu=b["score"],
            bleu_signature=b["signature"],
            chrf=chrf(hyps, refs)["score"],
            translate_s=seconds[c.name],
            sent_s=len(src_ids) / seconds[c.name],
            distinct=len(set(hyps)),
            length_ratio=b["ratio"],
            hypotheses=hyps,
            samples=list(zip(srcs[:2], hyps[:2], refs[:2])),
        )


def save(contenders: list[Contender], data: Data, out: Path) -> None:
    """Both models (safetensors), the tokenizer and each model's test outputs, one line a pair."""
    from arlm.models.seq2seq import save_seq2seq

    out.mkdir(parents=True, exist_ok=True)
    data.tokenizer.hf.save(str(out / "tokenizer.json"))
    for c in contenders:
        if c.name == "arlm":
            save_seq2seq(c.model, out / "arlm")
        else:
            c.model.save_pretrained(out / "marian")
        (out / f"{c.name}.test.txt").write_text("".join(h + "\n" for h in c.results["hypotheses"]), encoding="utf-8")
    (out / "test.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in zip(*data.text["test"])), encoding="utf-8")


def ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return 1.0 if a == b else math.inf


# -- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--corpus",
        default=None,
        help="pairs SPEC (FILE.tsv:SRC,TGT[,DOC], ...) or bible-en-es (default: bible-en-es when "
        "diatheke is installed, else the committed fixture)",
    )
    ap.add_argument("--seconds", type=float, default=240.0, help="training wall-time budget per model")
    ap.add_argument("--preset", default=DEFAULT_PRESET, help="transformer-seq2seq preset (tiny, small, base, big)")
    ap.add_argument("--vocab-size", type=int, default=4096, help="joint BPE vocabulary (specials included)")
    ap.add_argument("--max-tokens", type=int, default=4096, help="padded tokens per batch and side")
    ap.add_argument(
        "--lr",
        type=float,
        default=1e-3,
        help="peak learning rate (AdamW), cosine to 10%% of it. 1e-3 is MarianMTModel's best here: at 2e-3 "
        "it was ahead after 400 steps but collapsed to one repeated output within 900 s (benchmarks/RESULTS.md)",
    )
    ap.add_argument("--lr-arlm", type=float, default=None, help="arlm's peak learning rate (default: --lr)")
    ap.add_argument("--lr-marian", type=float, default=None, help="MarianMTModel's peak learning rate (default: --lr)")
    ap.add_argument("--warmup-steps", type=int, default=100, help="warm-up steps (at most 5%% of the time)")
    ap.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing of the training loss")
    ap.add_argument(
        "--marian-scale-embedding", choices=["on", "off"], default="on", help="MarianConfig.scale_embedding"
    )
    ap.add_argument("--test-pairs", type=int, default=0, help="score an even sample of this many test pairs (0: all)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (both models)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "arlm"), help="where bible-en-es.tsv is kept")
    ap.add_argument(
        "--save-dir",
        default=None,
        help="keep both trained models (arlm's model folder, Marian's save_pretrained) and the test outputs here",
    )
    ap.add_argument("--quick", action="store_true", help="the fixture, 2 s per model, 8 test pairs: checks the paths")
    ap.add_argument("--strict", action="store_true", help="exit status 1 when a ratio is below 1")
    args = ap.parse_args(argv)
    if args.quick:
        args.corpus = args.corpus or FIXTURE_SPEC
        args.seconds = min(args.seconds, 2.0)
        args.vocab_size = min(args.vocab_size, 512)
        args.max_tokens = min(args.max_tokens, 1024)
        args.test_pairs = args.test_pairs or 8
        args.warmup_steps = min(args.warmup_steps, 10)

    # Idle OpenMP threads sleep instead of spinning: on a machine shared with other jobs, a spinning
    # team waits on whichever thread the kernel descheduled, and a step measured 5x slower with 2
    # threads than with passive waiting (set OMP_WAIT_POLICY yourself to override). Read when
    # torch loads its OpenMP runtime, so it is set before the import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from arlm.errors import ArlmError
    from arlm.models.seq2seq import SEQ2SEQ_PRESETS, resolve_seq2seq_config

    torch.set_num_threads(args.threads)
    if args.preset not in SEQ2SEQ_PRESETS["transformer-seq2seq"]:
        ap.error(f"--preset {args.preset!r}: choose from {', '.join(SEQ2SEQ_PRESETS['transformer-seq2seq'])}")
    _, shape = resolve_seq2seq_config(f"transformer-seq2seq/{args.preset}", 1024)
    t_start = time.perf_counter()
    try:
        spec = corpus_spec(args.corpus, Path(args.cache_dir).expanduser())
        data = prepare_data(spec, args.vocab_size, args.seed, shape.max_source_len, shape.block_size, args.test_pairs)
    except ArlmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tok = data.tokenizer
    print(
        f"data: {spec}; split by {data.stats['split_by']}: {data.stats['pairs']} pairs "
        f"(documents {data.stats['documents']}; test: {', '.join(data.stats['test_documents'])}); too long, left out: {data.stats['dropped_too_long']}; "
        f"joint BPE {tok.vocab_size} tokens; {time.perf_counter() - t_start:.1f} s",
        file=sys.stderr,
    )

    arlm_model = build_arlm(args.preset, tok.vocab_size, args.seed, args.label_smoothing)
    marian = build_marian(arlm_model.config, args.seed, args.marian_scale_embedding == "on")
    contenders = [
        Contender("arlm", arlm_model, arlm_logits, arlm_loss, lr=args.lr if args.lr_arlm is None else args.lr_arlm),
        Contender(
            "marian", marian, marian_logits, marian_loss, lr=args.lr if args.lr_marian is None else args.lr_marian
        ),
    ]
    cfg = arlm_model.config
    batches = StepBatches(*data.ids["train"], args.max_tokens, args.seed, cfg.pad_id, cfg.bos_id, cfg.eos_id)
    train_side_by_side(contenders, batches, args)
    score(contenders, data, arlm_model)
    for c in contenders:
        print(
            f"  {c.name}: {c.steps} steps; test BLEU {c.results['bleu']:.2f}; e.g. {c.results['samples'][0][1]!r}",
            file=sys.stderr,
        )

    if args.save_dir:
        save(contenders, data, Path(args.save_dir))

    from arlm.evaluation.translation import copy_baseline

    copy = copy_baseline(*data.text["test"])
    label = {
        "arlm": f"arlm transformer-seq2seq/{args.preset}",
        "marian": "transformers MarianMTModel",
    }
    n_test = len(data.ids["test"][0])
    a, m = contenders
    print(
        f"\ncorpus {spec}: {data.stats['pairs']['train']:,} training pairs "
        f"({data.stats['train_target_tokens']:,} target tokens), {n_test:,} test pairs "
        f"(split by {data.stats['split_by']}); joint BPE {tok.vocab_size:,}; "
        f"{cfg.n_encoder_layer}+{cfg.n_decoder_layer} layers, d_model {cfg.d_model}, {cfg.n_head} heads, "
        f"ffn {cfg.d_ff}, dropout {cfg.dropout}, label smoothing {args.label_smoothing}; "
        f"AdamW peak lr {a.lr:g} (arlm) and {m.lr:g} (Marian), batches of {batches.max_tokens} tokens a side; "
        f"budget {args.seconds:g} s per model; {torch.get_num_threads()} torch threads "
        f"(OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}); torch {torch.__version__}\n"
    )
    print(
        "| model | params | steps | train target tok/s | train loss (last 50) | test loss | "
        "test BLEU (beam 4) | test chrF | output/reference length | distinct outputs | translate sent/s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in contenders:
        r = c.results
        print(
            f"| {label[c.name]} | {trainable_params(c.model):,} | {c.steps:,} | {c.tokens / c.seconds:,.0f} | "
            f"{_recent(c):.3f} | {r['test_loss']:.3f} | {r['bleu']:.2f} | {r['chrf']:.2f} | "
            f"{r['length_ratio']:.2f} | {r['distinct']}/{n_test} | {r['sent_s']:.2f} |"
        )
    print(f"\ncopy-source baseline on the same test pairs: BLEU {copy['bleu']:.2f}, chrF {copy['chrf']:.2f}")
    print(f"BLEU signature: {contenders[0].results['bleu_signature']}")
    checks = [
        ("test BLEU", a.results["bleu"], m.results["bleu"]),
        ("training target tokens/s", a.tokens / a.seconds, m.tokens / m.seconds),
    ]
    failed = False
    for what, x, y in checks:
        r = ratio(x, y)
        ok = r >= 1.0
        failed |= not ok
        print(f"ratio arlm/Marian {what}: {x:,.2f} / {y:,.2f} = {r:.3f} -> {'PASS' if ok else 'FAIL'}")
    sent = ratio(a.results["sent_s"], m.results["sent_s"])
    print(f"ratio arlm/Marian translation sentences/s: {sent:.2f} (information)")
    print(f"total wall time {time.perf_counter() - t_start:.0f} s")
    return 1 if (failed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
