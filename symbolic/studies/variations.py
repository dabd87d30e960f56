"""Variations of a whole song from any latent model: every window encoded, redrawn around its posterior, stitched back.

The song is cut into the model's windows in order, without overlap and without de-duplication: piano-roll bars by
the converter itself (``song_windows``, the last window of a segment padded with silent bars); 4/4 grids (melody,
drums, trio) by clipping the score to each run of ``slice_bars`` bars and encoding the clip (a clip the converter
finds no window in, e.g. one whose first bar is silent for a melody, becomes a silent window and is counted); note
tokens in consecutive windows of ``seq_len`` tokens (``hop = seq_len``; a window that repeats one before it exactly
is dropped by the converter). Each variation draws z = μ + T·σ·ε for every window, decodes it at temperature T and
lays the decoded windows end to end. Distances to the song (onset F1 on a 16th grid, pitch-class-histogram distance)
are given for each variation and, as the reference, for prior samples of the same number of windows.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import numpy as np
import pretty_midi
import symusic
import torch

from engine.errors import UserError
from symbolic.data.converters import Converter, NoteTokenConverter, PianorollConverter
from symbolic.data.converters.base import seconds_per_step
from symbolic.data.converters.grid import build_grid
from symbolic.data.converters.notes import DURATION_RATIOS
from symbolic.data.midi_io import read_score
from symbolic.trained_model import TrainedModel, check_temperature

GRID_SECONDS = seconds_per_step(4)  # onsets are compared on a 16th-note grid at the decode tempo


@dataclass
class Distance:
    """How far one MIDI is from the song: onset F1 (1 = the same onsets) and pitch-class distance (0 = alike)."""

    onset_f1: float
    pitch_class_distance: float

    @staticmethod
    def mean(distances: list[Distance]) -> Distance:
        """The mean of each measure over ``distances``."""
        return Distance(sum(d.onset_f1 for d in distances) / len(distances),
                        sum(d.pitch_class_distance for d in distances) / len(distances))


@dataclass
class SongVariations:
    """The song as the model reads it (its windows decoded and stitched), the variations, and their distances."""

    song: pretty_midi.PrettyMIDI
    variations: list[pretty_midi.PrettyMIDI]
    distances: list[Distance]
    prior_distances: list[Distance]  # of prior samples as long as the song: the reference
    n_windows: int
    silent_windows: int  # windows of the song in which the converter found nothing (played as silence)


def song_windows(converter: Converter, score: symusic.Score, source: str) -> np.ndarray:
    """The windows [N, ...] of a whole song in order, tiled without overlap (see the module docstring)."""
    if isinstance(converter, PianorollConverter):
        result = converter.song_windows(score, source)
        if result.reason:
            raise UserError(f"{source}: no {converter.name} windows ({result.reason})")
        return result.windows
    if isinstance(converter, NoteTokenConverter):
        result = dataclasses.replace(converter, hop=converter.seq_len).encode(score, source)
        if result.reason:
            raise UserError(f"{source}: no {converter.name} windows ({result.reason})")
        return result.windows
    return _clipped_windows(converter, score, source)


def _clipped_windows(converter: Converter, score: symusic.Score, source: str) -> np.ndarray:
    """One window per run of ``slice_bars`` bars of each segment in the converter's meter (silence where none)."""
    grid = build_grid(score, converter.steps_per_quarter, converter.steps_per_bar)
    tile = converter.slice_bars * score.ticks_per_quarter * converter.steps_per_bar // converter.steps_per_quarter
    windows = []
    for start, end, offset in zip(grid.tick_start.tolist(), grid.tick_end.tolist(), grid.step_offset.tolist()):
        if offset < 0:  # a segment in another meter
            continue
        for tick in range(start, end, tile):
            clip = score.clip(tick, tick + tile, clip_end=True).shift_time(-tick)
            found = converter.encode(clip, source).windows
            windows.append(found[0] if len(found) else np.zeros(converter.window_shape, converter.dtype))
    if not windows or not any(w.any() for w in windows):
        raise UserError(f"{source}: no {converter.slice_bars}-bar {converter.name} window in any part of the song "
                        f"(it needs {converter.steps_per_bar} steps per bar and notes the converter keeps)")
    return np.stack(windows)


def window_seconds(converter: Converter, window: np.ndarray) -> float:
    """How long a decoded window lasts: fixed for bar grids, the sum of its tokens' durations for note tokens."""
    if isinstance(converter, NoteTokenConverter):
        return float(np.asarray(DURATION_RATIOS)[np.asarray(window)[:, 2]].sum()) * converter.unit_seconds
    return converter.window_seconds


def stitch(converter: Converter, windows: np.ndarray, until: float = math.inf) -> pretty_midi.PrettyMIDI:
    """The windows [N, ...] decoded and laid end to end in one MIDI, notes starting at ``until`` or later dropped."""
    song = converter.decode(windows[0])
    parts = {(i.program, i.is_drum, i.name): i for i in song.instruments}
    offset = window_seconds(converter, windows[0])
    for window in windows[1:]:
        decoded = converter.decode(window)
        song.lyrics.extend(pretty_midi.Lyric(lyric.text, lyric.time + offset) for lyric in decoded.lyrics)  # chords
        for instrument in decoded.instruments:
            key = (instrument.program, instrument.is_drum, instrument.name)
            if key not in parts:
                parts[key] = pretty_midi.Instrument(instrument.program, instrument.is_drum, instrument.name)
                song.instruments.append(parts[key])
            parts[key].notes.extend(pretty_midi.Note(n.velocity, n.pitch, n.start + offset, n.end + offset)
                                    for n in instrument.notes)
        offset += window_seconds(converter, window)
    for instrument in song.instruments:
        instrument.notes = [n for n in instrument.notes if n.start < until]
        for note in instrument.notes:
            note.end = min(note.end, until)
    return song


def onsets(midi: pretty_midi.PrettyMIDI) -> set[tuple[bool, int, int]]:
    """(is drum, grid step, pitch) of every note's onset."""
    return {(i.is_drum, round(n.start / GRID_SECONDS), n.pitch) for i in midi.instruments for n in i.notes}


def onset_f1(a: pretty_midi.PrettyMIDI, b: pretty_midi.PrettyMIDI) -> float:
    """F1 of the onsets of ``a`` against those of ``b`` (1 when both are silent)."""
    x, y = onsets(a), onsets(b)
    if not x and not y:
        return 1.0
    return 2 * len(x & y) / (len(x) + len(y))


def pitch_class_histogram(midi: pretty_midi.PrettyMIDI) -> np.ndarray:
    """Counts of the 12 pitch classes over the pitched notes."""
    pitches = [n.pitch for i in midi.instruments if not i.is_drum for n in i.notes]
    return np.bincount(np.asarray(pitches, np.int64) % 12, minlength=12).astype(np.float64)


def pitch_class_distance(a: pretty_midi.PrettyMIDI, b: pretty_midi.PrettyMIDI) -> float:
    """Total-variation distance of the two pitch-class distributions: 0 alike, 1 disjoint (or one silent)."""
    p, q = pitch_class_histogram(a), pitch_class_histogram(b)
    if not p.sum() or not q.sum():
        return float(bool(p.sum()) != bool(q.sum()))
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())


def distance(midi: pretty_midi.PrettyMIDI, song: pretty_midi.PrettyMIDI) -> Distance:
    """Both distances of ``midi`` to ``song``."""
    return Distance(onset_f1(midi, song), pitch_class_distance(midi, song))


def make_variations(model: TrainedModel, midi_path: str | os.PathLike, n: int,
                    temperature: float) -> SongVariations:
    """n variations of the whole song in ``midi_path``, with n prior samples of its length as the reference."""
    model.require("variations", "variations")
    check_temperature(temperature)
    if n < 1:
        raise UserError(f"the number of variations must be at least 1, got {n}")
    converter = model.converter
    windows = song_windows(converter, read_score(midi_path), str(midi_path))
    song = stitch(converter, windows)
    until = _song_end(converter, song)
    _, mu, sigma = model.encode_windows(windows)
    chords = model.window_chords(windows)  # a chord-conditioned model keeps the song's chords
    variations = [stitch(converter, model.decode_windows(mu + temperature * sigma * torch.randn_like(sigma),
                                                        temperature, chords), until) for _ in range(n)]
    priors = [stitch(converter, model.sample_windows(len(windows), temperature, chords), until) for _ in range(n)]
    silent = sum(not w.any() for w in windows)
    return SongVariations(song, variations, [distance(v, song) for v in variations],
                          [distance(p, song) for p in priors], len(windows), silent)


def _song_end(converter: Converter, song: pretty_midi.PrettyMIDI) -> float:
    """Where the variations stop: the song's last note end, rounded up to a bar on bar grids."""
    end = song.get_end_time()
    if isinstance(converter, NoteTokenConverter):
        return end
    bar = converter.window_seconds / converter.slice_bars
    return math.ceil(end / bar - 1e-9) * bar
