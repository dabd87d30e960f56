"""Training a named MusicVAE config on a MIDI folder or a prepared dataset, with the engine's Trainer.

The run dir gets the checkpoint (its hparams hold the full config, see ``symbolic.trained_model``), the metrics logs
and a cache of the examples converted for the model. A run dir that already has a checkpoint is resumed: the config
comes from the checkpoint, ``hparams`` may change training settings but never the model's shapes.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from tqdm import tqdm

from engine import distributed
from engine.checkpoint import check_compatible, load_checkpoint
from engine.errors import UserError
from engine.trainer import TrainConfig, Trainer, run_training
from symbolic.configs import MusicVAEConfig, get_config, parse_hparams
from symbolic.converters import converter_from_spec
from symbolic.datasets import load_or_prepare
from symbolic.models.music_vae import MusicVAE
from symbolic.trained_model import CHECKPOINT_NAME, PREPARED_DIR, config_from_hparams, run_hparams

# Settings that define the model's parameter shapes or the meaning of its data: fixed for the life of a run.
SHAPE_KEYS = ["data", "hierarchical", "z_size", "enc_rnn_size", "dec_rnn_size", "conductor_rnn_size", "roll_input"]
DEFAULT_NUM_STEPS = 200_000  # Magenta's music_vae_train default
# `midi train --example`: the bundled real melodies and a 2-bar melody model small enough to learn them on a CPU.
EXAMPLE_DATA = Path(__file__).parent / "data" / "melodies"
EXAMPLE_CONFIG = "cat-mel_2bar_small"
# Scheduled sampling off: Magenta's schedule feeds back < 1% of tokens in the first 2000 steps, so it would only cost
# time (its decoder steps one token at a time); a higher learning rate than Magenta's 1e-3 for a short run.
EXAMPLE_HPARAMS = ("z_size=64,enc_rnn_size=[128],dec_rnn_size=[128,128],batch_size=64,learning_rate=3e-3,"
                   "sampling_schedule=constant,sampling_rate=0")
EXAMPLE_NUM_STEPS = 1000


def resolve_config(run_dir: str | os.PathLike, config_name: str | None,
                   hparams: str | None) -> tuple[str, MusicVAEConfig]:
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
    check_compatible(saved.to_dict(), config.to_dict(), SHAPE_KEYS, str(path))
    return name, config


def train(run_dir: str | os.PathLike, examples_path: str | os.PathLike, config_name: str | None = None,
          hparams: str | None = None, num_steps: int = DEFAULT_NUM_STEPS, val_every: int = 1000,
          checkpoint_every: int = 500, log_every: int = 50, device: str = "auto", workers: int | None = None,
          progress: bool = True) -> list[dict[str, Any]]:
    """Train (or resume) the run in ``run_dir`` until ``num_steps`` optimizer steps in all; returns the logged rows.

    Validation runs every ``val_every`` steps on the examples' validation split (held-out files), when it has any.
    """
    for flag, value in (("num_steps", num_steps), ("val_every", val_every), ("checkpoint_every", checkpoint_every)):
        if value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")
    run_dir = Path(run_dir)
    name, config = resolve_config(run_dir, config_name, hparams)
    device = distributed.setup(device)  # under torchrun, join the group first: rank 0 alone prepares the data
    main = distributed.is_main_process()
    with distributed.main_process_first():
        dataset = load_or_prepare(converter_from_spec(config.data), examples_path, run_dir / PREPARED_DIR,
                                  workers=workers, progress=progress and main)
    if main:
        for line in dataset.result.summary():
            tqdm.write(line)
    train_config = TrainConfig(
        run_dir=str(run_dir), max_steps=num_steps, batch_size=config.batch_size, learning_rate=config.learning_rate,
        grad_clip=config.grad_clip, device=device, log_every=log_every, val_every=val_every,
        checkpoint_every=checkpoint_every, progress=progress)
    trainer = Trainer(MusicVAE(config), dataset.split("train"), dataset.split("validation"), train_config,
                      hparams=run_hparams(name, config), lr_lambda=config.lr_lambda)
    return run_training(trainer)
