"""Time to quality: wall seconds from process start until the baby GPT's validation loss on the
whole held-out tail of tiny-shakespeare first reaches a target, character level.

    python benchmarks/time_to_quality.py --corpus ../shared/data/tinyshakespeare.txt
    python benchmarks/time_to_quality.py --corpus ... --recipes arlm      # only the tuned recipe
    python benchmarks/time_to_quality.py --corpus ... --quick             # CPU: tiny model, check the path

The text's first 90% trains, its last 10% validates, as nanoGPT's ``shakespeare_char`` does
(65 characters; loss in nats per character). The recipes run in one process through arlm's one
training loop, side by side:

* ``nanogpt``: nanoGPT's published baby-GPT settings (6 layers, 6 heads, 384 wide, context 256,
  batch 64, learned positions, dropout 0.2, lr 1e-3 -> 1e-4 cosine over 5000 steps, warm-up 100,
  betas (0.9, 0.99), evaluation every 250 steps), the reference;
* ``+rope``: the same with rotary positions;
* ``+schedule``: and a higher peak learning rate on a shorter cosine (2e-3 -> 2e-4 over 2500
  steps), evaluation every 100 steps, early stopping once validation stops improving;
* ``+muon``: and the Muon optimizer for the attention/MLP matrices (``TrainConfig.optimizer``);
* ``arlm``: the recipe arlm recommends, every step above.

``--recipes all`` runs the whole ablation, so each step's effect is measured on its own.

Both are judged by the same exact evaluation (``eval_full``: every validation character scored
once, non-overlapping windows), so "reached 1.47" means the same thing for both. A recipe's time is
the process start-up (imports, reading and encoding the text: paid once, counted for each) plus
its own wall time up to that evaluation, compilation included.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # benchmarks/tokenize.py shadows stdlib

import time  # noqa: E402

PROCESS_START = time.time()
try:  # the true start of the process, before the interpreter's own start-up
    import psutil  # noqa: E402

    PROCESS_START = psutil.Process().create_time()
except Exception:  # pragma: no cover - psutil is a dependency; keep the fallback honest
    pass

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

NANOGPT = dict(
    model="gpt/baby",
    model_overrides={"positions": "learned", "dropout": 0.2},
    batch_size=64,
    block_size=256,
    lr=1e-3,
    min_lr=1e-4,
    warmup_steps=100,
    max_steps=5000,
    betas=(0.9, 0.99),
    weight_decay=0.1,
    grad_clip=1.0,
    eval_interval=250,
    early_stop_patience=3,
    optimizer="adamw",
)
# The improvements, each one step on top of the previous, so each is measured on its own.
STEPS = {
    "rope": dict(model_overrides={"positions": "rope", "dropout": 0.2}),
    "schedule": dict(lr=2e-3, min_lr=2e-4, max_steps=2500, eval_interval=100, early_stop_patience=4),
    "muon": dict(optimizer="muon"),
}


def _cumulative() -> dict[str, dict]:
    recipes, settings = {"nanogpt": dict(NANOGPT)}, dict(NANOGPT)
    for name, change in STEPS.items():
        settings = {**settings, **change}
        recipes[f"+{name}"] = settings
    return recipes


RECIPES = _cumulative()
RECIPES["arlm"] = RECIPES[f"+{list(STEPS)[-1]}"]  # the recipe arlm recommends: every step above
DEFAULT_RECIPES = "arlm,nanogpt"
# Smaller stand-ins for the baby GPT, for machines without a GPU: (setting overrides, step scale).
SIZES = {
    "baby": ({}, 1.0),
    "mid": (
        dict(model_overrides={"n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.1}, batch_size=32, block_size=128),
        0.1,
    ),
    "tiny": (
        dict(model_overrides={"n_layer": 2, "n_head": 2, "n_embd": 64, "dropout": 0.0}, batch_size=16, block_size=64),
        0.05,
    ),
}


def encode_chars(text: str) -> tuple[np.ndarray, int]:
    chars = sorted(set(text))
    table = {c: i for i, c in enumerate(chars)}
    return np.fromiter((table[c] for c in text), dtype=np.int64, count=len(text)), len(chars)


def run_recipe(name: str, overrides: dict, data: Path, out: Path, target: float, args) -> dict:
    from arlm.training import TrainConfig, train

    settings = {**RECIPES[name], **overrides}
    settings["model_overrides"] = {**RECIPES[name]["model_overrides"], **overrides.get("model_overrides", {})}
    if settings.get("optimizer", "adamw") != "muon":  # Muon's own knobs mean nothing to AdamW recipes
        settings = {k: v for k, v in settings.items() if not k.startswith("muon_")}
    for key in ("max_steps", "warmup_steps", "eval_interval"):  # shorter runs keep the recipes' proportions
        settings[key] = max(1, round(settings[key] * args.step_scale))
    if args.max_steps:
        settings["max_steps"] = args.max_steps
    cfg = TrainConfig(
        **settings,
        eval_full=True,
        eval_batches=1,
        checkpoint_interval=10**9,
        log_interval=50,
        max_seconds=args.max_seconds,
        device=args.device,
        compile=args.compile,
        seed=args.seed,
    )
    evals: list[tuple[float, int, float]] = []
    t0 = time.perf_counter()

    def reporter(m, _c):
        if m.get("kind") == "eval":
            evals.append((time.perf_counter() - t0, m["step"], m["val_loss"]))

    result = train(cfg, data, out, reporter=reporter, resume=False)
    hit = next(((t, s, v) for t, s, v in evals if v <= target), None)
    best = min(evals, key=lambda e: e[2])
    return {
        "recipe": name,
        "steps": result.steps,
        "stopped_by": result.stopped_by,
        "evals": evals,
        "hit": hit,
        "best": best,
        "train_s": result.elapsed_s,
        "tok_s": result.tokens / max(result.elapsed_s, 1e-9),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="../shared/data/tinyshakespeare.txt", help="a UTF-8 text file")
    ap.add_argument(
        "--recipes",
        default=DEFAULT_RECIPES,
        help=f"comma-separated, from: {', '.join(RECIPES)} ('+X': the one before plus X; "
        "'all' runs the whole ablation)",
    )
    ap.add_argument(
        "--target", type=float, default=None, help="validation loss to reach (default 1.47; mid 2.0; tiny 2.6)"
    )
    ap.add_argument("--max-seconds", type=float, default=None, help="wall budget per recipe")
    ap.add_argument("--max-steps", type=int, default=None, help="override each recipe's step budget")
    ap.add_argument(
        "--step-scale",
        type=float,
        default=None,
        help="multiply every recipe's steps, warm-up and evaluation interval (default 1; quick 0.05)",
    )
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--compile", default="auto", choices=["auto", "true", "false"])
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument(
        "--size",
        choices=list(SIZES),
        default="baby",
        help="baby (the GPU benchmark); mid (4 layers, 128 wide, context 128, steps x0.1) and tiny "
        "(2 layers, 64 wide, steps x0.05) for CPUs",
    )
    ap.add_argument("--quick", action="store_true", help="--size tiny: a CPU check of the path")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="override a TrainConfig field in every recipe, e.g. --set muon_lr_ratio=2 (repeatable)",
    )
    args = ap.parse_args(argv)
    args.compile = {"auto": "auto", "true": True, "false": False}[args.compile]
    if args.quick:
        args.size = "tiny"
    size_overrides, size_scale = SIZES[args.size]
    if args.step_scale is None:
        args.step_scale = size_scale
    try:
        extra = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    except ValueError as exc:
        print(f"error: --set takes KEY=JSON, e.g. lr=0.002 ({exc})", file=sys.stderr)
        return 2
    from arlm.training import TrainConfig

    unknown_keys = sorted(set(extra) - set(TrainConfig.__dataclass_fields__))
    if unknown_keys:
        print(f"error: --set: {', '.join(unknown_keys)} is not a TrainConfig field", file=sys.stderr)
        return 2
    target = args.target if args.target is not None else {"baby": 1.47, "mid": 2.0, "tiny": 2.6}[args.size]
    path = Path(args.corpus)
    if not path.is_file():
        print(f"error: corpus file {path} does not exist", file=sys.stderr)
        return 2
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    if names == ["all"]:
        names = [n for n in RECIPES if n != "arlm"]
    unknown = [n for n in names if n not in RECIPES]
    if unknown or not names:
        print(f"error: unknown recipe(s) {unknown}; valid: {', '.join(RECIPES)}", file=sys.stderr)
        return 2

    import torch

    import arlm.training  # noqa: F401  (imported here so start-up counts it)
    from arlm.tokenizers import token_dataset_from_arrays

    text = path.read_text(encoding="utf-8")
    ids, vocab = encode_chars(text)
    cut = int(0.9 * len(ids))
    results = []
    with tempfile.TemporaryDirectory(prefix="arlm-ttq-") as tmp:
        data = token_dataset_from_arrays(
            Path(tmp) / "chars",
            {"train": ids[:cut], "val": ids[cut:]},
            vocab_size=vocab,
            eot_id=0,
            pad_id=0,
            n_bytes={"train": len(text[:cut].encode()), "val": len(text[cut:].encode())},
            source="chars",
        ).path
        startup = time.time() - PROCESS_START
        for name in names:
            overrides = {**size_overrides, **extra}
            results.append(run_recipe(name, overrides, data, Path(tmp) / name, target, args))
            r = results[-1]  # a line per recipe as it ends, so a run cut short still says something
            reached = (
                f"reached {target} at step {r['hit'][1]}, {startup + r['hit'][0]:.1f} s from process start"
                if r["hit"]
                else f"did not reach {target}"
            )
            print(
                f"[{name}] {r['steps']} steps ({r['stopped_by']}); {reached}; best val {r['best'][2]:.4f} at step "
                f"{r['best'][1]}",
                flush=True,
            )

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    dev_name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"\n{path.name}: {len(text):,} chars, vocab {vocab}; train {cut:,} / val {len(ids) - cut:,} chars; "
        f"target val loss {target}; device {dev_name}; torch {torch.__version__}; start-up {startup:.1f} s\n"
    )
    print(
        "| recipe | s to target (from process start) | step reached | best val loss | at step | steps run | "
        "train tok/s | vs nanogpt recipe |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    ref = next((r for r in results if r["recipe"] == "nanogpt" and r["hit"]), None)
    for r in results:
        reach = f"{startup + r['hit'][0]:.1f}" if r["hit"] else "not reached"
        step = str(r["hit"][1]) if r["hit"] else "-"
        ratio = (
            f"{(startup + ref['hit'][0]) / (startup + r['hit'][0]):.2f}x faster"
            if ref and r["hit"] and r is not ref
            else ""
        )
        print(
            f"| {r['recipe']} | {reach} | {step} | {r['best'][2]:.4f} | {r['best'][1]} | {r['steps']} | "
            f"{r['tok_s']:,.0f} | {ratio} |"
        )
    for r in results:
        curve = ", ".join(f"{s}:{v:.3f}" for _, s, v in r["evals"])
        print(f"\n{r['recipe']} validation curve (step:loss): {curve}")
    finite = all(math.isfinite(r["best"][2]) for r in results)
    # the target, judged only as it is stated: the tuned recipe first in a fresh process (no
    # warm caches from an earlier recipe), at full size and schedule, nothing overridden
    tuned = results[0] if RECIPES[results[0]["recipe"]] is RECIPES["arlm"] else None
    as_stated = args.size == "baby" and target == 1.47 and not extra and not args.max_steps and args.step_scale == 1.0
    if as_stated and tuned is not None:
        seconds = startup + tuned["hit"][0] if tuned["hit"] else math.inf
        ok = seconds <= 25.0 and tuned["best"][2] <= 1.42
        print(
            f"\ntarget (issue 8): val 1.47 within 25 s of process start and a best val <= 1.42: "
            f"{'PASS' if ok else 'FAIL'} ({seconds:.1f} s, best {tuned['best'][2]:.4f})"
        )
        return 0 if ok and finite else 1
    return 0 if finite else 1


if __name__ == "__main__":
    sys.exit(main())
