"""Held-out metrics of a trained MusicVAE, as the paper reports them.

Teacher-forced ``accuracy`` (each step given the true previous token, z drawn from the posterior) and
``sampled_accuracy`` (the model decodes freely from the posterior mean, each step fed its own previous output), both
the fraction of steps whose token matches the data, overall and per bar; ``r_loss`` (nats per sequence), ``kl_bits``
and ``elbo`` (nats per sequence).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from symbolic.trained_model import TrainedModel, check_temperature

EVAL_BATCH_SIZE = 256


def evaluate_model(model: TrainedModel, windows: np.ndarray, temperature: float = 0.0,
                   batch_size: int = EVAL_BATCH_SIZE, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Means over windows [N, T, n_tracks] of the model's metrics (per-bar ones as lists), and ``n_sequences``."""
    check_temperature(temperature)
    torch.manual_seed(seed)  # the posterior draws and free-running samples are then repeatable
    sums: dict[str, torch.Tensor] = {}
    for start in tqdm(range(0, len(windows), batch_size), desc="evaluating", unit="batch", disable=not progress,
                      leave=False):
        x = torch.from_numpy(np.asarray(windows[start:start + batch_size], np.int64)).to(model.device)
        for key, value in model.model.evaluate(x, temperature).items():
            sums[key] = sums.get(key, 0.0) + value.double().cpu() * len(x)
    means = {key: (total / len(windows)).tolist() for key, total in sums.items()}
    return {**means, "n_sequences": len(windows)}


def evaluate_run(run_dir: str | os.PathLike, examples_path: str | os.PathLike, split: str = "test",
                 temperature: float = 0.0, batch_size: int = EVAL_BATCH_SIZE, device: str = "auto", seed: int = 0,
                 progress: bool = True) -> dict[str, Any]:
    """Metrics of the run's model on one split of ``examples_path`` (default: the held-out test files)."""
    model = TrainedModel(run_dir, device)
    windows = model.example_windows(examples_path, split, progress=progress)
    metrics = evaluate_model(model, windows, temperature, batch_size, seed, progress)
    return {"config": model.config_name, "step": model.step, "split": split, "temperature": temperature, **metrics}
