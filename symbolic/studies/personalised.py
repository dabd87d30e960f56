"""`midi personalise`: a run's model made to sound like a few songs (MidiMe, symbolic.personalise), and how close a
personalised run's prior samples are to the songs, beside its base model's.

The songs are cut into the base model's windows as `variations` cuts them (symbolic.studies.variations.song_windows);
windows without notes (the silent placeholders of bars the converter reads nothing in) are left out, and the small
VAE learns the posterior means of the rest. Closeness compares n prior samples of each model with the songs'
windows: the L1 distance of the pitch-class distributions (all samples' notes against all the songs' notes; 0 alike,
2 disjoint), the mean over samples of the best onset F1 against any song window, and the feature overlap of
symbolic.studies.sample_quality.
"""
from __future__ import annotations

import copy
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pretty_midi
import torch

from engine.errors import UserError
from symbolic.data.midi_io import read_score
from symbolic.personalise import MidiMeConfig, fit, save_personalised
from symbolic.studies.sample_quality import compare
from symbolic.studies.variations import onset_f1, pitch_class_histogram, song_windows
from symbolic.trained_model import TrainedModel

CLOSENESS_SAMPLES = 100  # prior samples of each model `midi evaluate` compares with the songs by default


def song_latents(model: TrainedModel, midi_paths: Sequence[str | os.PathLike],
                 progress: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
    """Posterior means and scales [N, z] of the windows with notes of every song, and each song's path and count."""
    model.require("encode", "personalise")
    kept = [windows_with_notes(model, path) for path in midi_paths]
    songs = [{"path": str(path), "windows": len(windows)} for path, windows in zip(midi_paths, kept)]
    if not sum(len(k) for k in kept):
        raise UserError(f"{', '.join(map(str, midi_paths))}: no {model.description} window with notes")
    _, mu, sigma = model.encode_windows(np.concatenate(kept), progress=progress)
    return mu, sigma, songs


def windows_with_notes(model: TrainedModel, midi_path: str | os.PathLike) -> np.ndarray:
    """The windows of one song, cut as `variations` cuts it, less the silent ones; an error when it is shorter than
    one window."""
    score = read_score(midi_path)
    _check_length(model, score.end() / score.ticks_per_quarter, midi_path)
    windows = song_windows(model.converter, score, str(midi_path))
    return windows[[bool(w.any()) for w in windows]]


def _check_length(model: TrainedModel, quarters: float, path: str | os.PathLike) -> None:
    """A one-line error for a song shorter than one window of a bar-grid converter (note tokens say it themselves)."""
    converter = model.converter
    if not hasattr(converter, "slice_bars"):
        return
    window = converter.slice_bars * converter.steps_per_bar / converter.steps_per_quarter
    if quarters < window:
        raise UserError(f"{path}: {quarters:g} quarter notes long, shorter than one {model.description} window "
                        f"({window:g} quarter notes)")


def personalise(run_dir: str | os.PathLike, midi_paths: Sequence[str | os.PathLike], output_dir: str | os.PathLike,
                config: MidiMeConfig, seed: int = 0, device: str = "auto", progress: bool = True) -> dict[str, Any]:
    """Train a MidiMe on the songs in the latent space of the run's model and save the personalised run dir in
    ``output_dir``; returns its record (songs, windows, losses, seconds) and the files written."""
    started = time.monotonic()
    model = TrainedModel(run_dir, device)
    base_dir = model.personalised.base_dir if model.personalised else model.run_dir  # re-personalising: same base
    mu, sigma, songs = song_latents(model, midi_paths, progress)
    small, losses = fit(mu, sigma, config, seed, progress)
    record = {"base_config": model.config_name, "base_step": model.step, "songs": songs, "windows": len(mu),
              "seed": seed, "final_losses": losses, "seconds": round(time.monotonic() - started, 2)}
    files = save_personalised(output_dir, base_dir, model.weights_digest(), small, record)
    return {**record, "files": [str(path) for path in files]}


def pitch_class_l1(samples: Sequence[pretty_midi.PrettyMIDI], songs: Sequence[pretty_midi.PrettyMIDI]) -> float | None:
    """L1 distance of the pitch-class distributions of all the samples' and all the songs' pitched notes (0 alike,
    2 disjoint); None when either has no pitched note (drums)."""
    p, q = (sum(pitch_class_histogram(m) for m in midis) for midis in (samples, songs))
    if not p.sum() or not q.sum():
        return None
    return float(np.abs(p / p.sum() - q / q.sum()).sum())


def best_onset_f1(samples: Sequence[pretty_midi.PrettyMIDI], songs: Sequence[pretty_midi.PrettyMIDI]) -> float:
    """Mean over samples of the onset F1 of the song window each is closest to."""
    return float(np.mean([max(onset_f1(sample, song) for song in songs) for sample in samples]))


def closeness(model: TrainedModel, windows: np.ndarray, n: int, temperature: float, seed: int = 0) -> dict[str, Any]:
    """How close n prior samples of a personalised run and n of its base model are to the songs' ``windows``: per
    model ``pitch_class_l1``, ``onset_f1``, ``overlap`` (and ``features``), with the songs' own ``ceiling`` (the
    overlaps None with fewer than 4 windows, which cannot be halved)."""
    base = copy.copy(model)  # the same networks, sampling from the base model's own prior (fitted, or N(0, I))
    base.prior = model.fitted_prior
    songs = model.to_midi(windows)
    result: dict[str, Any] = {"ceiling": None}
    for who, sampler in (("personalised", model), ("base", base)):
        torch.manual_seed(seed)
        samples = sampler.sample(n, temperature)
        quality = compare(samples, songs, model.converter.window_seconds, seed) if len(songs) >= 4 else {}
        result[who] = {"pitch_class_l1": pitch_class_l1(samples, songs), "onset_f1": best_onset_f1(samples, songs),
                       "overlap": quality.get("overlap"), "features": quality.get("features", {})}
        result["ceiling"] = quality.get("ceiling")
    return result


def evaluate_personalised(model: TrainedModel, examples_path: str | os.PathLike, split: str, samples: int,
                          temperature: float, seed: int, progress: bool) -> dict[str, Any]:
    """What `midi evaluate` reports of a personalised run: ``closeness`` of its samples and its base model's to the
    windows of ``examples_path`` (the songs), flattened for printing, with a verdict."""
    windows = model.example_windows(examples_path, split, progress=progress)
    found = closeness(model, windows, samples, temperature, seed)
    mine, base = found["personalised"], found["base"]
    shown = {f"{who}_{key}": found[who][key] for key in ("pitch_class_l1", "onset_f1", "overlap")
             for who in ("personalised", "base")}
    overlap = (f", feature overlap {mine['overlap']:.2f} (base {base['overlap']:.2f}, the songs' two halves "
               f"{found['ceiling']:.2f})" if found["ceiling"] is not None else "")
    verdict = (f"personalised samples are {_closer(mine['pitch_class_l1'], base['pitch_class_l1'])} in pitch "
               f"classes than the base model's, onset F1 {mine['onset_f1']:.3f} (base {base['onset_f1']:.3f})"
               f"{overlap}")
    return {"config": model.config_name, "family": model.config.family, "step": model.step, "split": split,
            "base_run_dir": os.path.normpath(model.personalised.base_dir), "n_windows": len(windows),
            "n_samples": samples, "sample_temperature": temperature, **shown, "sample_ceiling": found["ceiling"],
            "sample_features": mine["features"], "verdicts": [verdict]}


def _closer(mine: float | None, base: float | None) -> str:
    """E.g. "41% closer (L1 0.52 against 0.88)"."""
    if mine is None or base is None:
        return "not comparable (no pitched notes)"
    change = f"{abs(1 - mine / base):.0%} {'closer' if mine <= base else 'further'}" if base else "as close"
    return f"{change} (L1 {mine:.2f} against {base:.2f})"


def run_dir_summary(record: dict[str, Any]) -> str:
    """One line on what `midi personalise` made."""
    losses = record["final_losses"]
    return (f"personalised {record['base_config']} (step {record['base_step']}) on {record['windows']} windows of "
            f"{len(record['songs'])} song(s) in {record['seconds']:.1f} s: reconstruction "
            f"{losses['reconstruction']:.3f}, KL {losses['kl']:.3f} nats")

