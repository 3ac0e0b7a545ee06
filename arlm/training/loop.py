"""One training loop for every kind: ``train(cfg, token_dataset_path, out_dir)``.

Runs alone, or on each worker of a ``torch.distributed`` process group (Ray Train's TorchTrainer
creates it): the model is wrapped in DDP, every rank takes its own rows of each global batch, losses
are averaged across ranks for logging, and only rank 0 writes checkpoints. Kinds trained by
counting (``trainable = False``: the n-gram) are fitted on the train split instead.

Determinism, which exact resume rests on: the batch of step ``s`` and the dropout masks of step
``s`` are functions of ``(seed, rank, s)`` alone (the torch generator is re-seeded every step), the
learning rate is a function of ``s`` under a step or token budget (``arlm.training.schedule``;
a ``max_seconds`` cap only decides where the run stops), and the optimizer moments, the running
loss sum and the history are in the checkpoint. A run under a step budget stopped after any
checkpoint (by step interval, by time interval, or the end) and resumed reproduces the
uninterrupted run's losses and final weights bit for bit on CPU. Under a time budget alone the
rate also depends on the elapsed time, so such a run resumes where it was but not bit for bit.

GPU path: bf16 autocast, SDPA (flash) attention, ``torch.compile``, fused AdamW, TF32 for what
stays in float32, pinned non-blocking batch copies, and no host-device sync inside a step: the
loss and gradient norm stay on the device and are read only every ``log_interval`` steps.

``reporter(metrics, checkpoint_dir)`` is called on EVERY rank, the same number of times (Ray's
``train.report`` needs that), with ``metrics["kind"]`` one of:

* ``"train"``: every ``log_interval`` steps: step, tokens, train_loss (mean since the last
  report), lr, grad_norm, tokens_per_s, tflops, elapsed_s. ``checkpoint_dir`` None.
* ``"eval"``: every ``eval_interval`` steps and at the end: the train metrics of that step plus
  val_loss, best_val_loss, is_best.
* ``"checkpoint"``: a checkpoint was written (every ``checkpoint_interval`` steps, when
  ``checkpoint_seconds`` passed since the last one, and at the end);
  ``checkpoint_dir`` is ``out_dir/checkpoints/latest`` on rank 0 and None on the other ranks.
* ``"final"``: once at the end: the ``TrainResult`` summary fields.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from arlm.errors import ConfigError
from arlm.models.base import LanguageModel
from arlm.training import checkpoint as ckpt
from arlm.training.config import TrainConfig, as_path, resolve_compile, resolve_device, resolve_dtype
from arlm.training.optim import apply_config, build_optimizer, set_lr
from arlm.training.sampler import EVAL_STREAM, TRAIN_STREAM, RankBatches, WindowSampler, open_token_data, to_device
from arlm.training.schedule import lr_at
from arlm.versioning import clean_stale_tmp

if TYPE_CHECKING:
    from arlm.tokenizers import TokenDataset

log = logging.getLogger("arlm.training")

Reporter = Callable[[dict[str, Any], "Path | None"], None]


@dataclass
class TrainResult:
    out_dir: Path
    model_kind: str
    final_val_loss: float | None
    best_val_loss: float | None
    steps: int
    tokens: int
    history: list[dict[str, Any]]
    latest_checkpoint: Path | None
    best_checkpoint: Path | None
    restarts: int
    elapsed_s: float
    stopped_by: str
    num_params: int
    flops_per_token: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("out_dir", "latest_checkpoint", "best_checkpoint"):
            d[k] = str(d[k]) if d[k] is not None else None
        return d


# -- distributed helpers -----------------------------------------------------------------------
@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False

    @classmethod
    def detect(cls) -> Dist:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), True)
        return cls()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            import torch.distributed as dist

            t = t.clone()
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            t /= self.world_size
        return t

    def broadcast_value(self, value: float, device: torch.device) -> float:
        """Rank 0's value, for every rank."""
        if not self.enabled:
            return value
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64, device=device)
        dist.broadcast(t, src=0)
        return float(t.item())

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()


# Dense bf16 matrix-product peaks (TFLOP/s) from the vendors' data sheets, for the MFU metric;
# ``ARLM_PEAK_TFLOPS`` overrides (e.g. with the figure benchmarks/gpu_train.py measures).
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 70.0,
}


def device_peak_tflops(device: torch.device) -> float | None:
    """The device's bf16 peak in TFLOP/s, or None when unknown (CPUs: MFU is not reported)."""
    if os.environ.get("ARLM_PEAK_TFLOPS"):
        return float(os.environ["ARLM_PEAK_TFLOPS"])
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def step_seed(seed: int, rank: int, step: int) -> int:
    """The torch seed of one step on one rank (dropout masks): independent of history."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, dtype=np.uint64)[0] >> 1)


# -- the loop ----------------------------------------------------------------------------------
def train(
    cfg: TrainConfig,
    token_dataset_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    reporter: Reporter | None = None,
    resume: bool | str | os.PathLike = True,
) -> TrainResult:
    """Train ``cfg.model`` on a token dataset; checkpoints go to ``out_dir/checkpoints``.

    ``resume``: True continues from ``out_dir/checkpoints/latest`` when it exists (an error if
    it belongs to another model or is damaged), False starts afresh (overwriting), a path resumes
    from that checkpoint folder (e.g. the one Ray restored)."""
    dist_info = Dist.detect()
    cfg.validate(token_dataset_path, world_size=dist_info.world_size)
    out_dir = as_path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = open_token_data(token_dataset_path)
    model_cls, model_cfg = cfg.model_config(data.vocab_size, data)
    device = resolve_device(cfg)
    if device.type == "cuda" and dist_info.enabled:
        device = torch.device("cuda", dist_info.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    if device.type == "cuda":  # TF32 for whatever stays float32 (optimizer math, fp32 runs)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    if dist_info.is_main:  # half-written checkpoints of a killed predecessor
        clean_stale_tmp(ckpt.checkpoints_dir(out_dir))
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = model_cls(model_cfg)
    if cfg.init_from is not None or cfg.lora_rank is not None:  # fine-tuning; peft only with LoRA
        from arlm.hf.adapters import prepare_for_finetune

        model = prepare_for_finetune(model, cfg.init_from, cfg.lora_rank, cfg.lora_alpha)
    resume_dir = _resume_dir(out_dir, resume)
    reporter = reporter or (lambda metrics, checkpoint_dir: None)
    if not model_cls.trainable:
        return _fit_counting(cfg, model, data, out_dir, resume_dir, reporter, dist_info)
    return _Loop(cfg, model, data, out_dir, device, dist_info, reporter, resume_dir).run()


def _resume_dir(out_dir: Path, resume: bool | str | os.PathLike) -> Path | None:
    if resume is False:
        return None
    if resume is True:
        return ckpt.find_checkpoint(out_dir, ckpt.LATEST)
    path = Path(resume)
    if not path.is_dir():
        raise ConfigError(f"resume: checkpoint folder {path} does not exist")
    return path


class _Loop:
    def __init__(
        self,
        cfg: TrainConfig,
        model: LanguageModel,
        data: TokenDataset,
        out_dir: Path,
        device: torch.device,
        dist: Dist,
        reporter: Reporter,
        resume_dir: Path | None,
    ):
        self.cfg, self.data, self.out_dir, self.device, self.dist = cfg, data, out_dir, device, dist
        self.reporter = reporter
        self.raw = model.to(device)
        self.block_size = model.config.block_size
        self.autocast_dtype = resolve_dtype(cfg, device)
        self.optimizer = build_optimizer(
            self.raw, cfg.lr, cfg.weight_decay, cfg.betas, device, cfg.optimizer, cfg.muon_momentum, cfg.muon_lr_ratio
        )
        self.total_steps = cfg.total_steps(self.block_size)
        self.peak_tflops = device_peak_tflops(device)
        val_split = data.manifest["splits"].get("val", {})
        self.val_tokens, self.val_bytes = int(val_split.get("n_tokens") or 0), int(val_split.get("n_bytes") or 0)
        self.eot_id = int(data.manifest.get("eot_id", 0))
        self.tokens_per_step = cfg.tokens_per_step(self.block_size)  # nominal (pairs: the packing budget)
        self.pairs = data.manifest.get("task") == "translation"
        self.tokens_seen = 0  # pairs: target tokens trained on (a step's count varies)

        # state that checkpoints carry
        self.step = 0
        self.best_val: float | None = None
        self.last_val: float | None = None
        self.bad_evals = 0
        self.history: list[dict[str, Any]] = []
        self.elapsed_before = 0.0
        self.restarts = 0
        self.stopped_by = ""
        pending_sum, self.pending_steps = 0.0, 0
        if resume_dir is not None:
            saved_optimizer = ckpt.saved_train_config(resume_dir).get("optimizer", "adamw")
            if saved_optimizer != cfg.optimizer:
                raise ConfigError(
                    f"{resume_dir}: checkpoint was trained with optimizer {saved_optimizer!r}, "
                    f"this run asks for {cfg.optimizer!r} (use a new output folder, or resume=False)"
                )
            state = ckpt.load_checkpoint(resume_dir, self.raw, self.optimizer)
            self.step = int(state["step"])
            self.tokens_seen = int(state.get("tokens", 0))
            self.best_val = state.get("best_val_loss")
            self.last_val = state.get("last_val_loss")
            self.bad_evals = int(state.get("bad_evals", 0))
            self.history = list(state.get("history", []))
            self.elapsed_before = float(state.get("elapsed_s", 0.0))
            self.restarts = int(state.get("restarts", 0)) + 1
            self.stopped_by = state.get("stopped_by", "")
            pending_sum, self.pending_steps = (
                float(state.get("pending_loss_sum", 0.0)),
                int(state.get("pending_steps", 0)),
            )
            if int(state.get("sampler", {}).get("seed", cfg.seed)) != cfg.seed:
                raise ConfigError(
                    f"{resume_dir}: checkpoint was trained with seed "
                    f"{state['sampler']['seed']}, this run has seed {cfg.seed}"
                )
            apply_config(self.optimizer, cfg.muon_momentum, cfg.muon_lr_ratio)
            if self.dist.is_main:
                log.info("resumed from %s at step %d (restart %d)", resume_dir, self.step, self.restarts)
        self.loss_sum = torch.tensor(pending_sum, dtype=torch.float32, device=device)
        self.agreed_clock: float | None = None
        self.last_checkpoint_clock = self.elapsed_before  # for checkpoint_seconds

        self.model: torch.nn.Module = self.raw
        if resolve_compile(cfg, device):
            self.model = torch.compile(self.raw, backend=cfg.compile_backend)
        self.eval_model = self.model
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.model = DDP(self.model, device_ids=[device.index] if device.type == "cuda" else None)

        if self.pairs:  # sentence pairs packed by token count (arlm.training.pair_batches)
            from arlm.training.pair_batches import PairBatches

            def pair_batches(split: str, accum: int) -> PairBatches:
                return PairBatches(
                    data,
                    split,
                    self.tokens_per_step,
                    cfg.seed,
                    dist.rank,
                    dist.world_size,
                    accum,
                    device,
                    model.max_source_len,
                    model.max_target_len,
                )

            self.train_batches = pair_batches("train", cfg.grad_accum)
            self.eval_batches = pair_batches("val", 1)
            if self.train_batches.dropped and dist.is_main:
                log.warning("%d training pairs longer than the model's limits are left out", self.train_batches.dropped)
            return
        self.train_batches = RankBatches(
            WindowSampler(data.shards("train"), self.block_size, cfg.seed, TRAIN_STREAM),
            cfg.batch_size,
            dist.rank,
            dist.world_size,
            cfg.grad_accum,
            device,
        )
        self.eval_batches = RankBatches(
            WindowSampler(data.shards("val"), self.block_size, cfg.seed, EVAL_STREAM),
            cfg.batch_size,
            dist.rank,
            dist.world_size,
            1,
            device,
        )

    def tokens(self) -> int:
        """Tokens trained on so far: steps x the fixed batch for language models; the summed target
        tokens of each step's batch for sentence pairs."""
        return self.tokens_seen if self.pairs else self.step * self.tokens_per_step

    # -- pieces ------------------------------------------------------------------------------
    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self.t0)

    def clock(self) -> float:
        """Elapsed seconds that every rank agrees on: read on rank 0 and broadcast every
        ``log_interval`` steps under DDP (a per-rank clock would give ranks different learning
        rates and stop them at different steps), read every step when alone."""
        if not self.dist.enabled:
            return self.elapsed()
        if self.step % self.cfg.log_interval == 0 or self.agreed_clock is None:
            self.agreed_clock = self.dist.broadcast_value(self.elapsed(), self.device)
        return self.agreed_clock

    def lr(self) -> float:
        """The schedule's rate for this step: of the step alone under a step/token budget, of the
        step and the agreed elapsed time under a time budget alone."""
        c = self.cfg
        frac = None
        if self.total_steps is None and c.max_seconds:
            frac = self.clock() / c.max_seconds
        return lr_at(self.step, c.lr, c.min_lr, c.warmup_steps, self.total_steps, frac, c.warmup_fraction)

    def checkpoint_due(self) -> bool:
        """Every ``checkpoint_interval`` steps, or ``checkpoint_seconds`` after the last one (on
        the clock every rank agrees on, so all ranks decide alike)."""
        c = self.cfg
        if self.step % c.checkpoint_interval == 0:
            return True
        return c.checkpoint_seconds is not None and self.clock() - self.last_checkpoint_clock >= c.checkpoint_seconds

    def train_step(self) -> tuple[float, torch.Tensor]:
        cfg = self.cfg
        lr = self.lr()
        set_lr(self.optimizer, lr)
        torch.manual_seed(step_seed(cfg.seed, self.dist.rank, self.step))
        self.model.train()
        if self.pairs:
            self.tokens_seen += self.train_batches.tokens(self.step)
        for m, inputs in enumerate(self.train_batches.micro_batches(self.step)):
            sync = m == cfg.grad_accum - 1
            ctx = self.model.no_sync() if (self.dist.enabled and not sync) else contextlib.nullcontext()
            with ctx:
                with self.autocast():
                    _, loss = self.model(*inputs)
                (loss / cfg.grad_accum).backward()
            self.loss_sum += loss.detach().float() / cfg.grad_accum
        max_norm = cfg.grad_clip if cfg.grad_clip is not None else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.raw.parameters(), max_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.pending_steps += 1
        return lr, grad_norm

    @torch.no_grad()
    def evaluate(self) -> float:
        if self.pairs:
            return self.evaluate_pairs()
        if self.cfg.eval_full:
            return self.evaluate_full()
        self.eval_model.eval()
        total = torch.zeros((), dtype=torch.float32, device=self.device)
        for j in range(self.cfg.eval_batches):
            for x, y in self.eval_batches.micro_batches(j):
                with self.autocast():
                    _, loss = self.eval_model(x, y)
                total += loss.float()
        self.eval_model.train()
        return float(self.dist.mean(total / self.cfg.eval_batches).item())

    @torch.no_grad()
    def evaluate_full(self) -> float:
        """Mean loss over every token of the validation split, each scored once (the first of each
        shard from an end-of-text token): the exact
        windows of ``arlm.evaluation`` (full [B, T] batches, then one shorter tail per shard),
        dealt round-robin to the ranks; nats and counts stay on the device until one final sum.
        Runs the uncompiled model: compiling an eval-mode graph and the tail's shape would cost
        more than the few forward passes it speeds up."""
        from arlm.evaluation.metrics import exact_windows

        self.raw.eval()
        nats = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        # each shard starts a document: its first token is scored from an end-of-text, as in
        # arlm.evaluation, so every token of the split is scored exactly once
        windows = (
            w
            for shard in self.data.shards("val")
            for w in exact_windows(
                np.concatenate([[self.eot_id], np.asarray(shard, dtype=np.int64)]), self.block_size, self.cfg.batch_size
            )
        )
        for k, (inputs, targets) in enumerate(windows):
            if k % self.dist.world_size != self.dist.rank:
                continue
            x, y = to_device(np.concatenate([inputs, targets[:, -1:]], axis=1), self.device)
            with self.autocast():
                logits, _ = self.raw(x)
            nats += torch.nn.functional.cross_entropy(
                logits.float().flatten(0, 1), y.flatten(), reduction="sum"
            ).double()
            count += y.numel()
        self.raw.train()
        sums = torch.stack([nats, torch.tensor(float(count), dtype=torch.float64, device=self.device)])
        if self.dist.enabled:
            import torch.distributed as dist

            dist.all_reduce(sums, op=dist.ReduceOp.SUM)
        return float((sums[0] / sums[1].clamp_min(1)).item())

    @torch.no_grad()
    def evaluate_pairs(self) -> float:
        """Reference loss of the validation pairs: nats per target token (EOS included) without
        label smoothing, summed over ``eval_batches`` token-packed batches (all of them with
        ``eval_full``), dealt round-robin to the ranks; the same figure as
        ``arlm.evaluation.translation.reference_loss``."""
        batches = self.eval_batches
        n = batches.n_batches(0)
        if not self.cfg.eval_full:
            n = min(n, self.cfg.eval_batches)
        self.raw.eval()
        nats = torch.zeros((), dtype=torch.float64, device=self.device)
        count = torch.zeros((), dtype=torch.float64, device=self.device)
        for k in range(n):
            if k % self.dist.world_size != self.dist.rank:
                continue
            src, tgt_in, tgt_out, src_mask = batches.tensors(batches.global_batch(k))
            with self.autocast():
                logits, _ = self.raw(src, tgt_in, None, src_mask)
            nats += torch.nn.functional.cross_entropy(
                logits.float().flatten(0, 1), tgt_out.flatten(), ignore_index=-1, reduction="sum"
            ).double()
            count += (tgt_out != -1).sum().double()
        self.raw.train()
        sums = torch.stack([nats, count])
        if self.dist.enabled:
            import torch.distributed as dist

            dist.all_reduce(sums, op=dist.ReduceOp.SUM)
        return float((sums[0] / sums[1].clamp_min(1)).item())

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "tokens": self.tokens(),
            "best_val_loss": self.best_val,
            "last_val_loss": self.last_val,
            "bad_evals": self.bad_evals,
            "history": self.history,
            "elapsed_s": self.elapsed(),
            "restarts": self.restarts,
            "stopped_by": self.stopped_by,
            "pending_loss_sum": float(self.loss_sum.item()),
            "pending_steps": self.pending_steps,
            "sampler": {
                "seed": self.cfg.seed,
                "position": self.step,
                "global_batch": self.cfg.batch_size,
                "world_size": self.dist.world_size,
            },
            "scheduler": {
                "kind": "warmup-cosine",
                "step": self.step,
                "total_steps": self.total_steps,
                "warmup_steps": self.cfg.warmup_steps,
                "warmup_fraction": self.cfg.warmup_fraction,
            },
            "train_config": self.cfg.to_dict(),
        }

    def save(self, name: str) -> Path | None:
        target = ckpt.checkpoints_dir(self.out_dir) / name
        if self.dist.is_main:
            ckpt.save_checkpoint(target, self.raw, self.optimizer, self.state())
        self.dist.barrier()
        return target if self.dist.is_main else None

    def stop_reason(self) -> str:
        c = self.cfg
        if self.stopped_by == "early_stop":  # sticky; budgets are re-checked so a resumed run may extend them
            return self.stopped_by
        if c.max_steps is not None and self.step >= c.max_steps:
            return "max_steps"
        if c.max_tokens is not None and self.tokens() >= c.max_tokens:
            return "max_tokens"
        if c.max_seconds is not None and self.clock() >= c.max_seconds:
            return "max_seconds"
        return ""

    # -- run ---------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg = self.cfg
        self.t0 = time.perf_counter()
        last_log_t, last_log_tokens = self.t0, self.tokens()
        reason = self.stop_reason()
        while not reason:
            lr, grad_norm = self.train_step()
            reason = self.stop_reason()
            is_eval = self.step % cfg.eval_interval == 0 or bool(reason)
            is_ckpt = bool(reason) or self.checkpoint_due()
            logged = self.step % cfg.log_interval == 0 or is_eval
            if logged:
                rate = (self.tokens() - last_log_tokens) / max(time.perf_counter() - last_log_t, 1e-9)
                metrics = self.log_metrics(lr, grad_norm, rate)
                if is_eval:
                    self.eval_into(metrics)
                    if cfg.early_stop_patience is not None and self.bad_evals >= cfg.early_stop_patience and not reason:
                        reason = self.stopped_by = "early_stop"
                        is_ckpt = True
                self.history.append(metrics)
                self.reporter(dict(metrics), None)
                if is_eval and metrics.get("is_best"):
                    self.save(ckpt.BEST)
            if is_ckpt:
                self.stopped_by = reason
                path = self.save(ckpt.LATEST)
                self.last_checkpoint_clock = self.clock()
                self.reporter({"kind": "checkpoint", "step": self.step, "tokens": self.tokens()}, path)
            if logged:  # throughput counts training steps only, not evaluation or checkpoint writes
                last_log_t, last_log_tokens = time.perf_counter(), self.tokens()
        return self.finish(reason)

    def log_metrics(self, lr: float, grad_norm: torch.Tensor, tokens_per_s: float) -> dict[str, Any]:
        """The only place the loop waits for the device: read the accumulated loss and norm."""
        loss = self.dist.mean(self.loss_sum / max(self.pending_steps, 1))
        metrics = {
            "kind": "train",
            "step": self.step,
            "tokens": self.tokens(),
            "train_loss": float(loss.item()),
            "lr": lr,
            "grad_norm": float(grad_norm.item()),
            "tokens_per_s": tokens_per_s,
            "tflops": tokens_per_s * self.raw.flops_per_token() / 1e12,  # all ranks together
            "elapsed_s": self.elapsed(),
        }
        # tokens_per_s counts the global batch: each device did 1/world_size of the work
        metrics["tflops_per_device"] = metrics["tflops"] / self.dist.world_size
        if self.peak_tflops:  # model FLOPs utilisation of one device against its own peak
            metrics["mfu"] = metrics["tflops_per_device"] / self.peak_tflops
        self.loss_sum.zero_()
        self.pending_steps = 0
        if self.dist.is_main:
            log.info("step %d loss %.4f lr %.2e %.0f tok/s", self.step, metrics["train_loss"], lr, tokens_per_s)
        return metrics

    def eval_into(self, metrics: dict[str, Any]) -> None:
        val = self.evaluate()
        self.last_val = val
        is_best = self.best_val is None or val < self.best_val
        if self.best_val is None or val < self.best_val - self.cfg.early_stop_min_delta:
            self.bad_evals = 0
        else:
            self.bad_evals += 1
        if is_best:
            self.best_val = val
        metrics.update(kind="eval", val_loss=val, best_val_loss=self.best_val, is_best=is_best)
        if self.val_tokens and self.val_bytes:  # comparable across tokenizers: arlm.evaluation's definition
            from arlm.evaluation.bits import bits_per_byte

            # the mean loss per token times the split's tokens (end-of-text included) is its total
            # nats: exact with eval_full, an estimate from eval_batches random windows otherwise
            metrics["val_bits_per_byte"] = bits_per_byte(val * self.val_tokens, self.val_bytes)
        if self.dist.is_main:
            log.info("step %d val_loss %.4f (best %.4f)", self.step, val, self.best_val)

    def finish(self, reason: str) -> TrainResult:
        base = ckpt.checkpoints_dir(self.out_dir)
        result = TrainResult(
            out_dir=self.out_dir,
            model_kind=self.raw.kind,
            final_val_loss=self.last_val,
            best_val_loss=self.best_val,
            steps=self.step,
            tokens=self.tokens(),
            history=self.history,
            latest_checkpoint=base / ckpt.LATEST if (base / ckpt.LATEST).exists() else None,
            best_checkpoint=base / ckpt.BEST if (base / ckpt.BEST).exists() else None,
            restarts=self.restarts,
            elapsed_s=self.elapsed(),
            stopped_by=reason,
            num_params=self.raw.num_params(),
            flops_per_token=self.raw.flops_per_token(),
        )
        summary = {k: v for k, v in result.to_dict().items() if k != "history"}
        self.reporter({"kind": "final", **summary}, None)
        return result


# -- counting kinds ----------------------------------------------------------------------------
def _fit_counting(
    cfg: TrainConfig,
    model: LanguageModel,
    data: TokenDataset,
    out_dir: Path,
    resume_dir: Path | None,
    reporter: Reporter,
    dist: Dist,
) -> TrainResult:
    """The n-gram: count the train split once, score the validation batches, save it."""
    t0 = time.perf_counter()
    restarts = 0
    state: dict[str, Any] = {}
    if resume_dir is not None:
        state = ckpt.load_checkpoint(resume_dir, model, None)
        restarts = int(state.get("restarts", 0)) + 1
    if not state.get("stopped_by"):
        model.fit(data.tokens("train"))
        sampler = WindowSampler(data.shards("val"), model.config.block_size, cfg.seed, EVAL_STREAM)
        batches = RankBatches(sampler, cfg.batch_size, dist.rank, dist.world_size, 1, torch.device("cpu"))
        total = 0.0
        with torch.no_grad():
            for j in range(cfg.eval_batches):
                for x, y in batches.micro_batches(j):
                    total += float(model(x, y)[1])
        val = float(dist.mean(torch.tensor(total / cfg.eval_batches)).item())
        n_train = data.n_tokens("train")
        metrics = {
            "kind": "eval",
            "step": 0,
            "tokens": n_train,
            "val_loss": val,
            "best_val_loss": val,
            "is_best": True,
            "elapsed_s": time.perf_counter() - t0,
        }
        state = {
            "step": 0,
            "tokens": n_train,
            "best_val_loss": val,
            "last_val_loss": val,
            "history": [metrics],
            "elapsed_s": metrics["elapsed_s"],
            "restarts": restarts,
            "stopped_by": "fitted",
            "train_config": cfg.to_dict(),
        }
        reporter(dict(metrics), None)
        latest = ckpt.checkpoints_dir(out_dir) / ckpt.LATEST
        if dist.is_main:
            for name in (ckpt.BEST, ckpt.LATEST):
                ckpt.save_checkpoint(ckpt.checkpoints_dir(out_dir) / name, model, None, state)
        dist.barrier()
        reporter({"kind": "checkpoint", "step": 0, "tokens": n_train}, latest if dist.is_main else None)
    base = ckpt.checkpoints_dir(out_dir)
    result = TrainResult(
        out_dir=out_dir,
        model_kind=model.kind,
        final_val_loss=state["last_val_loss"],
        best_val_loss=state["best_val_loss"],
        steps=0,
        tokens=int(state["tokens"]),
        history=list(state["history"]),
        latest_checkpoint=base / ckpt.LATEST,
        best_checkpoint=base / ckpt.BEST,
        restarts=restarts,
        elapsed_s=float(state["elapsed_s"]),
        stopped_by="fitted",
        num_params=model.num_params(),
        flops_per_token=model.flops_per_token(),
    )
    reporter({"kind": "final", **{k: v for k, v in result.to_dict().items() if k != "history"}}, None)
    return result
