"""The one training loop every model uses: device, bf16 autocast, clipping, validation, exact resume, DDP, logs.

A model plugs in by implementing ``training_loss(batch, step) -> StepOutput``; the same method is called under
``eval()``/``no_grad`` for validation, so a model reports whatever metrics (baselines included) it wants.
"""
from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from engine import distributed
from engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from engine.device import autocast_dtype, select_device
from engine.errors import UserError
from engine.metrics_log import MetricsLogger


@dataclass
class StepOutput:
    """A batch's loss to minimise, scalar metrics to report, and how many examples it covered (for averages)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor | float] = field(default_factory=dict)
    count: int = 1


@dataclass
class TrainConfig:
    """How to train; what to train (the model's own hyperparameters) is saved separately in the checkpoint."""

    run_dir: str = "runs/default"
    checkpoint_path: str | None = None  # default: <run_dir>/checkpoint.pt
    epochs: int | None = None  # stop after this many epochs ...
    max_steps: int | None = None  # ... or this many optimizer steps, whichever comes first
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0  # global-norm clipping; None disables
    device: str = "auto"
    precision: str = "auto"  # bf16 autocast on CUDA when supported, fp32 elsewhere
    seed: int = 0
    num_workers: int = 0
    log_every: int = 50  # steps between training-metric rows
    val_every: int | None = None  # steps between validations; None: at the end of each epoch
    checkpoint_every: int | None = None  # steps between checkpoints; always at epoch ends and at the end
    progress: bool = True
    tensorboard: bool = True

    @property
    def checkpoint(self) -> Path:
        return Path(self.checkpoint_path) if self.checkpoint_path else Path(self.run_dir) / "checkpoint.pt"


class _LossModule(nn.Module):
    """Routes ``forward`` to ``training_loss`` so DistributedDataParallel's gradient hooks see the call."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: Any, step: int) -> tuple[torch.Tensor, dict, int]:
        out = self.model.training_loss(batch, step)
        return out.loss, out.metrics, out.count


def to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors (also inside lists, tuples and dicts) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _MetricSums:
    """Count-weighted sums of metrics, kept as tensors (no device sync per step), reducible over DDP ranks."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor | float] = {}
        self.count = 0

    def add(self, loss: torch.Tensor, metrics: dict, count: int) -> None:
        for key, value in {"loss": loss, **metrics}.items():
            value = value.detach().double() if isinstance(value, torch.Tensor) else float(value)
            self.sums[key] = self.sums.get(key, 0.0) + value * count
        self.count += count

    def means(self, device: torch.device) -> dict[str, float]:
        keys = sorted(self.sums)
        values = [torch.as_tensor(self.sums[k], dtype=torch.float64, device=device).reshape(()) for k in keys]
        totals = distributed.all_reduce_sum(
            torch.stack(values + [torch.tensor(float(self.count), dtype=torch.float64, device=device)]))
        return {k: float(v) / max(float(totals[-1]), 1.0) for k, v in zip(keys, totals[:-1].tolist())}


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, amp_dtype: torch.dtype | None = None,
             step: int = 0) -> dict[str, float]:
    """Count-weighted mean of the model's loss and metrics over ``loader`` (all ranks under DDP)."""
    was_training = model.training
    model.eval()
    sums = _MetricSums()
    for batch in loader:
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model.training_loss(to_device(batch, device), step)
        sums.add(out.loss, out.metrics, out.count)
    model.train(was_training)
    return sums.means(device)


def _format(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())


class Trainer:
    """Fits ``model`` on ``train_data``, validating on ``val_data``; resumes from the checkpoint if one exists.

    The trainer seeds every RNG with ``config.seed`` when constructed: seed before building the model too, if its
    initial weights must be reproducible.

    ``hparams`` (the model's shape-defining settings) and ``extra_state`` (e.g. normalisation statistics) are
    stored in every checkpoint; ``lr_lambda(step)`` multiplies the learning rate (e.g. exponential decay).
    """

    def __init__(self, model: nn.Module, train_data: Dataset, val_data: Dataset | None, config: TrainConfig,
                 hparams: dict[str, Any] | None = None, extra_state: dict[str, Any] | None = None,
                 lr_lambda: Callable[[int], float] | None = None, collate_fn: Callable | None = None):
        if len(train_data) == 0:
            raise UserError("no training examples: the dataset is empty")
        if config.epochs is None and config.max_steps is None:
            raise UserError("give a number of epochs or of steps to train for")
        self.config = config
        self.model = model
        self.train_data = train_data
        self.val_data = val_data if val_data is not None and len(val_data) > 0 else None
        self.hparams = hparams or {}
        self.extra_state = extra_state or {}
        self.collate_fn = collate_fn
        self.device = select_device(distributed.setup(config.device))
        self.amp_dtype = autocast_dtype(self.device, config.precision)
        self.is_main = distributed.is_main_process()
        seed_everything(config.seed)
        self.model.to(self.device)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                          weight_decay=config.weight_decay)
        self.scheduler = (torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda) if lr_lambda else None)
        self.wrapped: nn.Module = _LossModule(model)
        if distributed.is_initialized():
            self.wrapped = DistributedDataParallel(
                self.wrapped, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.epoch = 0  # completed epochs
        self.step = 0  # optimizer steps taken
        self.batch_in_epoch = 0  # batches of the current epoch already consumed
        self.resumed = self._maybe_resume()

    # ------------------------------------------------------------------------------------------- checkpoints
    def _maybe_resume(self) -> bool:
        path = self.config.checkpoint
        if not path.exists():
            return False
        state = load_checkpoint(path, map_location=self.device)
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise UserError(f"checkpoint {path} does not fit this model ({e}); use another checkpoint path") from e
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step, self.batch_in_epoch = state["epoch"], state["step"], state["batch_in_epoch"]
        set_rng_state(state["rng"])
        self._apply_new_learning_rate(state.get("train_config", {}).get("learning_rate"))
        if self.is_main:
            tqdm.write(f"resuming from {path} (epoch {self.epoch}, step {self.step})")
        return True

    def _apply_new_learning_rate(self, saved_lr: float | None) -> None:
        """A resumed run given another learning rate uses it (the optimizer state would restore the old one)."""
        new_lr = self.config.learning_rate
        if saved_lr is None or saved_lr == new_lr:
            return
        for group in self.optimizer.param_groups:
            group["lr"] *= new_lr / saved_lr
            group["initial_lr"] = new_lr
        if self.scheduler is not None:
            self.scheduler.base_lrs = [new_lr] * len(self.optimizer.param_groups)
        if self.is_main:
            tqdm.write(f"learning rate changed from {saved_lr:g} to {new_lr:g} on resuming")

    def save(self) -> None:
        """Write the full training state (exact resume) atomically; only the main process writes."""
        if not self.is_main:
            return
        save_checkpoint(self.config.checkpoint, {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "epoch": self.epoch, "step": self.step, "batch_in_epoch": self.batch_in_epoch,
            "rng": rng_state(),
            "hparams": self.hparams,
            "extra": self.extra_state,
            "train_config": asdict(self.config),
        })

    # ------------------------------------------------------------------------------------------------- loops
    def _epoch_indices(self) -> list[int]:
        """This rank's example order for the current epoch: a permutation fixed by (seed, epoch)."""
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.train_data), generator=generator).tolist()
        world, rank = distributed.world_size(), distributed.rank()
        if world > 1:
            order = order[rank::world][: len(order) // world]  # equal counts per rank keep DDP in step
        return order[self.batch_in_epoch * self.config.batch_size:]

    def _loader(self, data: Dataset, indices: list[int] | None) -> DataLoader:
        # A private generator: making a loader's iterator must not draw from the global RNG, or a resumed
        # run (which makes one more iterator) would diverge from an uninterrupted one.
        return DataLoader(data, batch_size=self.config.batch_size, sampler=indices, shuffle=False,
                          num_workers=self.config.num_workers, collate_fn=self.collate_fn,
                          pin_memory=self.device.type == "cuda",
                          generator=torch.Generator().manual_seed(self.config.seed))

    def _val_loader(self) -> DataLoader | None:
        if self.val_data is None:
            return None
        indices = list(range(len(self.val_data)))[distributed.rank()::distributed.world_size()]
        return self._loader(self.val_data, indices)

    def _done(self) -> bool:
        c = self.config
        steps_done = c.max_steps is not None and self.step >= c.max_steps
        return steps_done or (c.epochs is not None and self.epoch >= c.epochs)

    def fit(self) -> list[dict[str, Any]]:
        """Train until the epoch or step budget is spent; return the logged rows."""
        c = self.config
        logger = MetricsLogger(c.run_dir, resume_step=self.step, tensorboard=c.tensorboard, enabled=self.is_main)
        if self._done():
            if self.is_main:
                tqdm.write(f"checkpoint {c.checkpoint} already holds {self.epoch} epoch(s), {self.step} step(s): "
                           "nothing left to train")
            return logger.rows
        val_loader = self._val_loader()
        self.wrapped.train()
        try:
            while not self._done():
                self._train_epoch(logger, val_loader)
        finally:
            logger.close()
        return logger.rows

    def _train_epoch(self, logger: MetricsLogger, val_loader: DataLoader | None) -> None:
        c = self.config
        indices = self._epoch_indices()
        batches_per_epoch = self.batch_in_epoch + math.ceil(len(indices) / c.batch_size)
        total = f"/{c.epochs}" if c.epochs else ""
        bar = tqdm(total=batches_per_epoch, initial=self.batch_in_epoch, desc=f"epoch {self.epoch + 1}{total}",
                   unit="batch", disable=not (c.progress and self.is_main), file=sys.stderr, leave=False)
        epoch_sums, window_sums = _MetricSums(), _MetricSums()
        started = time.monotonic()
        for batch in self._loader(self.train_data, indices):
            loss, metrics, count = self._train_step(batch)
            epoch_sums.add(loss, metrics, count)
            window_sums.add(loss, metrics, count)
            self.step += 1
            self.batch_in_epoch += 1
            bar.update()
            if self.step % 10 == 0:
                bar.set_postfix(loss=f"{float(loss):.4g}")
            if self.step % c.log_every == 0:
                row = {f"train/{k}": v for k, v in window_sums.means(self.device).items()}
                logger.log({"step": self.step, "epoch": self.epoch, "lr": self.optimizer.param_groups[0]["lr"], **row})
                window_sums = _MetricSums()
            if c.val_every and val_loader is not None and self.step % c.val_every == 0:
                self._validate(logger, val_loader, prefix=f"step {self.step}")
            if c.checkpoint_every and self.step % c.checkpoint_every == 0:
                self.save()
            if c.max_steps is not None and self.step >= c.max_steps:
                break
        bar.close()
        finished_epoch = self.batch_in_epoch >= batches_per_epoch
        if finished_epoch:
            self.epoch += 1
            self.batch_in_epoch = 0
        train = {f"train/{k}": v for k, v in epoch_sums.means(self.device).items()}
        row = {"step": self.step, "epoch": self.epoch, **train}
        if val_loader is not None and not c.val_every:
            row.update({f"val/{k}": v for k, v in evaluate(self.model, val_loader, self.device, self.amp_dtype,
                                                             self.step).items()})
        label = f"epoch {self.epoch}{total}" if finished_epoch else f"step {self.step}"
        logger.log(row, console=f"{label}  {_format({k: v for k, v in row.items() if '/' in k})}  "
                                f"({time.monotonic() - started:.1f} s)")
        self.save()

    def _validate(self, logger: MetricsLogger, val_loader: DataLoader, prefix: str) -> None:
        metrics = {f"val/{k}": v for k, v in evaluate(self.model, val_loader, self.device, self.amp_dtype,
                                                       self.step).items()}
        logger.log({"step": self.step, "epoch": self.epoch, **metrics}, console=f"{prefix}  {_format(metrics)}")

    def _train_step(self, batch: Any) -> tuple[torch.Tensor, dict, int]:
        c = self.config
        batch = to_device(batch, self.device)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            loss, metrics, count = self.wrapped(batch, self.step)
        if not torch.isfinite(loss):
            raise UserError(f"training diverged: the loss is {float(loss.detach())} at step {self.step}; "
                            "lower the learning rate (the last checkpoint is kept)")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if c.grad_clip:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
            metrics = {**metrics, "grad_norm": grad_norm}
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach(), metrics, count


def run_training(trainer: Trainer) -> list[dict[str, Any]]:
    """Fit and always tear the process group down, also when training fails."""
    try:
        return trainer.fit()
    finally:
        distributed.teardown()


