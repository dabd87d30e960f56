"""Trio windows (melody, bass, drums) with Magenta MusicVAE's TrioConverter semantics.

A window is int16 [seq_len, 3]: column 0 melody codes (90 classes, programs 0-31), column 1 bass codes (90 classes,
programs 32-39), column 2 drum codes (512 classes); 4 steps per quarter, 16 per bar, ``slice_bars`` (16) bars.
Each melody or bass track is one monophonic line over its whole time segment (no gap splitting); each drum track
is encoded alone. A track covers the bars its notes touch, widened by ``gap_bars`` on both sides; every
(melody, bass, drums) combination of tracks gives the windows, at a 1-bar stride, where all three cover every bar
(the first and last ``gap_bars`` bars of a segment count as covered when any of the three plays there, as in
Magenta). All three parts are required. Windows are de-duplicated per file. Unlike the melody converter's, trio
windows keep a note-off before their first onset, as Magenta's trio slices do (they slice arrays, not melodies).
Every window is kept (Magenta samples at most 5 per file) and no bar limit applies (Magenta's trio converter
stops at ``max_bars=1024``): a prepared dataset holds all the data.
"""
from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pretty_midi
import symusic

from symbolic.data.converters.base import ConversionResult, Converter, FourFourWindows, new_midi
from symbolic.data.converters.drums import DRUM_DEPTH, decode_drums, drum_events, drum_line
from symbolic.data.converters.events import MELODY_DEPTH, melody_events, take_windows, unique_windows
from symbolic.data.converters.grid import Grid, TrackNotes, metered_grid, sounding_tracks, track_notes
from symbolic.data.converters.melody import decode_melody, melody_line

MELODY_PROGRAMS = range(0, 32)
BASS_PROGRAMS = range(32, 40)
BASS_DECODE_PROGRAM = 33  # electric bass (finger), as Magenta decodes
PARTS = ("melody", "bass", "drums")


def part_of(track: symusic.Track) -> str | None:
    """Which trio part a track can play, or None for other programs."""
    if track.is_drum:
        return "drums"
    if track.program in MELODY_PROGRAMS:
        return "melody"
    return "bass" if track.program in BASS_PROGRAMS else None


def bar_coverage(grid: Grid, track: TrackNotes) -> np.ndarray:
    """Per global bar, whether any note of ``track`` sounds in it."""
    start, end, _ = grid.quantize(track)
    n_bars = grid.n_steps // grid.steps_per_bar
    edges = np.zeros(n_bars + 1, np.int64)
    np.add.at(edges, start // grid.steps_per_bar, 1)
    np.add.at(edges, np.minimum(-(-end // grid.steps_per_bar), n_bars), -1)
    return np.cumsum(edges[:-1]) > 0


def widen(covered: np.ndarray, bars: int) -> np.ndarray:
    """Coverage of a segment widened by ``bars`` on each side (within the segment)."""
    counts = np.concatenate([[0], np.cumsum(covered)])
    index = np.arange(len(covered))
    return counts[np.minimum(index + bars + 1, len(covered))] - counts[np.maximum(index - bars, 0)] > 0


def encoded_segments(grid: Grid, steps: np.ndarray) -> np.ndarray:
    """Per kept segment, whether a line has any onset in it."""
    return np.bincount(grid.segment_of(steps), minlength=len(grid.bar_start)) > 0


@dataclass(frozen=True)
class TrioConverter(FourFourWindows, Converter):
    """Magenta-compatible trio windows (90 + 90 + 512 classes) of ``slice_bars`` bars."""

    name = "trio"
    version = 2  # 2: last note-off, pitch 43 is a low tom
    slice_bars: int = 16
    steps_per_quarter: int = 4
    gap_bars: int = 2

    @property
    def depths(self) -> tuple[int, ...]:
        return (MELODY_DEPTH, MELODY_DEPTH, DRUM_DEPTH)

    @property
    def pitch_tracks(self) -> tuple[int, ...]:
        return (0, 1)

    def _line(self, grid: Grid, track: TrackNotes, part: str, stats: Counter) -> tuple[np.ndarray, np.ndarray]:
        """A track's codes on the global steps and the kept segments in which it has notes to encode."""
        if part == "drums":
            onsets, bits = drum_line(grid, [track], stats)
            return drum_events(onsets, bits, grid.n_steps), encoded_segments(grid, onsets)
        start, end, pitch = melody_line(grid, track, stats)
        return melody_events(start, end, pitch, grid.n_steps), encoded_segments(grid, start)

    def encode(self, score: symusic.Score, source: str) -> ConversionResult:
        """Trio windows of every (melody, bass, drums) combination of tracks of ``score``."""
        stats = Counter()
        tracks = sounding_tracks(score)
        stats["tracks"] = len(tracks)
        if not tracks:
            return ConversionResult(self.empty(), stats, "no notes")
        by_part = {part: [t for t in tracks if part_of(t) == part] for part in PARTS}
        for part, members in by_part.items():
            stats[f"tracks_{part}"] = len(members)
        stats["tracks_other_program"] = len(tracks) - sum(len(m) for m in by_part.values())
        missing = [part for part, members in by_part.items() if not members]
        if missing:
            return ConversionResult(self.empty(), stats, f"missing parts: no {', '.join(missing)}")

        grid, reason = metered_grid(score, self.steps_per_quarter, self.steps_per_bar, stats)
        if reason:
            return ConversionResult(self.empty(), stats, reason)
        lines = {part: [(*self._line(grid, notes, part, stats), bar_coverage(grid, notes))
                        for notes in map(track_notes, members)] for part, members in by_part.items()}
        parts = []
        for combo in itertools.product(*lines.values()):
            events = np.stack([line[0] for line in combo], axis=1)
            starts = self._window_starts(grid, combo)
            parts.append(take_windows(events, starts, self.steps_per_bar, self.seq_len))
        windows = np.concatenate(parts)
        unique = unique_windows(windows)
        stats["combinations"] = len(parts)
        stats["windows"], stats["windows_duplicate"] = len(unique), len(windows) - len(unique)
        reason = None if len(unique) else f"no overlap: the three parts never play together for {self.slice_bars} bars"
        return ConversionResult(unique, stats, reason)

    def _window_starts(self, grid: Grid, combo: tuple) -> np.ndarray:
        """Global start bars of the windows in which every track of ``combo`` covers every bar."""
        starts = []
        g = self.gap_bars
        for k, (first, stop) in enumerate(zip(grid.bar_start.tolist(), grid.bar_end.tolist())):
            if stop - first < self.slice_bars or not all(encoded[k] for _, encoded, _ in combo):
                continue
            covered = np.stack([widen(cover[first:stop], g) for _, _, cover in combo])
            together = covered.all(axis=0)
            if g:
                together[:g] = covered[:, :g].any()
                together[-g:] = covered[:, -g:].any()
            full = np.convolve(together, np.ones(self.slice_bars, int), mode="valid") == self.slice_bars
            starts.append(first + np.flatnonzero(full))
        return np.concatenate(starts) if starts else np.zeros(0, np.int64)

    def decode(self, window: np.ndarray) -> pretty_midi.PrettyMIDI:
        """A three-instrument MIDI (piano melody, electric bass, drums) of a [seq_len, 3] trio window."""
        window = np.asarray(window)
        pm = new_midi(self.steps_per_quarter, self.steps_per_bar)
        pm.instruments.append(decode_melody(window[:, 0], self.steps_per_quarter))
        pm.instruments.append(decode_melody(window[:, 1], self.steps_per_quarter, BASS_DECODE_PROGRAM))
        pm.instruments.append(decode_drums(window[:, 2], self.steps_per_quarter))
        return pm
