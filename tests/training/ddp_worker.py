"""A rank of the 2-process gloo test; a module of its own so spawned children can import it."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def run_rank(rank: int, world: int, init_file: str, dataset: str, out: str, cfg: dict) -> None:
    import torch.distributed as dist

    from arlm.training import TrainConfig, train

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        calls = []
        result = train(
            TrainConfig(**cfg),
            dataset,
            out,
            reporter=lambda m, c: calls.append([m["kind"], m.get("step"), c is not None]),
        )
        Path(out, f"rank{rank}.json").write_text(json.dumps({"result": result.to_dict(), "calls": calls}))
    finally:
        dist.destroy_process_group()
