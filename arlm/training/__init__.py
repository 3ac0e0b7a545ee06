"""One training loop for every model kind.

    TrainConfig(model="gpt/tiny", max_steps=200, ...)      hyper-parameters and budgets
    train(cfg, token_dataset_path, out_dir, reporter=None, resume=True) -> TrainResult

Works alone and on each rank of a torch.distributed process group (DDP, rank-disjoint batches);
checkpoints (safetensors + JSON state, atomic, latest and best) make resume exact. Imports torch
and numpy only: Ray (``ray_launcher``) and MLflow (``tracking``) live in their own modules.
"""

from arlm.training.config import TrainConfig
from arlm.training.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
