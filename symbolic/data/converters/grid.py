"""Quantisation grid shared by the converters.

As Magenta does, a score is cut where the tempo or the time signature changes; notes are quantised per segment
(round half up, at least one step long) and cut at the segment's end. Segments whose bar has the wanted number of
steps are kept and laid end to end on one global step axis, each bar-aligned and followed by one empty bar, so that
extraction runs once per track with numpy and nothing (a melody, a gap, a window) ever spans two segments.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import symusic

DEFAULT_METER = (4, 4)
DEFAULT_MSPQ = 500_000  # 120 quarters per minute


@dataclass
class TrackNotes:
    """One track's notes as arrays of ticks and pitches."""

    program: int
    is_drum: bool
    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray

    def select(self, keep: np.ndarray) -> TrackNotes:
        """The same track restricted to the notes where ``keep`` is true."""
        return TrackNotes(self.program, self.is_drum, self.start[keep], self.end[keep], self.pitch[keep])


def sounding_tracks(score: symusic.Score) -> list:
    """The symusic tracks of ``score`` that have notes (cheap: no note arrays are built)."""
    return [track for track in score.tracks if track.note_num()]


def in_programs(program: int, program_range: tuple[int, int] | None) -> bool:
    """True when ``program`` lies in the inclusive range (any program when the range is None)."""
    return program_range is None or program_range[0] <= program <= program_range[1]


def pitched_tracks(score: symusic.Score, program_range: tuple[int, int] | None,
                   stats: Counter) -> tuple[list, str | None]:
    """The non-drum tracks with notes and a program in range, or none and the reason ("no notes", "drum-only"...)."""
    tracks = sounding_tracks(score)
    stats["tracks"] = len(tracks)
    if not tracks:
        return [], "no notes"
    pitched = [t for t in tracks if not t.is_drum]
    stats["tracks_drum"] = len(tracks) - len(pitched)
    if not pitched:
        return [], "drum-only"
    eligible = [t for t in pitched if in_programs(t.program, program_range)]
    stats["tracks_other_program"] = len(pitched) - len(eligible)
    if not eligible:
        return [], f"program: no pitched track with program {program_range[0]}-{program_range[1]}"
    return eligible, None


def track_notes(track) -> TrackNotes:
    """One symusic track's sounding notes (velocity > 0) as arrays."""
    notes = track.notes.numpy()
    keep = notes["velocity"] > 0
    start = notes["time"][keep].astype(np.int64)
    return TrackNotes(int(track.program), bool(track.is_drum), start,
                      start + notes["duration"][keep], notes["pitch"][keep].astype(np.int64))


def time_segments(score: symusic.Score, end_tick: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Start ticks of the spans of constant tempo and time signature before ``end_tick``, and their meters."""
    changes = [(ts.time, (ts.numerator, ts.denominator)) for ts in score.time_signatures]
    changes += [(tempo.time, tempo.mspq) for tempo in score.tempos]
    changes.sort(key=itemgetter(0))
    meter, mspq = DEFAULT_METER, DEFAULT_MSPQ
    starts, meters = [0], [meter]
    for tick, value in changes:
        if tick >= end_tick:
            break
        if isinstance(value, tuple):
            if value == meter:
                continue
            meter = value
        else:
            if value == mspq:
                continue
            mspq = value
        if tick == starts[-1]:
            meters[-1] = meter
        else:
            starts.append(tick)
            meters.append(meter)
    return starts, meters


@dataclass
class Grid:
    """Kept segments on one step axis: segment k spans bars ``bar_start[k]`` to ``bar_end[k]`` (exclusive)."""

    tpq: int
    steps_per_quarter: int
    steps_per_bar: int
    tick_start: np.ndarray  # every segment, kept or not
    tick_end: np.ndarray
    step_offset: np.ndarray  # global step of each segment's first step; -1 where the segment is not kept
    bar_start: np.ndarray  # kept segments only
    bar_end: np.ndarray
    other_meters: Counter  # "3/4" -> number of segments skipped for that meter

    @property
    def n_steps(self) -> int:
        """Length of the step axis (one spare bar after the last segment)."""
        return int(self.bar_end[-1] + 1) * self.steps_per_bar if len(self.bar_end) else 0

    def steps(self, ticks: np.ndarray) -> np.ndarray:
        """Ticks (relative to a segment start) to steps, rounding half up like Magenta's quantiser."""
        return (ticks * (2 * self.steps_per_quarter) + self.tpq) // (2 * self.tpq)

    def quantize(self, track: TrackNotes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global start and end steps of the notes that start in a kept segment, and the mask of those notes."""
        seg = np.searchsorted(self.tick_start, track.start, side="right") - 1
        keep = self.step_offset[seg] >= 0
        seg, start, end = seg[keep], track.start[keep], track.end[keep]
        origin = self.tick_start[seg]
        offset = self.step_offset[seg]
        start_step = self.steps(start - origin) + offset
        end_step = self.steps(np.minimum(end, self.tick_end[seg]) - origin) + offset
        return start_step, np.maximum(end_step, start_step + 1), keep

    def segment_of(self, steps: np.ndarray) -> np.ndarray:
        """Index (among kept segments) of the segment holding each global step."""
        return np.searchsorted(self.bar_start * self.steps_per_bar, steps, side="right") - 1


def build_grid(score: symusic.Score, steps_per_quarter: int, steps_per_bar: int) -> Grid:
    """The grid of ``score`` keeping the segments whose bar is ``steps_per_bar`` steps long."""
    end_tick = score.end()
    starts, meters = time_segments(score, end_tick)
    ends = [*starts[1:], end_tick]
    tpq = score.ticks_per_quarter
    offsets, bar_start, bar_end, other = [], [], [], Counter()
    next_bar = 0
    for start, end, (numerator, denominator) in zip(starts, ends, meters):
        if steps_per_quarter * 4 * numerator != steps_per_bar * denominator:
            other[f"{numerator}/{denominator}"] += 1
            offsets.append(-1)
            continue
        n_steps = ((end - start) * 2 * steps_per_quarter + tpq) // (2 * tpq)
        n_bars = -(-n_steps // steps_per_bar)
        offsets.append(next_bar * steps_per_bar)
        bar_start.append(next_bar)
        bar_end.append(next_bar + n_bars)
        next_bar += n_bars + 1
    return Grid(tpq, steps_per_quarter, steps_per_bar, np.array(starts, np.int64), np.array(ends, np.int64),
                np.array(offsets, np.int64), np.array(bar_start, np.int64), np.array(bar_end, np.int64), other)


def meter_reason(grid: Grid, steps_per_bar: int) -> str:
    """Why nothing came out when every note lay in segments of another meter."""
    meters = ", ".join(sorted(grid.other_meters))
    return f"meter: only {meters} sections (needs {steps_per_bar} steps per bar)"


def metered_grid(score: symusic.Score, steps_per_quarter: int, steps_per_bar: int,
                 stats: Counter) -> tuple[Grid, str | None]:
    """The grid of ``score`` with its segment counts added to ``stats``, and why no bar fits it (None: some do)."""
    grid = build_grid(score, steps_per_quarter, steps_per_bar)
    stats["segments"] = len(grid.tick_start)
    stats["segments_other_meter"] = sum(grid.other_meters.values())
    return grid, None if len(grid.bar_start) else meter_reason(grid, steps_per_bar)
