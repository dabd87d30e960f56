"""Note tokens with the VRASH paper's normalisation (Tikhonov & Yamshchikov, 2017).

A window is int16 [seq_len, 4]: ``seq_len`` consecutive tokens of one track, each (pitch class 0-11, or 12 for a
rest; octave 0-10 = MIDI pitch // 12, 0 for a rest; duration class, an index into ``DURATION_RATIOS``; the track's
General MIDI program as meta). Each non-drum track is reduced to a monophonic line (highest note at each onset, a
new onset cuts the sounding note) and normalised:

1. transposed by whole octaves so that its median pitch lies in the 4th octave (MIDI 60-71);
2. note lengths and the pauses between notes expressed relative to the track's median inter-onset interval and
   quantised to the nearest ratio (in log scale); a pause shorter than half the smallest ratio is articulation and
   is dropped, a longer one becomes a rest token;
3. tracks using more than ``max_durations`` distinct duration classes are dropped;
4. tracks whose pitch entropy (bits, over MIDI pitches) is below ``min_entropy`` are dropped;
5. tracks with fewer than ``seq_len`` tokens are dropped; windows of ``seq_len`` tokens are taken every ``hop``
   tokens and de-duplicated per file.

The stats count what every stage removed. Decoding plays the median inter-onset interval as ``unit_seconds``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pretty_midi
import symusic

from symbolic.data.converters.base import DECODE_VELOCITY, ConversionResult, Converter, new_midi
from symbolic.data.converters.events import monophonic, unique_windows
from symbolic.data.converters.grid import TrackNotes, pitched_tracks, track_notes

DURATION_RATIOS = (1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1, 4 / 3, 3 / 2, 2, 3, 4, 6, 8)
LOG_RATIOS = np.log2(DURATION_RATIOS)
REST = 12
TARGET_OCTAVE = 5  # MIDI pitch // 12 of the 4th octave (C4 = 60)
STAGES = {  # stats key -> reason key, in the order the stages run
    "tracks_too_many_durations": "too many durations",
    "tracks_low_entropy": "low pitch entropy",
    "tracks_too_short": "too short",
}


def duration_classes(lengths: np.ndarray, unit: float) -> np.ndarray:
    """Index of the ratio nearest (in log scale) to each length / unit."""
    logs = np.log2(np.maximum(lengths, 1e-9) / unit)
    return np.abs(logs[:, None] - LOG_RATIOS[None, :]).argmin(axis=1)


def pitch_entropy(pitch: np.ndarray) -> float:
    """Shannon entropy in bits of the distribution of pitches."""
    counts = np.unique(pitch, return_counts=True)[1]
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def track_tokens(track: TrackNotes, stats: Counter) -> np.ndarray | None:
    """The normalised token sequence [n, 4] of one pitched track, or None below two notes (no interval)."""
    start, end, pitch = monophonic(track.start, track.end, track.pitch)
    stats["notes_polyphonic"] += len(track.start) - len(start)
    pitch = pitch + 12 * (TARGET_OCTAVE - int(np.median(pitch)) // 12)
    valid = (pitch >= 0) & (pitch <= 127)
    stats["notes_out_of_range"] += int((~valid).sum())
    start, end, pitch = start[valid], end[valid], pitch[valid]
    if len(start) < 2:
        return None
    unit = float(np.median(np.diff(start)))
    pause = np.append(start[1:] - end[:-1], 0)
    rest = pause >= unit * DURATION_RATIOS[0] / 2
    stats["pauses_dropped"] += int(((pause > 0) & ~rest).sum())
    tokens = np.zeros((len(start) + int(rest.sum()), 4), np.int16)
    note_rows = np.arange(len(start)) + np.concatenate([[0], np.cumsum(rest)[:-1]])
    tokens[:, 0] = REST
    tokens[note_rows, 0] = pitch % 12
    tokens[note_rows, 1] = pitch // 12
    tokens[note_rows, 2] = duration_classes(end - start, unit)
    tokens[note_rows[rest] + 1, 2] = duration_classes(pause[rest], unit)
    tokens[:, 3] = track.program
    return tokens


@dataclass(frozen=True)
class NoteTokenConverter(Converter):
    """VRASH note tokens (pitch class, octave, duration class, program) in windows of ``seq_len`` tokens."""

    name = "notes"
    seq_len: int = 32
    hop: int = 16
    max_durations: int = 11
    min_entropy: float = 1.5
    program_range: tuple[int, int] | None = None
    unit_seconds: float = 0.25

    @property
    def depths(self) -> tuple[int, ...]:
        return (REST + 1, 11, len(DURATION_RATIOS), 128)

    @property
    def window_seconds(self) -> float:
        """Each token lasting one median inter-onset interval."""
        return self.seq_len * self.unit_seconds

    def encode(self, score: symusic.Score, source: str) -> ConversionResult:
        """Token windows of every pitched track of ``score`` that passes the filters."""
        stats = Counter()
        eligible, reason = pitched_tracks(score, self.program_range, stats)
        if reason:
            return ConversionResult(self.empty(), stats, reason)
        parts = []
        for track in eligible:
            tokens = track_tokens(track_notes(track), stats)
            if tokens is None:
                stats["tracks_too_short"] += 1
                continue
            note_rows = tokens[:, 0] != REST
            if len(np.unique(tokens[:, 2])) > self.max_durations:
                stats["tracks_too_many_durations"] += 1
            elif pitch_entropy(tokens[note_rows, 0] + 12 * tokens[note_rows, 1]) < self.min_entropy:
                stats["tracks_low_entropy"] += 1
            elif len(tokens) < self.seq_len:
                stats["tracks_too_short"] += 1
            else:
                stats["tracks_kept"] += 1
                starts = np.arange(0, len(tokens) - self.seq_len + 1, self.hop)
                parts.append(tokens[starts[:, None] + np.arange(self.seq_len)])
        windows = np.concatenate(parts) if parts else self.empty()
        unique = unique_windows(windows)
        stats["windows"], stats["windows_duplicate"] = len(unique), len(windows) - len(unique)
        return ConversionResult(unique, stats, None if len(unique) else self._reason(stats))

    def _reason(self, stats: Counter) -> str:
        """The stage that removed most tracks, with what every stage removed."""
        removed = {key: stats[key] for key in STAGES if stats[key]}
        worst = max(removed, key=removed.get)
        return f"{STAGES[worst]}: " + ", ".join(f"{n} track(s) {STAGES[k]}" for k, n in removed.items())

    def decode(self, window: np.ndarray) -> pretty_midi.PrettyMIDI:
        """A one-instrument MIDI of a token window, one median inter-onset interval lasting ``unit_seconds``."""
        window = np.asarray(window)
        instrument = pretty_midi.Instrument(program=int(window[0, 3]))
        time = 0.0
        for pitch_class, octave, duration, _ in window.tolist():
            length = DURATION_RATIOS[duration] * self.unit_seconds
            if pitch_class != REST:
                instrument.notes.append(pretty_midi.Note(DECODE_VELOCITY, 12 * octave + pitch_class, time,
                                                         time + length))
            time += length
        pm = new_midi(4, 16)
        pm.instruments.append(instrument)
        return pm
