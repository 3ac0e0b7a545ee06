"""What Ray Train costs on top of the bare training loop it wraps, measured side by side in one run.

    python benchmarks/ray_overhead.py                     # CPU: gpt/tiny, 1 worker
    python benchmarks/ray_overhead.py --device cuda       # GPU: the baby GPT, TorchTrainer(use_gpu=True)

The same ``TrainConfig`` (same model, batch, steps, seed, random tokens) runs twice:

1. ``bare``: ``arlm.training.train`` called in this process, as the GPU benchmarks do;
2. ``ray``: ``arlm.training.ray_launcher.train_with_ray``, i.e. Ray Train's ``TorchTrainer`` with
   one worker (``use_gpu`` on CUDA) running that same function, checkpoints reported to Ray.

Printed per path: Ray start-up (``ray.init`` of a local cluster), the wall time of the training
call (worker group start, process group, the loop, Ray's checkpoint reporting), the loop's own
steady-state tokens/s (median of its log-interval readings after the first, so compilation and
warm-up are excluded), and both as ratios to the bare loop.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # benchmarks/tokenize.py shadows stdlib

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

# device -> (model, overrides, batch, block, vocab, steps)
SHAPES = {
    "cpu": ("gpt/tiny", {}, 16, 128, 4096, 60),
    "cuda": ("gpt/baby", {"dropout": 0.2}, 64, 256, 65, 300),
}


def steady_rate(history: list[dict]) -> float:
    rates = [h["tokens_per_s"] for h in history if "tokens_per_s" in h]
    return statistics.median(rates[1:] or rates)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps per path (default: 60 CPU, 300 GPU)")
    ap.add_argument(
        "--checkpoint-interval",
        type=int,
        default=None,
        help="steps between checkpoints, each reported to Ray (default: a third of the steps)",
    )
    args = ap.parse_args(argv)

    import torch

    from arlm.tokenizers import random_token_dataset
    from arlm.training import TrainConfig, train
    from arlm.training.ray_launcher import RayOptions, ensure_ray, train_with_ray

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    spec, overrides, batch, block, vocab, steps = SHAPES[args.device]
    steps = args.steps or steps
    log_interval = max(1, steps // 10)
    cfg = TrainConfig(
        model=spec,
        model_overrides=overrides,
        batch_size=batch,
        block_size=block,
        max_steps=steps,
        warmup_steps=min(10, steps),
        log_interval=log_interval,
        eval_interval=10**9,
        eval_batches=1,
        checkpoint_interval=args.checkpoint_interval or max(1, steps // 3),
        device=args.device,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="arlm-rayoverhead-") as tmp:
        root = Path(tmp)
        data = random_token_dataset(root / "tokens", vocab, max(batch * (block + 1) * 20, 200_000)).path

        t0 = time.perf_counter()
        bare = train(cfg, data, root / "bare", resume=False)
        bare_wall = time.perf_counter() - t0
        rows.append(("bare loop (in process)", 0.0, bare_wall, bare.elapsed_s, steady_rate(bare.history)))

        t0 = time.perf_counter()
        ensure_ray(None)
        ray_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        launched = train_with_ray(
            cfg,
            data,
            root / "ray",
            options=RayOptions(num_workers=1, use_gpu=args.device == "cuda", max_failures=0),
            storage_path=root / "ray-storage",
            run_name="overhead",
        )
        ray_wall = time.perf_counter() - t0
        result = launched.result
        rows.append(
            (
                f"Ray Train TorchTrainer, 1 worker{' (use_gpu)' if args.device == 'cuda' else ''}",
                ray_start,
                ray_wall,
                float(result["elapsed_s"]),
                steady_rate(result["history"]),
            )
        )
        import ray

        ray.shutdown()

    dev = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {os.cpu_count()} cores"
    print(
        f"\n{spec} (B={batch}, T={block}, V={vocab}), {steps} steps, checkpoint every "
        f"{cfg.checkpoint_interval}; device {dev}; torch {torch.__version__}\n"
    )
    print(
        "| path | Ray start s | training call s | of which the loop s | loop tokens/s | call s / bare | "
        "tokens/s / bare |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    base_wall, base_rate = rows[0][2], rows[0][4]
    for name, start, wall, loop_s, rate in rows:
        print(
            f"| {name} | {start:.1f} | {wall:.1f} | {loop_s:.1f} | {rate:,.0f} | {wall / base_wall:.2f} | "
            f"{rate / base_rate:.2f} |"
        )
    ray_row = rows[1]
    print(
        f"\nRay Train's fixed cost: {ray_row[1] + ray_row[2] - ray_row[3] - (rows[0][2] - rows[0][3]):.1f} s "
        f"(start-up, worker group, reporting); steady-state speed {100 * (ray_row[4] / base_rate - 1):+.1f}% "
        "against the bare loop"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
