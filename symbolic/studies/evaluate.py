"""Held-out metrics of a trained model of any family, beside the trivial baselines of its family.

Each family's model reports its own metrics (``model.evaluate``) and its family its baselines and verdicts
(``symbolic.models.families``). For MusicVAE, as the paper reports them: teacher-forced ``accuracy`` (each step given
the true previous token, z drawn from the posterior) and ``sampled_accuracy`` (the model decodes freely from the
posterior mean, each step fed its own previous output), both the fraction of steps whose token matches the data,
overall and per bar; ``r_loss`` (nats per sequence), ``kl_bits`` and ``elbo`` (nats per sequence). Beside them the
trivial baselines a model must beat to have learned anything: ``always_hold_accuracy`` (predict "no event" at every
step: hold for melodies, no hit for drums) and ``unigram_nll`` (nats per sequence of each track's token frequencies
in the training files, to compare with ``-elbo``). With ``samples``, prior samples (of any family) are compared with
the split's windows by ``symbolic.studies.sample_quality``: all of them, or a seeded draw of
``max(samples, REAL_WINDOWS)`` when the split has more. A split is memory-mapped and the baselines stream it in
chunks (exact counts), so memory does not grow with the dataset.
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from engine.errors import UserError
from symbolic.configs import ModelConfig
from symbolic.defaults import DEFAULT_TEMPERATURE, EVAL_BATCH_SIZE
from symbolic.data.converters.lead_sheet import chord_tone_time
from symbolic.models.baselines import chunks
from symbolic.models.families import family_of
from symbolic.studies.personalised import CLOSENESS_SAMPLES, evaluate_personalised
from symbolic.studies.sample_quality import compare
from symbolic.trained_model import SAMPLE_BATCH_SIZE, TrainedModel, check_temperature

CHORD_WINDOWS = 200  # windows whose reconstructions and chords' samples give the chord-tone rates, unless --samples
REAL_WINDOWS = 2000  # real windows decoded to compare samples with, at most (or as many as the samples)


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


def baselines(train_windows: np.ndarray, windows: np.ndarray, config: ModelConfig) -> dict[str, float]:
    """The trivial predictors of the config's family, fitted on ``train_windows`` and scored on ``windows``."""
    return family_of(config).baselines(train_windows, windows, config)


def verdicts(metrics: dict[str, Any], config: ModelConfig) -> list[str]:
    """One line per baseline saying whether the model beats it (``metrics`` holds the model's and the baselines')."""
    lines = family_of(config).verdicts(metrics)
    if "chord_tone_rate_samples" in metrics:
        lines.append(f"samples under the data's chords put {metrics['chord_tone_rate_samples']:.1%} of their note "
                     f"time on chord tones ({metrics['chord_tone_rate_samples_tritone']:.1%} against the chords a "
                     f"tritone away; reconstructions {metrics['chord_tone_rate_reconstructions']:.1%}, the data "
                     f"{metrics['chord_tone_rate_data']:.1%})")
    if "sample_overlap" in metrics:
        lines.append(f"prior samples overlap the data's features at {metrics['sample_overlap']:.2f} "
                     f"(two halves of the data: {metrics['sample_ceiling']:.2f}; 1 = alike)")
    return lines


def validation_verdicts(rows: list[dict[str, Any]], train_windows: np.ndarray, val_windows: np.ndarray,
                        config: ModelConfig) -> list[str]:
    """The verdicts of the last validation row a training run logged (none if it never validated)."""
    row = next((r for r in reversed(rows) if any(key.startswith("val/") for key in r)), None)
    if row is None or not len(val_windows):
        return []
    metrics = {key.removeprefix("val/"): value for key, value in row.items() if key.startswith("val/")}
    metrics.update(baselines(train_windows, val_windows, config))
    return [f"validation at step {row['step']}:"] + [f"  {line}" for line in verdicts(metrics, config)]


def sample_quality(model: TrainedModel, windows: np.ndarray, n: int, temperature: float = DEFAULT_TEMPERATURE,
                   seed: int = 0) -> dict[str, Any]:
    """``symbolic.studies.sample_quality.compare`` of n prior samples with the real ``windows`` (decoded the same
    way): every one, or ``max(n, REAL_WINDOWS)`` of them drawn with ``seed`` when there are more (decoding is what
    costs)."""
    if len(windows) < 4:
        raise UserError(f"comparing samples needs at least 4 real windows in the split, got {len(windows)}")
    torch.manual_seed(seed)
    real = _drawn(windows, max(n, REAL_WINDOWS), seed)
    if model.chord_conditioned:  # each sample under the chords of a real window
        samples = model.to_midi(_samples_under(model, model.window_chords(real)[np.arange(n) % len(real)],
                                               temperature))
    else:
        samples = [midi for batch in model.sample_batches(n, temperature) for midi in batch]
    return compare(samples, model.to_midi(real), model.converter.window_seconds, seed)


def _samples_under(model: TrainedModel, chords: np.ndarray, temperature: float) -> np.ndarray:
    """One prior sample under each row of triad classes [N, T], decoded in batches."""
    return np.concatenate([model.sample_windows(len(part), temperature, part)
                           for part in np.array_split(chords, -(-len(chords) // SAMPLE_BATCH_SIZE))])


def chord_tone_rates(model: TrainedModel, windows: np.ndarray, n: int, temperature: float = DEFAULT_TEMPERATURE,
                     seed: int = 0) -> dict[str, float]:
    """A chord-conditioned model's share of melody note time on the sounding chord's tones: in the data (every
    window), in reconstructions (at ``temperature``) and in prior samples (at ``temperature``) of n windows drawn
    with ``seed``, the samples under those windows' chords and measured also against the chords a tritone away."""
    data = np.sum([chord_tone_time(chunk) for chunk in chunks(windows)], axis=0)
    drawn = np.asarray(_drawn(windows, n, seed), np.int64)
    torch.manual_seed(seed)
    with torch.no_grad():
        rebuilt = np.concatenate([model.model.reconstruct(torch.from_numpy(part).to(model.device), temperature).cpu()
                                  .numpy() for part in np.array_split(drawn, -(-len(drawn) // EVAL_BATCH_SIZE))])
    sampled = _samples_under(model, model.window_chords(drawn), temperature)
    rates = {"data": data, "reconstructions": chord_tone_time(rebuilt), "samples": chord_tone_time(sampled),
             "samples_tritone": chord_tone_time(sampled, 6)}
    return {f"chord_tone_rate_{name}": on / total if total else math.nan for name, (on, total) in rates.items()}


def _drawn(windows: np.ndarray, most: int, seed: int) -> np.ndarray:
    """``windows``, or ``most`` of them drawn without replacement with ``seed``, in their order."""
    if len(windows) <= most:
        return windows
    return windows[np.sort(np.random.default_rng(seed).choice(len(windows), most, replace=False))]


def evaluate_run(run_dir: str | os.PathLike, examples_path: str | os.PathLike, split: str | None = None,
                 temperature: float = 0.0, batch_size: int = EVAL_BATCH_SIZE, device: str = "auto", seed: int = 0,
                 progress: bool = True, samples: int = 0,
                 sample_temperature: float = DEFAULT_TEMPERATURE) -> dict[str, Any]:
    """Metrics of the run's model on one split of ``examples_path`` (default: the held-out test files), with the
    baselines (fitted on the memory-mapped training split, its token counts streamed); with ``samples``, also how
    alike that many prior samples are to the split's windows (at most ``max(samples, REAL_WINDOWS)`` of them).
    A personalised run (`midi personalise`) is judged by how close its samples and its base model's are to the songs
    of ``examples_path`` (split None: all of them), symbolic.studies.personalised."""
    model = TrainedModel(run_dir, device)
    if model.personalised:
        return evaluate_personalised(model, examples_path, split or "all", samples or CLOSENESS_SAMPLES,
                                     sample_temperature, seed, progress)
    split = split or "test"
    windows = model.example_windows(examples_path, split, progress=progress)
    metrics = evaluate_model(model, windows, temperature, batch_size, seed, progress)
    metrics.update(baselines(model.example_windows(examples_path, "train", progress=False), windows, model.config))
    if model.chord_conditioned:
        metrics.update(chord_tone_rates(model, windows, samples or CHORD_WINDOWS, sample_temperature, seed))
    if samples:
        quality = sample_quality(model, windows, samples, sample_temperature, seed)
        metrics.update({"sample_overlap": quality["overlap"], "sample_ceiling": quality["ceiling"],
                        "sample_features": quality["features"], "n_samples": samples})
    return {"config": model.config_name, "family": model.config.family, "step": model.step, "split": split,
            "temperature": temperature, **metrics, "verdicts": verdicts(metrics, model.config)}
