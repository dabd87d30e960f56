"""How much generated windows resemble real ones: per-window musical features and their distributions' overlap.

Each window (any family's output, decoded to pretty_midi) is reduced to a few simple features of its pitched notes;
for each feature the overlapping area of the two sets' distributions (Yang & Lerch, "On the evaluation of generative
models in music", 2020) says how alike they are: 1 for identical distributions, 0 for disjoint ones. A feature a
window cannot have (an interval in a window of one note) counts as its own outcome, "undefined", so a model that
writes silence does not look like one that writes music. Two disjoint halves of the real windows give the ceiling
that finite samples allow. This module never imports torch.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pretty_midi
from scipy.integrate import trapezoid
from scipy.stats import gaussian_kde

GRID_POINTS = 512
MAJOR_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
SCALES = (MAJOR_SCALE[None, :] + np.arange(12)[:, None]) % 12  # the 12 major (= natural minor) pitch-class sets


@dataclass
class Notes:
    """The pitched notes of one window: pitches by onset, and for each note whether it follows one of its track."""

    pitch: np.ndarray
    follows: np.ndarray  # note i continues the line of note i - 1 (same instrument)


def window_notes(midi: pretty_midi.PrettyMIDI) -> Notes:
    """All non-drum notes of ``midi``, instrument by instrument, each instrument's in onset order."""
    pitches, follows = [], []
    for instrument in midi.instruments:
        if instrument.is_drum or not instrument.notes:
            continue
        ordered = sorted(instrument.notes, key=lambda n: (n.start, n.pitch))
        pitches.extend(n.pitch for n in ordered)
        follows.extend([False] + [True] * (len(ordered) - 1))
    return Notes(np.array(pitches, dtype=np.int64), np.array(follows, dtype=bool))


def _steps(notes: Notes) -> np.ndarray:
    """Pitch differences between consecutive notes of one line."""
    return np.diff(notes.pitch)[notes.follows[1:]] if len(notes.pitch) > 1 else np.zeros(0, np.int64)


def pitch_range(notes: Notes, seconds: float) -> float:
    """Highest minus lowest pitch, in semitones."""
    return float(np.ptp(notes.pitch)) if len(notes.pitch) else np.nan


def mean_pitch(notes: Notes, seconds: float) -> float:
    """Mean MIDI pitch."""
    return float(notes.pitch.mean()) if len(notes.pitch) else np.nan


def pitch_class_entropy(notes: Notes, seconds: float) -> float:
    """Entropy in bits of the pitch-class histogram (0: one pitch class; log2(12): all equally often)."""
    if not len(notes.pitch):
        return np.nan
    p = np.bincount(notes.pitch % 12, minlength=12) / len(notes.pitch)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def scale_consistency(notes: Notes, seconds: float) -> float:
    """Largest fraction of the notes that fall in one major (or natural minor) scale."""
    if not len(notes.pitch):
        return np.nan
    in_scale = (notes.pitch[:, None, None] % 12 == SCALES[None]).any(axis=2)  # [notes, scales]
    return float(in_scale.mean(axis=0).max())


def notes_per_second(notes: Notes, seconds: float) -> float:
    """Note onsets per second of the window."""
    return len(notes.pitch) / seconds


def mean_interval(notes: Notes, seconds: float) -> float:
    """Mean absolute interval in semitones between consecutive notes of a line."""
    steps = _steps(notes)
    return float(np.abs(steps).mean()) if len(steps) else np.nan


def repeated_note_rate(notes: Notes, seconds: float) -> float:
    """Fraction of consecutive notes of a line that repeat the previous pitch."""
    steps = _steps(notes)
    return float((steps == 0).mean()) if len(steps) else np.nan


FEATURES: dict[str, Callable[[Notes, float], float]] = {f.__name__: f for f in (
    pitch_range, mean_pitch, pitch_class_entropy, scale_consistency, notes_per_second, mean_interval,
    repeated_note_rate)}


def features(midis: Sequence[pretty_midi.PrettyMIDI], seconds: float) -> dict[str, np.ndarray]:
    """Every feature of every window ``seconds`` long: name -> float array (NaN where undefined)."""
    notes = [window_notes(m) for m in midis]
    return {name: np.array([f(n, seconds) for n in notes], dtype=np.float64) for name, f in FEATURES.items()}


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Overlapping area of the distributions of two samples of one feature; NaN values form an outcome of their own.

    Each sample's finite values are smoothed by a Gaussian KDE (a small fixed bandwidth where all values are equal)
    and weighted by the sample's finite fraction; the area under the smaller density is added to the smaller
    undefined fraction.
    """
    if not len(a) or not len(b):
        return 0.0
    finite_a, finite_b = a[np.isfinite(a)], b[np.isfinite(b)]
    weight_a, weight_b = len(finite_a) / len(a), len(finite_b) / len(b)
    shared = min(1 - weight_a, 1 - weight_b)
    if not len(finite_a) or not len(finite_b):
        return shared
    values = np.concatenate([finite_a, finite_b])
    spread = max(float(np.ptp(values)), 1e-3)
    grid = np.linspace(values.min() - 0.25 * spread, values.max() + 0.25 * spread, GRID_POINTS)
    density_a, density_b = _density(finite_a, grid, spread), _density(finite_b, grid, spread)
    area = trapezoid(np.minimum(weight_a * density_a, weight_b * density_b), grid)
    return float(min(1.0, shared + area))


def _density(values: np.ndarray, grid: np.ndarray, spread: float) -> np.ndarray:
    """Gaussian KDE of ``values`` on ``grid``, normalised there; a narrow bump where the values are (nearly) equal."""
    if len(values) > 1 and np.ptp(values) > 1e-9 * spread:
        try:
            density = gaussian_kde(values)(grid)
        except np.linalg.LinAlgError:  # singular covariance: values all but equal
            density = None
        if density is not None:
            return density / trapezoid(density, grid)
    width = 0.02 * spread
    density = np.exp(-0.5 * ((grid[:, None] - values[None, :]) / width) ** 2).sum(axis=1)
    return density / trapezoid(density, grid)


def compare(samples: Sequence[pretty_midi.PrettyMIDI], real: Sequence[pretty_midi.PrettyMIDI], seconds: float,
            seed: int = 0) -> dict:
    """Per feature: the overlap of samples with real windows, the real-vs-real ceiling and both means; and averages.

    The ceiling compares two disjoint random halves of ``real`` (so it needs at least 4 real windows).
    """
    if len(real) < 4:
        raise ValueError(f"need at least 4 real windows to compare with, got {len(real)}")
    sample_features, real_features = features(samples, seconds), features(real, seconds)
    order = np.random.default_rng(seed).permutation(len(real))
    half_a, half_b = order[: len(real) // 2], order[len(real) // 2:]
    per_feature = {}
    for name in FEATURES:
        s, r = sample_features[name], real_features[name]
        per_feature[name] = {"overlap": overlap(s, r), "ceiling": overlap(r[half_a], r[half_b]),
                             "sample_mean": _nanmean(s), "real_mean": _nanmean(r)}
    return {"overlap": float(np.mean([v["overlap"] for v in per_feature.values()])),
            "ceiling": float(np.mean([v["ceiling"] for v in per_feature.values()])),
            "n_samples": len(samples), "n_real": len(real), "features": per_feature}


def _nanmean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None
