"""The one training loop every model uses: device, bf16 autocast, clipping, validation, exact resume, DDP, logs,
one run per checkpoint at a time, the time the steps left will take and a time budget.

A model plugs in by implementing ``training_loss(batch, step) -> StepOutput``; the same method is called under
``eval()``/``no_grad`` for validation, so a model reports whatever metrics (baselines included) it wants.
"""
from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, default_collate
from tqdm import tqdm

from engine import distributed
from engine.arguments import duration_text
from engine.averages import WeightAverage
from engine import memory
from engine.checkpoint import ctrl_c_held, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from engine.device import autocast_dtype, select_device, to_device
from engine.errors import UserError
from engine.lock import exclusive_lock
from engine.metrics import MetricSums, evaluate
from engine.metrics_log import MetricsLogger

# The step time is measured after the warm-up steps (loader start, first allocations) over PACE_STEPS steps or
# PACE_SECONDS, whichever comes first, and said no later than PACE_LATEST into the run (from its start if need be).
WARM_UP_STEPS = 2
PACE_STEPS = 10
PACE_SECONDS = 20.0
PACE_LATEST = 60.0
LONG_RUN = 3600.0  # seconds: an estimate above this also names --max-time


@dataclass
class TrainConfig:
    """How to train; what to train (the model's own hyperparameters) is saved separately in the checkpoint.

    The metrics log gets at most one row per step: every ``log_every`` steps, at each epoch end, at the end of
    training and where ``max_time`` stops it. A row holds ``step``, ``epoch`` (the 1-based epoch that step belongs
    to), ``lr`` (the learning rate that step used), ``train/*`` (means over the steps since the previous row) and
    ``val/*`` when validation ran after that step: every ``val_every`` steps (each epoch end if None) and after the
    last step.
    """

    run_dir: str = "runs/default"
    checkpoint_path: str | None = None  # default: <run_dir>/checkpoint.pt
    epochs: int | None = None  # stop after this many epochs ...
    max_steps: int | None = None  # ... or this many optimizer steps, whichever comes first
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0  # global-norm clipping; None disables
    ema_decay: float | None = None  # keep an exponential moving average of the weights (see Trainer); None: off
    keep_best: bool = False  # end with the validated weights of the lowest val/loss, not the last (see Trainer)
    device: str = "auto"
    precision: str = "auto"  # bf16 autocast on CUDA when supported, fp32 elsewhere
    seed: int = 0
    num_workers: int = 0
    log_every: int = 50  # steps between training-metric rows
    val_every: int | None = None  # steps between validations; None: at the end of each epoch
    checkpoint_every: int | None = None  # steps between checkpoints; always at epoch ends and at the end
    progress: bool = True
    tensorboard: bool = True
    wait: bool = False  # another run holds the checkpoint: wait for it to finish instead of stopping
    max_time: float | None = None  # seconds of training in this run; then a checkpoint and a normal return
    micro_batch: int | None = None  # examples per forward pass, gradients accumulated to batch_size; None: the
    # largest that the memory estimate (engine.memory) finds room for, up to batch_size

    @property
    def checkpoint(self) -> Path:
        return Path(self.checkpoint_path) if self.checkpoint_path else Path(self.run_dir) / "checkpoint.pt"

    @property
    def lock_path(self) -> Path:
        """The lock a training holds on its checkpoint (and so on its logs) for as long as it runs."""
        return self.checkpoint.with_name(f".{self.checkpoint.name}.lock")


@dataclass(frozen=True)
class Due:
    """What is due after an optimizer step, as the TrainConfig promises; a pure decision, kept apart from doing it."""

    epoch_ends: bool  # the step trained the epoch's last batch
    run_ends: bool  # the step or epoch budget is spent
    validation: bool  # every ``val_every`` steps, else at each epoch end
    final_validation: bool  # after the last step when no regular validation falls there
    checkpoint: bool  # every ``checkpoint_every`` steps, at each epoch end and at the end
    row: bool  # every ``log_every`` steps, and whenever a validation, an epoch end or the end is due

    @classmethod
    def after_step(cls, step: int, epochs_done: int, epoch_ends: bool, config: TrainConfig, validating: bool) -> Due:
        """What is due after optimizer step ``step``, taken in epoch ``epochs_done + 1``; ``validating``: there is
        validation data."""
        c = config
        run_ends = ((c.max_steps is not None and step >= c.max_steps)
                    or (epoch_ends and c.epochs is not None and epochs_done + 1 >= c.epochs))
        validation = validating and (step % c.val_every == 0 if c.val_every else epoch_ends)
        final_validation = validating and run_ends and not validation
        checkpoint = epoch_ends or run_ends or bool(c.checkpoint_every and step % c.checkpoint_every == 0)
        row = validation or final_validation or epoch_ends or run_ends or step % c.log_every == 0
        return cls(epoch_ends, run_ends, validation, final_validation, checkpoint, row)


class _LossModule(nn.Module):
    """Routes ``forward`` to ``training_loss`` so DistributedDataParallel's gradient hooks see the call."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: Any, step: int) -> tuple[torch.Tensor, dict, int]:
        out = self.model.training_loss(batch, step)
        return out.loss, out.metrics, out.count


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _format(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())


def _rate(seconds_per_step: float) -> str:
    """1.9 s/step, or for fast steps 120 steps/s."""
    value, unit = (seconds_per_step, "s/step") if seconds_per_step >= 1 else (1 / seconds_per_step, "steps/s")
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"


class Trainer:
    """Fits ``model`` on ``train_data``, validating on ``val_data``; resumes from the checkpoint if one exists.

    The trainer seeds every RNG with ``config.seed`` when constructed: seed before building the model too, if its
    initial weights must be reproducible.

    ``hparams`` (the model's shape-defining settings) and ``extra_state`` (e.g. normalisation statistics) are
    stored in every checkpoint; ``lr_lambda(step)`` multiplies the learning rate (e.g. exponential decay).

    With ``config.ema_decay`` the trainer also keeps a moving average of the parameters (engine.averages). The
    average is what validation measures, what the checkpoint's ``ema`` holds beside the raw ``model`` weights (which
    resuming trains on) and what the model holds when :meth:`fit` returns.

    With ``config.keep_best`` the trainer also keeps a copy of the weights that validation measured (the average,
    when kept) at the lowest ``val/loss`` so far: the checkpoint's ``best`` (with its step, epoch and validation
    metrics), what the model holds when :meth:`fit` returns and what ``trained_weights`` gives inference. Training
    goes on from the last weights; the copy only picks what is kept when music it was not trained on stops improving.

    From construction until :meth:`fit` ends the trainer locks its checkpoint, so a second run on it stops (or,
    with ``config.wait``, waits); a trainer used without fitting releases it with :meth:`close`.

    A few steps in, the trainer says its step time and what the steps left will take. With ``config.max_time`` it
    stops once that much time was spent training in this run, saving the steps taken (``stopped_by_time``).
    """

    clock: Callable[[], float] = staticmethod(time.monotonic)  # seconds; tests put a fake clock here

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
        if len(train_data) < distributed.world_size():
            raise UserError(f"{len(train_data)} training example(s) cannot be shared among "
                            f"{distributed.world_size()} processes; start fewer or add data")
        self.is_main = distributed.is_main_process()
        self._run_lock = contextlib.ExitStack()
        try:
            self._lock_run()
            self.amp_dtype = autocast_dtype(self.device, config.precision)
            seed_everything(config.seed)
            self.model.to(self.device)
            self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                              weight_decay=config.weight_decay)
            self.scheduler = (torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda) if lr_lambda else None)
            self.average = WeightAverage(model, config.ema_decay) if config.ema_decay is not None else None
            self.best: dict[str, Any] | None = None  # keep_best: {"weights", "step", "epoch", "metrics"}
            self.wrapped: nn.Module = _LossModule(model)
            if distributed.is_initialized():
                self.wrapped = DistributedDataParallel(
                    self.wrapped, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            self.epoch = 0  # completed epochs
            self.step = 0  # optimizer steps taken
            self.examples_in_epoch = 0  # examples of the current epoch already trained on, over all ranks
            self.resumed = self._maybe_resume()
            self.micro_batch = self._plan_micro_batch()
        except BaseException:
            self.close()
            raise
        self._saved_step = self.step  # the step the checkpoint on disk holds
        self._checked_step = self.step  # the last step after which the loss or the weights were seen finite
        self._updating = False  # inside an optimizer update: the state is half old, half new
        self._step_start_rng, self._step_start = rng_state(), self.step  # the RNG as the next step begins
        self.stopped_by_time = False  # fit() stopped at the time budget, before the step or epoch budget

    def close(self) -> None:
        """Release the run's lock (fit() does this when it ends); safe to call more than once."""
        self._run_lock.close()

    def _lock_run(self) -> None:
        """Take the run's lock on rank 0; every rank stops if rank 0 cannot have it."""
        c = self.config
        error = None
        if self.is_main:
            try:
                self._run_lock.enter_context(exclusive_lock(c.lock_path, f"the run at {c.checkpoint}", wait=c.wait))
            except UserError as e:
                error = e
        if not distributed.all_ranks_ok(error is None):
            raise error or UserError(f"the run at {c.checkpoint} is in use by another process")

    # ------------------------------------------------------------------------------------------------ memory
    def _plan_micro_batch(self) -> int:
        """The examples per forward pass: ``config.micro_batch`` if given, else the batch size when the memory
        estimate finds room for it, else the largest micro-batch that fits (every rank takes the smallest). A model
        that cannot train even one example at a time is refused before any work."""
        c = self.config
        if c.micro_batch is not None:
            if c.micro_batch < 1:
                raise UserError(f"the micro-batch must be at least 1 example, got {c.micro_batch}")
            return min(c.micro_batch, c.batch_size)
        estimate = self._estimate_memory()
        if estimate.free is None:
            return c.batch_size
        fits = estimate.largest_batch()
        if fits < 1:
            raise UserError(
                f"this model needs about {memory.gib(estimate.needs(1))} to train even one example at a time "
                f"({memory.gib(estimate.fixed)} for gradients, optimizer state and the rest, "
                f"{memory.gib(estimate.per_example)} per example) and {self.device} has "
                f"{memory.gib(estimate.free)} free: train a smaller model or shorter windows, or use a machine with "
                "more memory")
        micro = distributed.min_over_ranks(min(fits, c.batch_size))
        if micro < c.batch_size and self.is_main:
            steps = math.ceil(c.batch_size / micro)
            tqdm.write(f"a batch of {c.batch_size} needs about {memory.gib(estimate.needs(c.batch_size))} and "
                       f"{self.device} has {memory.gib(estimate.free)} free: each step accumulates {steps} "
                       f"micro-batches of up to {micro} examples (the same batch; --micro-batch sets it)")
        return micro

    def _estimate_memory(self) -> memory.Estimate:
        """engine.memory's estimate on the first training examples, leaving the random generators and the model's
        buffers (running statistics) as they were, so that the estimate changes nothing a run computes."""
        collate = self.collate_fn or default_collate
        data = self.train_data

        def loss_of(n: int) -> torch.Tensor:
            batch = to_device(collate([data[i % len(data)] for i in range(n)]), self.device)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                return self.model.training_loss(batch, self.step).loss

        rng = rng_state()
        buffers = [b.clone() for b in self.model.buffers()]
        try:
            return memory.estimate(self.model, loss_of, self.device,
                                   weight_copies=(self.average is not None) + self.config.keep_best)
        finally:
            set_rng_state(rng)
            with torch.no_grad():
                for buffer, saved in zip(self.model.buffers(), buffers):
                    buffer.copy_(saved)

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
        if self.average is not None:  # a checkpoint from before the average was kept starts it at its weights
            self.average.load(state.get("ema", state["model"]))
        self.best = state.get("best") if self.config.keep_best else None
        saved_config = state.get("train_config") or {}
        self.epoch, self.step = state["epoch"], state["step"]
        # Checkpoints before examples_in_epoch counted batches (of the saved batch size, in one process).
        self.examples_in_epoch = state.get("examples_in_epoch",
                                           state.get("batch_in_epoch", 0) * saved_config.get("batch_size", 1))
        set_rng_state(state["rng"])
        self._apply_new_learning_rate(saved_config.get("learning_rate"))
        if self.is_main:
            tqdm.write(f"resuming from {path} (epoch {self.epoch}, step {self.step})")
            self._report_new_batch_size(saved_config.get("batch_size"))
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

    def _report_new_batch_size(self, saved_batch_size: int | None) -> None:
        """Say that a resumed run reads its examples in batches of another size (the epoch goes on where it was)."""
        new = self.config.batch_size
        if saved_batch_size is None or saved_batch_size == new:
            return
        tqdm.write(f"batch size changed from {saved_batch_size} to {new} on resuming: the current epoch goes on "
                   f"from example {self.examples_in_epoch} of {len(self.train_data)} in batches of {new}")

    def save(self, rng: dict[str, Any] | None = None) -> None:
        """Write the full training state (exact resume) atomically; only the main process writes.

        Weights that are no longer finite are never written (a UserError instead). A Ctrl-C during the write is
        held back until the checkpoint is complete and counted as saved. ``rng``: the generators' state to store,
        if not the current one.
        """
        self._stop_if_diverged(self._weights_finite(), "the weights became NaN or infinite")
        with ctrl_c_held():
            if self.is_main:
                save_checkpoint(self.config.checkpoint, self._checkpoint_state(rng or rng_state()))
            self._saved_step = self.step

    def _checkpoint_state(self, rng: dict[str, Any]) -> dict[str, Any]:
        """Everything a checkpoint holds: what resuming restores (_maybe_resume) and what inference reads."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            **({"ema": self.average.averages} if self.average is not None else {}),
            **({"best": self.best} if self.best is not None else {}),
            "epoch": self.epoch, "step": self.step, "examples_in_epoch": self.examples_in_epoch,
            "rng": rng,
            "hparams": self.hparams,
            "extra": self.extra_state,
            "train_config": asdict(self.config),
        }

    @torch.no_grad()
    def _weights_finite(self) -> bool:
        """Whether every parameter is finite (one device sync). DDP ranks hold the same weights, so all agree."""
        return bool(torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all())

    def _stop_if_diverged(self, finite: bool, what: str) -> None:
        """Raise the divergence error unless ``finite``, naming the steps since the last check passed."""
        if not finite:
            first = self._checked_step + 1
            where = f"at step {self.step}" if first >= self.step else f"between steps {first} and {self.step}"
            raise UserError(f"training diverged: {what} {where}; lower the learning rate (the last checkpoint is kept)")
        self._checked_step = self.step

    def _save_on_interrupt(self) -> None:
        """On Ctrl-C, keep the steps taken since the last save, unless the state is mid-update."""
        path = self.config.checkpoint
        if self._updating:
            if self.is_main:
                tqdm.write(f"interrupted during an optimizer update: {path} keeps step {self._saved_step}")
            return
        if self.step == self._saved_step:
            return
        # Stopped inside a step (the usual case): store the RNG as that step began, so resuming redraws the same.
        self.save(self._step_start_rng if self._step_start == self.step else None)
        if self.is_main:
            tqdm.write(f"interrupted: saved {path} at step {self.step}")

    # ------------------------------------------------------------------------------------------------- loops
    def _epoch_indices(self) -> list[int]:
        """This rank's examples still to visit this epoch, in an order fixed by (seed, epoch).

        Ranks take turns through the remaining order, so ``examples_in_epoch`` (a count over all ranks) marks the
        same place whatever the batch size or number of ranks was before a resume.
        """
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + self.epoch)
        remaining = torch.randperm(len(self.train_data), generator=generator).tolist()[self.examples_in_epoch:]
        world, rank = distributed.world_size(), distributed.rank()
        if world > 1:
            remaining = remaining[rank::world][: len(remaining) // world]  # equal counts per rank keep DDP in step
        return remaining

    def _loader(self, data: Dataset, batches: list[list[int]]) -> DataLoader:
        """Batches of ``data`` holding the examples ``batches`` lists, in that order."""
        # A private generator: making a loader's iterator must not draw from the global RNG, or a resumed
        # run (which makes one more iterator) would diverge from an uninterrupted one.
        return DataLoader(data, batch_sampler=batches, num_workers=self.config.num_workers,
                          collate_fn=self.collate_fn, pin_memory=self.device.type == "cuda",
                          generator=torch.Generator().manual_seed(self.config.seed))

    def _val_loader(self) -> DataLoader | None:
        """This rank's share of the validation data, in micro-batches (as much as a forward pass holds)."""
        if self.val_data is None:
            return None
        indices = list(range(len(self.val_data)))[distributed.rank()::distributed.world_size()]
        return self._loader(self.val_data, _chunks(indices, self.micro_batch))

    def _done(self) -> bool:
        c = self.config
        steps_done = c.max_steps is not None and self.step >= c.max_steps
        return steps_done or (c.epochs is not None and self.epoch >= c.epochs)

    def fit(self) -> list[dict[str, Any]]:
        """Train until the epoch or step budget (or ``max_time``) is spent; return the logged rows. Releases the run's
        lock. With ``ema_decay`` the model then holds the averaged weights.

        On Ctrl-C the steps taken since the last checkpoint are saved first, then KeyboardInterrupt goes on up.
        """
        try:
            rows = self._fit()
            if self.average is not None:
                self.average.swap()  # the caller gets the averaged model
            if self.best is not None:
                self.model.load_state_dict(self.best["weights"])
                if self.is_main:
                    tqdm.write(f"kept the weights of epoch {self.best['epoch']} (step {self.best['step']}), "
                               f"whose val/loss {self.best['metrics']['val/loss']:.4g} is the lowest")
            return rows
        finally:
            self.close()

    def _fit(self) -> list[dict[str, Any]]:
        c = self.config
        logger = MetricsLogger(c.run_dir, resume_step=self.step, tensorboard=c.tensorboard, enabled=self.is_main)
        try:
            if self._done():
                if self.is_main:
                    tqdm.write(f"checkpoint {c.checkpoint} already holds {self.epoch} epoch(s), {self.step} step(s): "
                               "nothing left to train")
                return logger.rows
            self._run_start = (self.clock(), self.step)  # (time, step) this run began at
            self._pace_start: tuple[float, int] | None = None  # (time, step) the warm-up ended at
            self._pace_said = False
            val_loader = self._val_loader()
            if self.best is not None:
                self._measure_best_again(val_loader)
            self.wrapped.train()
            steps_bar = None
            if c.max_steps is not None:  # a step budget: one bar over all steps, e.g. 120/1000
                steps_bar = tqdm(total=c.max_steps, initial=self.step, desc="steps", unit="step", file=sys.stderr,
                                 disable=not (c.progress and self.is_main), leave=False)
            try:
                while not self._done() and not self.stopped_by_time:
                    self._train_epoch(logger, val_loader, steps_bar)
            except KeyboardInterrupt:
                self._save_on_interrupt()
                raise
            finally:
                if steps_bar is not None:
                    steps_bar.close()
        finally:
            logger.close()
        return logger.rows

    def _train_epoch(self, logger: MetricsLogger, val_loader: DataLoader | None, steps_bar: tqdm | None) -> None:
        c = self.config
        indices = self._epoch_indices()
        batches_left = math.ceil(len(indices) / c.batch_size)
        if batches_left == 0:  # resumed at the very end of an epoch: nothing of it is left to train or log
            self._finish_epoch()
            self.save()
            return
        world = distributed.world_size()
        batches_done = math.ceil(self.examples_in_epoch / (c.batch_size * world))
        bar = steps_bar or tqdm(total=batches_done + batches_left, initial=batches_done, unit="batch",
                                desc=f"epoch {self.epoch + 1}{f'/{c.epochs}' if c.epochs else ''}", file=sys.stderr,
                                disable=not (c.progress and self.is_main), leave=False)
        last_step = self._last_step(batches_left)
        window = MetricSums()
        started = self.clock()
        steps = [_chunks(batch, self.micro_batch) for batch in _chunks(indices, c.batch_size)]
        parts = iter(self._loader(self.train_data, [part for step in steps for part in step]))
        for batch_number, step_parts in enumerate(steps, 1):
            sizes = [len(part) for part in step_parts]
            loss, metrics, count, lr = self._train_step([next(parts) for _ in sizes], sizes, world)
            window.add(loss, metrics, count)
            bar.update()
            row = self._after_step(logger, val_loader, window, lr, batch_number == batches_left, started)
            if row is not None:
                window = MetricSums()
                bar.set_postfix(loss=f"{row['train/loss']:.4g}")  # the logged mean: no read of the device per step
            self._step_start_rng, self._step_start = rng_state(), self.step
            if self._done():
                break
            now = self.clock()
            if not self._pace_said:
                self._say_pace(now, last_step)
            if c.max_time is not None and self._out_of_time(now, logged=row is not None):
                self._stop_by_time(logger, window if row is None else None, lr, last_step)
                break
        if bar is not steps_bar:
            bar.close()

    def _last_step(self, batches_left: int) -> int:
        """The step the run ends at, unless the time budget stops it; ``batches_left``: this epoch's, from now."""
        c = self.config
        ends = [c.max_steps] if c.max_steps is not None else []
        if c.epochs is not None:
            ends.append(self.step + batches_left + (c.epochs - self.epoch - 1) * self._steps_per_epoch())
        return min(ends)

    def _steps_per_epoch(self) -> int:
        """The optimizer steps of a whole epoch (each DDP rank takes an equal share of the examples)."""
        return math.ceil(len(self.train_data) // distributed.world_size() / self.config.batch_size)

    def _say_pace(self, now: float, last_step: int) -> None:
        """Once, a few steps in: the measured step time and what the steps left to ``last_step`` will take."""
        if self.step - self._run_start[1] == WARM_UP_STEPS:
            self._pace_start = (now, self.step)
        since, first = self._pace_start or self._run_start
        measured = self._pace_start is not None and self.step > first and (
            self.step - first >= PACE_STEPS or now - since >= PACE_SECONDS)
        if not (measured or now - self._run_start[0] >= PACE_LATEST):
            return
        if not measured:  # a minute went by before the measure was complete: measure from the start
            since, first = self._run_start
        self._pace_said = True
        c = self.config
        per_step = max(now - since, 1e-6) / (self.step - first)  # a coarse clock may have seen no time pass
        left = last_step - self.step
        takes = left * per_step
        plan = (f" of {c.max_steps:,}" if last_step == c.max_steps
                else f" ({c.epochs} epochs of {self._steps_per_epoch():,} batches)")
        place = {"cpu": "this CPU", "cuda": "this GPU", "mps": "this GPU"}.get(self.device.type, str(self.device))
        advice = ""
        if c.max_time is not None:
            if takes > c.max_time - (now - self._run_start[0]):
                advice = f"; --max-time stops it after {duration_text(c.max_time)}"
        elif takes > LONG_RUN:
            advice = "; --max-time (e.g. 1h) stops it at a time budget with a checkpoint, and the same command resumes"
        if self.is_main:
            tqdm.write(f"{left:,} steps left{plan} at {_rate(per_step)}: about {duration_text(takes)} on {place}"
                       + advice)

    def _out_of_time(self, now: float, logged: bool) -> bool:
        """Whether ``max_time`` was spent training in this run. DDP ranks decide together, at the steps that log a
        row (their means already wait for every rank), so that all stop at the same step."""
        over = now - self._run_start[0] >= self.config.max_time
        if not distributed.is_initialized():
            return over
        return logged and not distributed.all_ranks_ok(not over)

    def _stop_by_time(self, logger: MetricsLogger, window: MetricSums | None, lr: float, last_step: int) -> None:
        """Keep the steps taken as Ctrl-C does (a checkpoint between steps, exact resume) and the row of the steps
        since the last one (``window``, None when this step logged one)."""
        row = self._train_row(window, lr) if window is not None else None
        if self.step != self._saved_step:
            self.save()
        if row is not None:
            logger.log(row, console=None)
        logger.sync()
        self.stopped_by_time = True
        if self.is_main:
            tqdm.write(f"stopped at the time budget (--max-time {duration_text(self.config.max_time)}) at step "
                       f"{self.step:,} of {last_step:,}; the same command resumes")

    def _finish_epoch(self) -> None:
        self.epoch += 1
        self.examples_in_epoch = 0

    def _after_step(self, logger: MetricsLogger, val_loader: DataLoader | None, window: MetricSums, lr: float,
                    epoch_ends: bool, started: float) -> dict[str, Any] | None:
        """Validate, log and save as due after a step; returns the row when one was logged (``window`` starts
        afresh). The losses are read from the device only here, at a row, and before a checkpoint is written."""
        due = Due.after_step(self.step, self.epoch, epoch_ends, self.config, validating=val_loader is not None)
        row = self._train_row(window, lr) if due.row else None  # due with every validation and epoch end
        if due.validation:
            row.update(self._validation(val_loader))
        if due.epoch_ends:
            self._finish_epoch()
        if due.checkpoint:
            self.save()
        if due.final_validation:  # after the save: a resumed run must not see this extra validation's random draws
            rng, best = rng_state(), self.best
            row.update(self._validation(val_loader))
            if self.best is not best:
                self.save(rng)  # the checkpoint keeps the weights it found, with the RNG as it was saved
        if row is not None:
            logger.log(row, console=self._console_line(row, due, started))
        if due.checkpoint:
            logger.sync()  # after the row: the logs on disk reach the checkpoint's step
        return row

    def _train_row(self, window: MetricSums, lr: float) -> dict[str, Any]:
        """The log row of the steps since the previous one; a non-finite mean loss stops the run."""
        row = {"step": self.step, "epoch": self.epoch + 1, "lr": lr,
               **{f"train/{k}": v for k, v in window.means(self.device).items()}}
        self._stop_if_diverged(math.isfinite(row["train/loss"]), f"the loss became {row['train/loss']}")
        return row

    def _console_line(self, row: dict[str, Any], due: Due, started: float) -> str | None:
        """What a row also prints: every metric at an epoch end or the end, the validation's at other validations."""
        c = self.config
        if due.epoch_ends or due.run_ends:
            label = f"step {self.step}"
            if due.epoch_ends:
                label = f"epoch {row['epoch']}{f'/{c.epochs}' if c.epochs else ''}"
            metrics = _format({k: v for k, v in row.items() if "/" in k})
            return f"{label}  {metrics}  ({self.clock() - started:.1f} s)"
        if due.validation:
            return f"step {self.step}  {_format({k: v for k, v in row.items() if k.startswith('val/')})}"
        return None

    def _validation(self, val_loader: DataLoader) -> dict[str, float]:
        """The metrics on the validation data, measured on the weights' average when one is kept."""
        with self.average.swapped() if self.average is not None else contextlib.nullcontext():
            metrics = {f"val/{k}": v for k, v in
                       evaluate(self.model, val_loader, self.device, self.amp_dtype, self.step).items()}
            if self.config.keep_best and (self.best is None or metrics["val/loss"] < self.best["metrics"]["val/loss"]):
                self.best = {"weights": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
                             "step": self.step, "epoch": self.epoch + 1, "metrics": metrics}
        return metrics

    def _measure_best_again(self, val_loader: DataLoader | None) -> None:
        """Validate the resumed checkpoint's best weights on this run's validation data, which may differ from the
        one that chose them (files added, other windows); without validation data now, the last weights are kept.
        The RNG is left as it was, so the resumed training draws what an unbroken one would."""
        if val_loader is None:
            self.best = None
            return
        rng, trained = rng_state(), {k: v.clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.best["weights"])
        measured = evaluate(self.model, val_loader, self.device, self.amp_dtype, self.best["step"])
        self.best["metrics"] = {f"val/{k}": v for k, v in measured.items()}
        self.model.load_state_dict(trained)
        set_rng_state(rng)

    def _train_step(self, parts: list[Any], sizes: list[int], world: int) -> tuple[torch.Tensor, dict, int, float]:
        """One optimizer step on a batch given as micro-batches ``parts`` of ``sizes`` examples (on each of ``world``
        ranks), their gradients accumulated; returns the loss, metrics and count of the whole batch, and the lr."""
        c = self.config
        outputs = []
        for number, (part, size) in enumerate(zip(parts, sizes), 1):
            last = number == len(parts)
            # DDP averages the gradients over the ranks once, in the last micro-batch's backward pass.
            with contextlib.nullcontext() if last or world == 1 else self.wrapped.no_sync():
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                    loss, metrics, count = self.wrapped(to_device(part, self.device), self.step)
                if number == 1:
                    # The last step's gradients are dropped only now, after the forward pass: dropped before it,
                    # their memory goes to its activations and the backward pass allocates afresh (vrash-note's
                    # step took 8 % longer on a CPU, against 1.00x a bare loop that zeroes here).
                    self.optimizer.zero_grad(set_to_none=True)
                # Each micro-batch's mean loss weighs as its share of the examples: the batch's mean gradient.
                (loss if len(parts) == 1 else loss * (size / sum(sizes))).backward()
            outputs.append((loss.detach(), {k: v.detach() if isinstance(v, torch.Tensor) else v
                                            for k, v in metrics.items()}, count))
        # No finiteness check here: it would wait for the device every step. The logged rows and save() check.
        loss, metrics, count = outputs[0] if len(outputs) == 1 else _combined(outputs)
        if c.grad_clip:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
            metrics = {**metrics, "grad_norm": grad_norm}
        lr = self.optimizer.param_groups[0]["lr"]
        self._updating = True
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        if self.average is not None:
            self.average.update(self.step)
        self.examples_in_epoch += sum(sizes) * world
        self._updating = False
        return loss, metrics, count, lr


def _chunks(items: list[int], size: int) -> list[list[int]]:
    """``items`` in consecutive lists of ``size`` (the last may be shorter)."""
    return [items[start:start + size] for start in range(0, len(items), size)]


def _combined(outputs: list[tuple[torch.Tensor, dict, int]]) -> tuple[torch.Tensor, dict, int]:
    """The loss, metrics and count of a batch from those of its micro-batches (count-weighted means)."""
    count = sum(part_count for _, _, part_count in outputs)
    loss = sum(loss * part_count for loss, _, part_count in outputs) / count
    metrics = {key: sum(part[key] * part_count for _, part, part_count in outputs) / count for key in outputs[0][1]}
    return loss, metrics, count


def run_training(trainer: Trainer) -> list[dict[str, Any]]:
    """Fit and always tear the process group down, also when training fails."""
    try:
        return trainer.fit()
    finally:
        distributed.teardown()
