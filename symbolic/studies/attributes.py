"""Melody attributes and MusicVAE attribute vectors (Roberts et al., 2018, section 5.3).

An attribute measure maps each melody window (codes: 0 hold, 1 note-off, 2.. note-ons) to a number. An attribute
vector is the mean latent code (posterior mean) of the quarter of the windows highest in that attribute minus the
mean of the quarter lowest in it; adding a multiple of it to a song's latent code moves the decoded song along that
attribute. Vectors are computed from a folder of examples and cached in the run dir, keyed by the windows' content
and the model's weights, so new data, further training or a retrained model recomputes them.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi
import torch

from engine.atomic import atomic_path
from engine.errors import UserError
from symbolic.data.converters.events import MELODY_MIN_PITCH, MELODY_OFF
from symbolic.defaults import ATTRIBUTE_NAMES, DEFAULT_TEMPERATURE
from symbolic.trained_model import TrainedModel

VECTORS_NAME = "attributes.npz"
GROUP_FRACTION = 0.25  # the vectors contrast the top and bottom quarter of the windows
C_MAJOR_PITCH_CLASSES = (0, 2, 4, 5, 7, 9, 11)
FIRST_PITCH_CODE = MELODY_OFF + 1


def _onsets(codes: np.ndarray) -> np.ndarray:
    """Note-on mask [N, T] of melody codes [N, T]."""
    return codes >= FIRST_PITCH_CODE


def _fraction_of_onsets(codes: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """Share of each window's onsets that are also in ``selected`` [N, T] (0 for windows without notes)."""
    onsets = _onsets(codes)
    return (onsets & selected).sum(axis=1) / np.maximum(onsets.sum(axis=1), 1)


def note_density(codes: np.ndarray, steps_per_quarter: int) -> np.ndarray:
    """Note onsets per step."""
    return _onsets(codes).mean(axis=1)


def average_interval(codes: np.ndarray, steps_per_quarter: int) -> np.ndarray:
    """Mean absolute interval in semitones between consecutive notes (0 with fewer than two notes)."""
    onsets = _onsets(codes)
    positions = np.where(onsets, np.arange(codes.shape[1]), -1)
    last = np.maximum.accumulate(positions, axis=1)  # last onset at or before each step
    previous = np.concatenate([np.full((len(codes), 1), -1), last[:, :-1]], axis=1)  # ... strictly before
    has_previous = onsets & (previous >= 0)
    previous_code = np.take_along_axis(codes, np.maximum(previous, 0), axis=1)
    intervals = np.where(has_previous, np.abs(codes.astype(np.int64) - previous_code), 0)
    return intervals.sum(axis=1) / np.maximum(has_previous.sum(axis=1), 1)


def c_diatonic(codes: np.ndarray, steps_per_quarter: int) -> np.ndarray:
    """Fraction of notes whose pitch class is in the C major scale."""
    pitch_class = (codes.astype(np.int64) - FIRST_PITCH_CODE + MELODY_MIN_PITCH) % 12
    return _fraction_of_onsets(codes, np.isin(pitch_class, C_MAJOR_PITCH_CLASSES))


def syncopation_8th(codes: np.ndarray, steps_per_quarter: int) -> np.ndarray:
    """Fraction of notes starting on an 8th-note off-beat (the "and" of a beat)."""
    step = np.arange(codes.shape[1])
    return _fraction_of_onsets(codes, step % steps_per_quarter == steps_per_quarter // 2)


def syncopation_16th(codes: np.ndarray, steps_per_quarter: int) -> np.ndarray:
    """Fraction of notes starting on a 16th-note off-beat (between two 8th notes)."""
    step = np.arange(codes.shape[1])
    return _fraction_of_onsets(codes, step % (steps_per_quarter // 2) == steps_per_quarter // 4)


ATTRIBUTES: dict[str, Callable[[np.ndarray, int], np.ndarray]] = dict(zip(
    ATTRIBUTE_NAMES, (note_density, average_interval, c_diatonic, syncopation_8th, syncopation_16th)))


def melody_codes(windows: np.ndarray, model: TrainedModel) -> np.ndarray:
    """The melody track [N, T] of windows [N, T, n_tracks] of melody or trio models (track 0 in both)."""
    kind = model.config.data["kind"]
    if kind not in ("melody", "trio"):
        raise UserError(f"{model.run_dir}: attributes are measured on melodies; this {kind} model has none")
    if model.config.data["steps_per_quarter"] % 4:
        raise UserError(f"{model.run_dir}: attributes need 16th-note steps (steps_per_quarter a multiple of 4)")
    return np.asarray(windows)[:, :, 0]


def measure(name: str, windows: np.ndarray, model: TrainedModel) -> np.ndarray:
    """The attribute ``name`` of each window [N, T, n_tracks] of ``model``'s kind: [N]."""
    if name not in ATTRIBUTES:
        raise UserError(f"unknown attribute {name!r}; choose one of {', '.join(ATTRIBUTES)}")
    return ATTRIBUTES[name](melody_codes(windows, model), model.config.data["steps_per_quarter"])


@dataclass
class AttributeVectors:
    """Per attribute: the latent direction [z_size] and how far apart the two groups' mean values are."""

    vectors: dict[str, np.ndarray]
    spreads: dict[str, float]
    n_windows: int

    def vector(self, name: str, source: str) -> np.ndarray:
        """The vector of ``name``; an error when the attribute did not vary in the data named by ``source``."""
        if name not in self.vectors:
            raise UserError(f"unknown attribute {name!r}; choose one of {', '.join(ATTRIBUTES)}")
        if self.spreads[name] <= 0:
            raise UserError(f"{source}: {name} is the same in every window, so it gives no direction; "
                            "use more varied examples")
        return self.vectors[name]


def compute_vectors(mu: np.ndarray, values: dict[str, np.ndarray]) -> AttributeVectors:
    """Mean of ``mu`` [N, z] over the windows in the top quarter of each attribute minus that of the bottom quarter."""
    k = max(1, int(len(mu) * GROUP_FRACTION))
    vectors, spreads = {}, {}
    for name, value in values.items():
        order = np.argsort(value, kind="stable")
        low, high = order[:k], order[-k:]
        vectors[name] = (mu[high].mean(axis=0) - mu[low].mean(axis=0)).astype(np.float32)
        spreads[name] = float(value[high].mean() - value[low].mean())
    return AttributeVectors(vectors, spreads, len(mu))


def _cache_key(windows: np.ndarray, model: TrainedModel) -> str:
    """Identity of a set of vectors: the windows' content, the model's config and its weights."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(windows).tobytes())
    digest.update(json.dumps([model.config.to_dict(), model.weights_digest()], sort_keys=True).encode())
    return digest.hexdigest()


def _load_cached(path: Path, key: str) -> AttributeVectors | None:
    """The vectors in ``path`` if they were computed for ``key`` (None when missing, stale or unreadable)."""
    try:
        with np.load(path) as cached:
            if str(cached["key"]) != key:
                return None
            return AttributeVectors({n: cached[f"vector/{n}"] for n in ATTRIBUTES},
                                    {n: float(cached[f"spread/{n}"]) for n in ATTRIBUTES}, int(cached["n_windows"]))
    except (OSError, ValueError, KeyError):
        return None


def attribute_vectors(model: TrainedModel, examples_path: str | os.PathLike, progress: bool = True) -> AttributeVectors:
    """Every attribute's vector from all windows of ``examples_path``, from the run dir's cache when still valid."""
    windows = model.example_windows(examples_path, "all", progress=progress)
    path = model.run_dir / VECTORS_NAME
    key = _cache_key(windows, model)
    cached = _load_cached(path, key)
    if cached is not None:
        return cached
    values = {name: measure(name, windows, model) for name in ATTRIBUTES}
    _, mu, _ = model.encode_windows(windows, progress=progress)
    result = compute_vectors(mu.cpu().numpy(), values)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, key=np.array(key), n_windows=np.array(result.n_windows),
                 **{f"vector/{n}": v for n, v in result.vectors.items()},
                 **{f"spread/{n}": np.array(s) for n, s in result.spreads.items()})
    return result


@dataclass
class AttributeEdit:
    """A song moved along an attribute, with the attribute measured before (its first window) and after."""

    midi: pretty_midi.PrettyMIDI
    before: float
    after: float


def apply_attribute(model: TrainedModel, vectors: AttributeVectors, name: str, amount: float,
                    midi_path: str | os.PathLike, temperature: float = DEFAULT_TEMPERATURE,
                    source: str = "the examples") -> AttributeEdit:
    """Decode the first window of ``midi_path`` from its posterior mean plus ``amount`` times the vector of ``name``."""
    vector = vectors.vector(name, source)
    window = model.first_window(midi_path)
    _, mu, _ = model.encode_windows(window[None])
    z = mu + amount * torch.as_tensor(vector, device=mu.device)
    decoded = model.decode_windows(z, temperature)
    return AttributeEdit(model.to_midi(decoded)[0], float(measure(name, window[None], model)[0]),
                         float(measure(name, decoded, model)[0]))
