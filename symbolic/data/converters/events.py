"""Vectorised event extraction shared by the converters, with Magenta's melody and drum-track semantics.

A monophonic line keeps the highest note at each onset and lets a new onset cut the sounding note. A line is split
into spans (Magenta's "melodies") where the silence after a note reaches ``gap_steps``; a span starts at the bar
of its first onset and ends at the bar boundary at or after its last note's end. Every note that ends before the
next onset gets a note-off, the last note of a span too: Magenta strips that one, but padding the melody to the end
of its bar (``pad_end``, as MusicVAE extracts) writes it back, unless the note ends on the bar line, where it falls
outside the span (and outside every window) anyway.
"""
from __future__ import annotations

import numpy as np

MELODY_MIN_PITCH = 21
MELODY_MAX_PITCH = 108
MELODY_HOLD = 0
MELODY_OFF = 1
MELODY_DEPTH = MELODY_MAX_PITCH - MELODY_MIN_PITCH + 3  # 90: hold, off, 88 pitches


def monophonic(start: np.ndarray, end: np.ndarray, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Highest note at each onset, sorted by onset, each note cut at the next onset."""
    order = np.lexsort((-pitch, start))
    start, end, pitch = start[order], end[order], pitch[order]
    first = np.ones(len(start), bool)
    first[1:] = start[1:] != start[:-1]
    start, end, pitch = start[first], end[first], pitch[first]
    end[:-1] = np.minimum(end[:-1], start[1:])
    return start, end, pitch


def gap_breaks(start: np.ndarray, end: np.ndarray, gap_steps: float) -> np.ndarray:
    """True after each note followed by a silence of at least ``gap_steps`` (and after the last note)."""
    brk = np.ones(len(start), bool)
    brk[:-1] = start[1:] - end[:-1] >= gap_steps
    return brk


def melody_events(start: np.ndarray, end: np.ndarray, pitch: np.ndarray, n_steps: int) -> np.ndarray:
    """Melody codes of a monophonic line on ``n_steps`` steps: onsets, a note-off where a note ends before the next
    onset, holds elsewhere."""
    events = np.zeros(n_steps, np.int16)
    events[start] = pitch - MELODY_MIN_PITCH + 2
    nxt = np.append(start[1:], n_steps)
    off = end < nxt
    events[end[off]] = MELODY_OFF
    return events


def clear_leading_offs(windows: np.ndarray) -> np.ndarray:
    """Melody windows [N, steps] with the note-offs before their first onset made holds (Magenta's slices do so)."""
    before_onset = np.cumsum(windows > MELODY_OFF, axis=1) == 0
    return np.where(before_onset & (windows == MELODY_OFF), MELODY_HOLD, windows).astype(windows.dtype)


def span_bars(start: np.ndarray, end: np.ndarray, brk: np.ndarray, steps_per_bar: int) -> tuple[np.ndarray, np.ndarray]:
    """First bar and end bar (exclusive) of each span of a line split after the notes marked in ``brk``."""
    first = np.ones(len(start), bool)
    first[1:] = brk[:-1]
    return start[first] // steps_per_bar, -(-end[brk] // steps_per_bar)


def window_starts(bar_start: np.ndarray, bar_end: np.ndarray, slice_bars: int) -> np.ndarray:
    """Start bar of every window of ``slice_bars`` bars, at a 1-bar stride, inside each range of bars."""
    counts = np.maximum(bar_end - bar_start - slice_bars + 1, 0)
    firsts = np.repeat(bar_start, counts)
    return firsts + np.arange(len(firsts)) - np.repeat(np.cumsum(counts) - counts, counts)


def take_windows(events: np.ndarray, starts: np.ndarray, steps_per_bar: int, length: int) -> np.ndarray:
    """Windows of ``length`` steps of ``events`` (steps first) beginning at the bars ``starts``."""
    return events[starts[:, None] * steps_per_bar + np.arange(length)]


def unique_windows(windows: np.ndarray) -> np.ndarray:
    """The distinct windows, in order of first occurrence."""
    if len(windows) < 2:
        return windows
    flat = np.ascontiguousarray(windows.reshape(len(windows), -1))
    rows = flat.view(np.dtype((np.void, flat.shape[1] * flat.itemsize))).ravel()
    _, first = np.unique(rows, return_index=True)
    return windows[np.sort(first)]
