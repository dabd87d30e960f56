"""Drum windows with Magenta MusicVAE's DrumsConverter semantics (one-hot output over 512 classes).

A window is int16 [seq_len, 1]: at each step the set of drum classes struck, as a 9-bit number (bit i = class i of
``DRUM_CLASSES``: kick, snare, closed hi-hat, open hi-hat, low tom, mid tom, high tom, crash, ride), so 512
classes; 4 steps per quarter, 16 per bar. The notes of every drum track are merged; pitches outside the map are
dropped. A silence of ``gap_bars`` bars between onsets ends a drum track; windows of ``slice_bars`` bars at a 1-bar
stride, de-duplicated per file. Deliberately unlike Magenta, every window is kept (it samples at most 5 per file)
and drum tracks are not cut at 100 bars (its configs' ``max_bars=100``). Decoding strikes each class's first pitch
for one step.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pretty_midi
import symusic

from symbolic.data.converters.base import (DECODE_VELOCITY, ConversionResult, Converter, FourFourWindows, new_midi,
                                           seconds_per_step)
from symbolic.data.converters.events import gap_breaks, span_bars, take_windows, unique_windows, window_starts
from symbolic.data.converters.grid import Grid, TrackNotes, meter_reason, metered_grid, sounding_tracks, track_notes

# Magenta's drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES since April 2019 ("Correct a few bad MIDI drum
# mappings"): 43, GM's High Floor Tom, is a low tom.
DRUM_CLASSES = (
    (36, 35),  # kick
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),  # snare
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),  # closed hi-hat
    (46, 67, 72, 74, 79, 81, 26),  # open hi-hat
    (45, 29, 41, 43, 61, 64, 84),  # low tom
    (48, 47, 60, 63, 77, 86, 87),  # mid tom
    (50, 30, 62, 76, 83),  # high tom
    (49, 52, 55, 57, 58),  # crash
    (51, 53, 59, 82),  # ride
)
DRUM_DEPTH = 2 ** len(DRUM_CLASSES)
DRUM_CLASS_OF_PITCH = np.full(128, -1, np.int64)
for _index, _pitches in enumerate(DRUM_CLASSES):
    DRUM_CLASS_OF_PITCH[list(_pitches)] = _index


def drum_line(grid: Grid, tracks: list[TrackNotes], stats: Counter) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct onset steps of the mapped drum notes of ``tracks``, and the class bits struck at each."""
    start = np.concatenate([t.start for t in tracks])
    end = np.concatenate([t.end for t in tracks])
    pitch = np.concatenate([t.pitch for t in tracks])
    drum_class = DRUM_CLASS_OF_PITCH[pitch]
    mapped = drum_class >= 0
    stats["notes_unmapped_drum"] += int((~mapped).sum())
    notes = TrackNotes(0, True, start[mapped], end[mapped], pitch[mapped])
    steps, _, keep = grid.quantize(notes)
    stats["notes_other_meter"] += int((~keep).sum())
    onsets, inverse = np.unique(steps, return_inverse=True)
    struck = np.unique(inverse * len(DRUM_CLASSES) + drum_class[mapped][keep])
    bits = np.zeros(len(onsets), np.int64)
    np.add.at(bits, struck // len(DRUM_CLASSES), 1 << (struck % len(DRUM_CLASSES)))
    return onsets, bits


def drum_events(onsets: np.ndarray, bits: np.ndarray, n_steps: int) -> np.ndarray:
    """Drum codes on ``n_steps`` steps: the class bits at each onset, 0 elsewhere."""
    events = np.zeros(n_steps, np.int16)
    events[onsets] = bits
    return events


def decode_drums(codes: np.ndarray, steps_per_quarter: int) -> pretty_midi.Instrument:
    """The drum instrument striking, at each step, the first pitch of every class set in the step's code."""
    step = seconds_per_step(steps_per_quarter)
    instrument = pretty_midi.Instrument(program=0, is_drum=True)
    for t, code in enumerate(codes.tolist()):
        for index, pitches in enumerate(DRUM_CLASSES):
            if code >> index & 1:
                instrument.notes.append(pretty_midi.Note(DECODE_VELOCITY, pitches[0], t * step, (t + 1) * step))
    return instrument


@dataclass(frozen=True)
class DrumsConverter(FourFourWindows, Converter):
    """Magenta-compatible 9-class drum windows (512 one-hot classes) of ``slice_bars`` bars."""

    name = "drums"
    version = 2  # 2: pitch 43 is a low tom
    slice_bars: int = 2
    steps_per_quarter: int = 4
    gap_bars: int = 1

    @property
    def depths(self) -> tuple[int, ...]:
        return (DRUM_DEPTH,)

    def encode(self, score: symusic.Score, source: str) -> ConversionResult:
        """Drum windows of the merged drum tracks of ``score``."""
        stats = Counter()
        tracks = sounding_tracks(score)
        drums = [t for t in tracks if t.is_drum]
        stats["tracks"], stats["tracks_drum"] = len(tracks), len(drums)
        if not tracks:
            return ConversionResult(self.empty(), stats, "no notes")
        if not drums:
            return ConversionResult(self.empty(), stats, "no drums: no drum track (MIDI channel 10)")
        grid, reason = metered_grid(score, self.steps_per_quarter, self.steps_per_bar, stats)
        if reason:
            return ConversionResult(self.empty(), stats, reason)
        onsets, bits = drum_line(grid, [track_notes(t) for t in drums], stats)
        if not len(onsets):
            reason = ("no drums: no drum note in the 9-class map" if stats["notes_unmapped_drum"]
                      else meter_reason(grid, self.steps_per_bar))
            return ConversionResult(self.empty(), stats, reason)
        brk = gap_breaks(onsets, onsets + 1, self.gap_bars * self.steps_per_bar)
        bar_start, bar_end = span_bars(onsets, onsets + 1, brk, self.steps_per_bar)
        stats["drum_tracks"] = len(bar_start)
        stats["drum_tracks_too_short"] = int((bar_end - bar_start < self.slice_bars).sum())
        starts = window_starts(bar_start, bar_end, self.slice_bars)
        windows = take_windows(drum_events(onsets, bits, grid.n_steps), starts, self.steps_per_bar, self.seq_len)
        unique = unique_windows(windows)
        stats["windows"], stats["windows_duplicate"] = len(unique), len(windows) - len(unique)
        reason = None if len(unique) else f"too short: no drum track spans {self.slice_bars} bars"
        return ConversionResult(unique[:, :, None], stats, reason)

    def decode(self, window: np.ndarray) -> pretty_midi.PrettyMIDI:
        """A one-instrument drum MIDI of a [seq_len, 1] drum window."""
        pm = new_midi(self.steps_per_quarter, self.steps_per_bar)
        pm.instruments.append(decode_drums(np.asarray(window).reshape(-1), self.steps_per_quarter))
        return pm
