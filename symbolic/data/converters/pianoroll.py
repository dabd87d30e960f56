"""Polyphonic piano-roll bars, the frames of CNN-VRNN.

A window is bool [slice_bars, 2, steps_per_bar, n_pitches]: a sequence of ``slice_bars`` true bars, each an image
with two binary channels over steps x pitches (``pitch_range`` inclusive): channel 0 = onset (a note starts),
channel 1 = sounding (the note is held, its onset step included). Keeping onsets apart from sustain means a
repeated note is re-struck when decoding. Bars come from the time signature: segments whose bar is not
``steps_per_bar`` steps long (16 = 4/4 at 4 steps per quarter; 12 = 3/4) are skipped and counted. All non-drum
tracks (optionally only programs in ``program_range``) are merged; notes outside the pitch range are dropped and
counted. Training windows are taken at a 1-bar stride inside each time segment where no bar is silent,
de-duplicated per file; ``song_windows`` tiles a whole song instead. Decoded notes are louder on the beat.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pretty_midi
import symusic

from symbolic.data.converters.base import ConversionResult, Converter, new_midi, seconds_per_step
from symbolic.data.converters.events import take_windows, unique_windows
from symbolic.data.converters.grid import Grid, meter_reason, metered_grid, pitched_tracks, track_notes

ONSET, SOUNDING = 0, 1
# Decoded velocities by the metrical position of the onset: on the downbeat, on another beat, between beats.
DOWNBEAT_VELOCITY, BEAT_VELOCITY, OFFBEAT_VELOCITY = 92, 80, 68


@dataclass(frozen=True)
class PianorollConverter(Converter):
    """Binary onset/sounding piano rolls of ``slice_bars`` consecutive bars."""

    name = "pianoroll"
    dtype = np.bool_
    slice_bars: int = 4
    steps_per_quarter: int = 4
    steps_per_bar: int = 16
    pitch_range: tuple[int, int] = (21, 108)
    program_range: tuple[int, int] | None = None

    @property
    def n_pitches(self) -> int:
        return self.pitch_range[1] - self.pitch_range[0] + 1

    @property
    def depths(self) -> tuple[int, ...]:
        return (2,)

    @property
    def seq_len(self) -> int:
        return self.slice_bars

    @property
    def window_seconds(self) -> float:
        return self.slice_bars * self.steps_per_bar * seconds_per_step(self.steps_per_quarter)

    @property
    def window_shape(self) -> tuple[int, ...]:
        return (self.slice_bars, 2, self.steps_per_bar, self.n_pitches)

    def encode(self, score: symusic.Score, source: str) -> ConversionResult:
        """Piano-roll windows of the merged pitched tracks of ``score``."""
        stats = Counter()
        roll, grid, reason = self._roll(score, stats)
        if reason:
            return ConversionResult(self.empty(), stats, reason)
        starts = self._window_starts(grid, roll[:, SOUNDING])
        windows = self._windows(roll, starts)
        unique = unique_windows(windows)
        stats["windows"], stats["windows_duplicate"] = len(unique), len(windows) - len(unique)
        reason = None if len(unique) else f"too short: no {self.slice_bars} consecutive bars without a silent bar"
        return ConversionResult(unique, stats, reason)

    def song_windows(self, score: symusic.Score, source: str) -> ConversionResult:
        """Every bar of ``score`` in order, tiled into windows without overlap or de-duplication (silent bars too),
        the last window of each time segment padded with silent bars: a whole song to encode and stitch back."""
        stats = Counter()
        roll, grid, reason = self._roll(score, stats)
        if reason:
            return ConversionResult(self.empty(), stats, reason)
        roll = np.concatenate([roll, np.zeros((self.slice_bars * self.steps_per_bar, *roll.shape[1:]), bool)])
        starts = [np.arange(first, stop, self.slice_bars)
                  for first, stop in zip(grid.bar_start.tolist(), grid.bar_end.tolist())]
        bars = np.concatenate([np.minimum(stop - s, self.slice_bars) for s, stop in zip(starts, grid.bar_end)])
        windows = self._windows(roll, np.concatenate(starts))
        windows[np.arange(self.slice_bars)[None, :] >= bars[:, None]] = False  # past its segment's end: silence
        stats["windows"], stats["bars"] = len(windows), int(bars.sum())
        return ConversionResult(windows, stats, None)

    def _roll(self, score: symusic.Score, stats: Counter) -> tuple[np.ndarray | None, Grid | None, str | None]:
        """The onset/sounding roll bool [steps, 2, pitches] of the merged pitched tracks on the score's grid, or why
        there is none."""
        pitched, reason = pitched_tracks(score, self.program_range, stats)
        if reason:
            return None, None, reason
        grid, reason = metered_grid(score, self.steps_per_quarter, self.steps_per_bar, stats)
        if reason:
            return None, None, reason
        low, high = self.pitch_range
        onset = np.zeros((grid.n_steps, self.n_pitches), bool)
        edges = np.zeros((grid.n_steps + 1, self.n_pitches), np.int32)
        for track in map(track_notes, pitched):
            in_range = (track.pitch >= low) & (track.pitch <= high)
            stats["notes_out_of_pitch_range"] += int((~in_range).sum())
            track = track.select(in_range)
            start, end, keep = grid.quantize(track)
            stats["notes_other_meter"] += int((~keep).sum())
            column = track.pitch[keep] - low
            onset[start, column] = True
            np.add.at(edges, (start, column), 1)
            np.add.at(edges, (end, column), -1)
        if not onset.any():
            reason = (meter_reason(grid, self.steps_per_bar) if stats["notes_other_meter"]
                      else f"pitch range: no note within {low}-{high}")
            return None, None, reason
        sounding = np.cumsum(edges[:-1], axis=0) > 0
        return np.stack([onset, sounding], axis=1), grid, None

    def _windows(self, roll: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Windows [len(starts), slice_bars, 2, steps_per_bar, pitches] of ``roll`` beginning at the bars ``starts``."""
        windows = take_windows(roll, starts, self.steps_per_bar, self.slice_bars * self.steps_per_bar)
        windows = windows.reshape(len(starts), self.slice_bars, self.steps_per_bar, 2, self.n_pitches)
        return np.ascontiguousarray(windows.transpose(0, 1, 3, 2, 4))

    def _window_starts(self, grid: Grid, sounding: np.ndarray) -> np.ndarray:
        """Global start bars of the windows, inside one segment, in which no bar is silent (``sounding`` [steps,
        pitches])."""
        heard = sounding.reshape(-1, self.steps_per_bar, self.n_pitches).any(axis=(1, 2))
        starts = []
        for first, stop in zip(grid.bar_start.tolist(), grid.bar_end.tolist()):
            if stop - first >= self.slice_bars:
                full = np.convolve(heard[first:stop], np.ones(self.slice_bars, int), mode="valid") == self.slice_bars
                starts.append(first + np.flatnonzero(full))
        return np.concatenate(starts) if starts else np.zeros(0, np.int64)

    def decode(self, window: np.ndarray) -> pretty_midi.PrettyMIDI:
        """A piano MIDI of one window: onsets start notes and sounding extends them until it stops or the next onset
        (sounding at the first step continues a note from before the window and starts one too; sounding that no
        onset leads to, which only generated windows have, is dropped). Velocities follow the beat (louder on
        downbeats, softer between beats)."""
        window = np.asarray(window, bool)
        onset = window[:, ONSET].reshape(-1, self.n_pitches)
        sounding = window[:, SOUNDING].reshape(-1, self.n_pitches) | onset
        step = seconds_per_step(self.steps_per_quarter)
        instrument = pretty_midi.Instrument(program=0)
        for column in np.flatnonzero(sounding.any(axis=0)):
            on = sounding[:, column]
            begins = onset[:, column].copy()
            begins[0] |= on[0]
            starts = np.flatnonzero(begins)
            for a, b in zip(starts, [*starts[1:], len(on)]):
                silent = np.flatnonzero(~on[a:b])
                end = a + (silent[0] if len(silent) else b - a)
                instrument.notes.append(pretty_midi.Note(self._velocity(int(a)), int(column) + self.pitch_range[0],
                                                         a * step, end * step))
        pm = new_midi(self.steps_per_quarter, self.steps_per_bar)
        pm.instruments.append(instrument)
        return pm

    def _velocity(self, step: int) -> int:
        """The velocity of a note starting at ``step`` of a window."""
        if step % self.steps_per_bar == 0:
            return DOWNBEAT_VELOCITY
        return BEAT_VELOCITY if step % self.steps_per_quarter == 0 else OFFBEAT_VELOCITY
