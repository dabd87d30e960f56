"""Monophonic melody windows with Magenta MusicVAE's OneHotMelodyConverter semantics.

A window is int16 [seq_len, 1] of 90 classes: 0 = no event (hold the sounding note or stay silent), 1 = note-off,
2..89 = note-on of pitches 21..108; 4 steps per quarter, 16 steps per bar (segments in other meters are skipped and
counted). Each non-drum track (optionally only programs in ``program_range``) gives one monophonic line, highest
note kept in polyphony; notes outside 21..108 are dropped first, as Magenta does. A silence of ``gap_bars`` bars
ends a melody; windows of ``slice_bars`` bars are taken at a 1-bar stride inside each melody, cleared of note-offs
before their first onset (as Magenta's melody slices are) and de-duplicated per file (Magenta de-duplicates per
time segment).

Two deliberate differences from Magenta: every window is kept (Magenta samples at most 5 per file,
``max_tensors_per_notesequence=5``) and melodies are never cut at 100 bars (``max_bars=100`` in some of its
configs): a prepared dataset holds all the data, and a training run chooses what it samples.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pretty_midi
import symusic

from symbolic.data.converters.base import (DECODE_VELOCITY, ConversionResult, Converter, FourFourWindows, new_midi,
                                           seconds_per_step)
from symbolic.data.converters.events import (MELODY_DEPTH, MELODY_HOLD, MELODY_MAX_PITCH, MELODY_MIN_PITCH, MELODY_OFF,
                                             clear_leading_offs, gap_breaks, melody_events, monophonic, span_bars,
                                             take_windows, unique_windows, window_starts)
from symbolic.data.converters.grid import Grid, TrackNotes, meter_reason, metered_grid, pitched_tracks, track_notes


def melody_line(grid: Grid, track: TrackNotes, stats: Counter) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The monophonic line (global start step, end step, pitch) of one track's notes in kept segments."""
    in_range = (track.pitch >= MELODY_MIN_PITCH) & (track.pitch <= MELODY_MAX_PITCH)
    stats["notes_out_of_pitch_range"] += int((~in_range).sum())
    track = track.select(in_range)
    start, end, keep = grid.quantize(track)
    stats["notes_other_meter"] += int((~keep).sum())
    return monophonic(start, end, track.pitch[keep])


def melody_spans(grid: Grid, track: TrackNotes, gap_steps: int,
                 stats: Counter) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A track's melody codes on the global steps and the first and end bar of each of its melodies (None: no note).

    ``events[first * steps_per_bar:end * steps_per_bar]`` is one melody as Magenta extracts it (``pad_end=True``).
    """
    start, end, pitch = melody_line(grid, track, stats)
    if len(start) == 0:
        return None
    bar_start, bar_end = span_bars(start, end, gap_breaks(start, end, gap_steps), grid.steps_per_bar)
    return melody_events(start, end, pitch, grid.n_steps), bar_start, bar_end


def kept_windows(parts: list[np.ndarray], stats: Counter) -> np.ndarray:
    """The distinct windows of every part (``windows`` and ``windows_duplicate`` counted in ``stats``)."""
    windows = unique_windows(np.concatenate(parts))
    stats["windows"] = len(windows)
    stats["windows_duplicate"] = sum(len(p) for p in parts) - len(windows)
    return windows


def decode_melody(codes: np.ndarray, steps_per_quarter: int, program: int = 0) -> pretty_midi.Instrument:
    """The instrument playing a melody code sequence: an onset sounds until a note-off, the next onset or the end."""
    step = seconds_per_step(steps_per_quarter)
    instrument = pretty_midi.Instrument(program=program)
    pitch, onset = None, 0
    for t, code in enumerate([*codes.tolist(), MELODY_OFF]):
        if code == MELODY_HOLD:
            continue
        if pitch is not None:
            instrument.notes.append(pretty_midi.Note(DECODE_VELOCITY, pitch, onset * step, t * step))
        pitch, onset = (code - 2 + MELODY_MIN_PITCH, t) if code != MELODY_OFF else (None, t)
    return instrument


@dataclass(frozen=True)
class MelodyConverter(FourFourWindows, Converter):
    """Magenta-compatible one-hot melody windows (90 classes) of ``slice_bars`` bars."""

    name = "melody"
    version = 2  # 2: last note-off, no leading note-off
    slice_bars: int = 2
    steps_per_quarter: int = 4
    program_range: tuple[int, int] | None = None
    gap_bars: int = 1

    @property
    def depths(self) -> tuple[int, ...]:
        return (MELODY_DEPTH,)

    @property
    def pitch_tracks(self) -> tuple[int, ...]:
        return (0,)

    def encode(self, score: symusic.Score, source: str) -> ConversionResult:
        """Melody windows of every eligible track of ``score``."""
        stats = Counter()
        parts, _, reason = self.track_windows(score, stats)
        if reason:
            return ConversionResult(self.empty(), stats, reason)
        return ConversionResult(kept_windows([windows for windows, _ in parts], stats)[:, :, None], stats)

    def track_windows(self, score: symusic.Score, stats: Counter, melodic: Callable[[Any], bool] | None = None
                      ) -> tuple[list[tuple[np.ndarray, np.ndarray]], Grid | None, str | None]:
        """Each eligible track's melody windows [n, seq_len] with their start bars on the grid's step axis, the
        grid, and why there are none (None when some); ``melodic`` (a symusic track -> bool) may exclude tracks."""
        eligible, reason = pitched_tracks(score, self.program_range, stats)
        if reason:
            return [], None, reason
        grid, reason = metered_grid(score, self.steps_per_quarter, self.steps_per_bar, stats)
        if reason:
            return [], grid, reason
        parts, found = [], False
        for track in eligible:
            if melodic is not None and not melodic(track):
                continue
            spans = melody_spans(grid, track_notes(track), self.gap_bars * self.steps_per_bar, stats)
            if spans is None:
                continue
            found = True
            events, bar_start, bar_end = spans
            stats["melodies"] += len(bar_start)
            stats["melodies_too_short"] += int((bar_end - bar_start < self.slice_bars).sum())
            starts = window_starts(bar_start, bar_end, self.slice_bars)
            if len(starts):
                parts.append((clear_leading_offs(take_windows(events, starts, self.steps_per_bar, self.seq_len)),
                              starts))
        return parts, grid, None if parts else self._reason(found, grid, stats)

    def _reason(self, found: bool, grid: Grid, stats: Counter) -> str:
        """Why no window came out of a score that has eligible tracks."""
        if found:
            return f"too short: no melody spans {self.slice_bars} bars"
        if stats["notes_other_meter"]:
            return meter_reason(grid, self.steps_per_bar)
        return f"pitch range: no note within {MELODY_MIN_PITCH}-{MELODY_MAX_PITCH}"

    def decode(self, window: np.ndarray) -> pretty_midi.PrettyMIDI:
        """A one-instrument MIDI (piano) of a [seq_len, 1] melody window."""
        pm = new_midi(self.steps_per_quarter, self.steps_per_bar)
        pm.instruments.append(decode_melody(np.asarray(window).reshape(-1), self.steps_per_quarter))
        return pm
