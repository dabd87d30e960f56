"""Training a named config of any model family on a MIDI folder or a prepared dataset, with the engine's Trainer.

The run dir gets the checkpoint (its hparams hold the full config, see ``symbolic.trained_model``), the metrics logs
and a cache of the examples converted for the model. A run dir that already has a checkpoint is resumed: the config
comes from the checkpoint, ``hparams`` may change training settings but never the model's shapes.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from engine import distributed
from engine.checkpoint import check_compatible, load_checkpoint
from engine.errors import UserError
from engine.trainer import TrainConfig, Trainer, run_training, seed_everything
from symbolic.configs import ModelConfig, get_config, parse_hparams
from symbolic.data.converters import converter_from_spec
from symbolic.data.datasets import PreparedDataset
from symbolic.data.prepare import load_or_prepare
from symbolic.defaults import DEFAULT_NUM_STEPS
from symbolic.models.families import build_model
from symbolic.studies.evaluate import validation_verdicts
from symbolic.trained_model import CHECKPOINT_NAME, PREPARED_DIR, TrainedModel, config_from_hparams, run_hparams

def resolve_config(run_dir: str | os.PathLike, config_name: str | None,
                   hparams: str | None) -> tuple[str, ModelConfig]:
    """The config to train: the named one with ``hparams``, checked against (or, unnamed, taken from) a checkpoint."""
    path = Path(run_dir) / CHECKPOINT_NAME
    if not path.exists():
        if config_name is None:
            raise UserError(f"{run_dir} has no checkpoint to resume; name a config to start a new run")
        return config_name, get_config(config_name, hparams)
    saved_name, saved = config_from_hparams(load_checkpoint(path).get("hparams"), str(path))
    if config_name is None:
        name, config = saved_name, dataclasses.replace(saved, **parse_hparams(hparams or "", saved))
    else:
        name, config = config_name, get_config(config_name, hparams)
    if config.family != saved.family:
        raise UserError(f"{path} holds a {saved.what} ({saved_name}); {name} is a {config.what}: "
                        "train it in another run dir")
    check_compatible(saved.to_dict(), config.to_dict(), list(config.shape_keys), str(path))
    return name, config


def train(run_dir: str | os.PathLike, examples_path: str | os.PathLike, config_name: str | None = None,
          hparams: str | None = None, num_steps: int = DEFAULT_NUM_STEPS, val_every: int = 1000,
          checkpoint_every: int = 500, log_every: int = 50, device: str = "auto", workers: int | None = None,
          progress: bool = True, seed: int = 0, wait: bool = False,
          max_time: float | None = None, micro_batch: int | None = None) -> list[dict[str, Any]]:
    """Train (or resume) the run in ``run_dir`` until ``num_steps`` optimizer steps in all; returns the logged rows.

    ``num_steps=0`` on a new run saves the initial model untrained, as a run at step 0: the baseline every trained
    model must beat (``midi compare``'s first row).

    Validation runs every ``val_every`` steps and at the end on the examples' validation split (held-out files), when
    it has any; the training split is transposed at random by up to ``config.transpose`` semitones.
    ``seed`` fixes the initial weights and the training order, so identical calls give identical models; ``wait``
    waits for another process training in ``run_dir`` to finish instead of failing; ``max_time`` (seconds) stops
    the training sooner with a checkpoint, and a later call resumes it; ``micro_batch`` (examples per forward pass,
    gradients accumulated to the config's batch) defaults to what the memory estimate finds room for.
    """
    for flag, value, least in (("num_steps", num_steps, 0), ("val_every", val_every, 1),
                               ("checkpoint_every", checkpoint_every, 1)):
        if value < least:
            raise UserError(f"{flag} must be at least {least}, got {value}")
    run_dir = Path(run_dir)
    name, config = resolve_config(run_dir, config_name, hparams)
    device = distributed.setup(device)  # under torchrun, join the group first: rank 0 alone prepares the data
    main = distributed.is_main_process()
    with distributed.main_process_first():
        dataset = PreparedDataset(load_or_prepare(converter_from_spec(config.data), examples_path,
                                                  run_dir / PREPARED_DIR, workers=workers, progress=progress and main))
    if main:
        for line in dataset.result.summary():
            tqdm.write(line)
    train_config = TrainConfig(
        run_dir=str(run_dir), max_steps=num_steps, batch_size=config.batch_size, learning_rate=config.learning_rate,
        grad_clip=config.grad_clip, device=device, log_every=log_every, val_every=val_every,
        checkpoint_every=checkpoint_every, progress=progress, seed=seed, wait=wait, max_time=max_time,
        micro_batch=micro_batch)
    seed_everything(seed)  # before building the model: its initial weights come from the global RNGs
    trainer = Trainer(build_model(config), dataset.split("train", transpose=config.transpose),
                      dataset.split("validation"), train_config, hparams=run_hparams(name, config),
                      lr_lambda=config.lr_lambda)
    if num_steps == 0 and trainer.step == 0:
        trainer.save()
        trainer.close()
        distributed.teardown()
        return []
    rows = run_training(trainer)
    if main:
        splits = [np.load(dataset.result.split_path(split), mmap_mode="r") for split in ("train", "validation")]
        for line in validation_verdicts(rows, *splits, config):
            tqdm.write(line)
        if config.family == "music_vae" and (run_dir / CHECKPOINT_NAME).is_file():
            # prior samples come from the aggregate posterior of what was trained (symbolic.latent_prior)
            TrainedModel(run_dir, device).fit_latent_prior(splits[0], seed, progress)
    return rows
