"""One training loop for every model kind.

    TrainConfig(model="gpt/tiny", max_steps=200, ...)      hyper-parameters and budgets
    train(cfg, token_dataset_path, out_dir, reporter=None, resume=True) -> TrainResult

Works alone and on each rank of a torch.distributed process group (DDP, rank-disjoint batches);
checkpoints (safetensors + JSON state, atomic, latest and best) make resume exact. Imports torch
and numpy only: Ray (``ray_launcher``) and MLflow (``tracking``) live in their own modules.

Exports are imported on first use: the command line reads ``TrainConfig`` to build its options
without loading torch.
"""

from __future__ import annotations

from arlm.lazy import lazy_getattr

_EXPORTS = {"TrainConfig": "arlm.training.config", "TrainResult": "arlm.training.loop", "train": "arlm.training.loop"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
