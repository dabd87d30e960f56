"""Melody windows with the chord of every step: Magenta's OneHotMelodyConverter with a TriadChordOneHotEncoding.

A window is int16 [seq_len, 2]: track 0 the melody codes of ``melody.MelodyConverter`` (the top line of each
track), track 1 the triad class (``symbolic.data.chords``: 0 no chord, 1..48) sounding at each step. The chords
come from the file itself when it has them: chord symbols in its markers or lyrics (a lead sheet), else a track
named "chord" or "chords" (inferred from its notes alone; it gives no melody); otherwise they are inferred from every
non-drum note with Magenta's HMM, ``chords_per_bar`` chords per bar (2, Magenta's choice for 4/4: one per half bar).
Decoding writes the melody and each chord change as a lyric (the text event both pretty_midi writes and symusic
reads), so a decoded window encodes back to the same chords.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pretty_midi
import symusic

from engine.errors import UserError
from symbolic.data.chords import (TRIAD_CLASSES, frame_pitch_vectors, infer_chords, parse_chord, transpose_triads,
                                  triad_index, triad_name, triad_tones)
from symbolic.data.converters.base import ConversionResult, seconds_per_step
from symbolic.data.converters.events import MELODY_DEPTH, MELODY_HOLD, MELODY_MIN_PITCH, MELODY_OFF, take_windows
from symbolic.data.converters.grid import Grid, TrackNotes, track_notes
from symbolic.data.converters.melody import MelodyConverter, kept_windows

CHORD_TRACK_NAMES = ("chord", "chords")


def is_chord_track(track) -> bool:
    """A symusic track named as a chord track (case and spaces ignored)."""
    return track.name.strip().lower() in CHORD_TRACK_NAMES


def text_chords(score: symusic.Score) -> list[tuple[int, int]]:
    """(tick, triad class) of every marker or lyric of ``score`` that is a chord symbol (one without a triad, such as
    Gsus4, is no chord), in time order."""
    texts = [*score.markers, *(lyric for track in score.tracks for lyric in track.lyrics)]
    found = []
    for text in texts:
        symbol = text.text.strip()
        try:
            chord = None if symbol == "N.C." else parse_chord(symbol)
        except UserError:
            continue
        found.append((int(text.time), 0 if chord is None or chord.triad is None else triad_index(symbol)))
    return sorted(found)


@dataclass(frozen=True)
class LeadSheetConverter(MelodyConverter):
    """Melody windows (90 classes) with the triad class of every step (49 classes) as a second track."""

    name = "lead_sheet"
    version = 1
    chords_per_bar: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps_per_bar % self.chords_per_bar:
            raise UserError(f"{self.name} converter: chords_per_bar must divide the {self.steps_per_bar} steps of a "
                            f"bar, not {self.chords_per_bar}")

    @property
    def depths(self) -> tuple[int, ...]:
        return (MELODY_DEPTH, TRIAD_CLASSES)

    @property
    def chord_tracks(self) -> tuple[int, ...]:
        """Tracks holding triad classes: transposition moves their roots with the melody."""
        return (1,)

    @property
    def steps_per_chord(self) -> int:
        return self.steps_per_bar // self.chords_per_bar

    def encode(self, score: symusic.Score, source: str) -> ConversionResult:
        """Every melody window of ``score`` beside the chords sounding under it."""
        stats = Counter()
        parts, grid, reason = self.track_windows(score, stats, melodic=lambda track: not is_chord_track(track))
        if reason:
            return ConversionResult(self.empty(), stats, reason)
        chords = self.step_chords(score, grid, stats)
        windows = [np.stack([melody, take_windows(chords, starts, self.steps_per_bar, self.seq_len)], axis=-1)
                   for melody, starts in parts]
        return ConversionResult(kept_windows(windows, stats), stats)

    def step_chords(self, score: symusic.Score, grid: Grid, stats: Counter) -> np.ndarray:
        """The triad class at every step of the grid: the file's chord symbols, else inferred per chord frame."""
        annotated = text_chords(score)
        if annotated:
            stats["chords_from_text"] += 1
            ticks, classes = (np.array(column, np.int64) for column in zip(*annotated))
            steps, _, keep = grid.quantize(TrackNotes(0, False, ticks, ticks, ticks))
            chords = np.zeros(grid.n_steps, np.int16)
            for step, end, triad in zip(steps, [*steps[1:], grid.n_steps], classes[keep]):
                chords[step:end] = triad
            return chords
        pitched = [t for t in score.tracks if not t.is_drum and t.note_num()]
        named = [t for t in pitched if is_chord_track(t)]
        stats["chords_from_track" if named else "chords_inferred"] += 1
        start, end, pitch = [], [], []
        for notes in map(track_notes, named or pitched):
            note_start, note_end, keep = grid.quantize(notes)
            start.append(note_start), end.append(note_end), pitch.append(notes.pitch[keep])
        frames = grid.n_steps // self.steps_per_chord
        vectors = frame_pitch_vectors(np.concatenate(start), np.concatenate(end), np.concatenate(pitch),
                                      np.arange(1, frames) * self.steps_per_chord)
        classes = np.array([triad_index(chord) for _, chord in infer_chords(vectors)], np.int16)
        return np.repeat(classes, self.steps_per_chord)

    def decode(self, window: np.ndarray) -> pretty_midi.PrettyMIDI:
        """The melody (piano) of a [length, 2] window with a lyric naming each chord where it changes."""
        window = np.asarray(window)
        pm = super().decode(window[:, :1])
        step = seconds_per_step(self.steps_per_quarter)
        chords = window[:, 1]
        for t in np.flatnonzero(np.diff(chords, prepend=-1)):
            pm.lyrics.append(pretty_midi.Lyric(triad_name(chords[t]), float(t * step)))
        return pm


def chord_tone_time(windows: np.ndarray, shift: int = 0) -> tuple[int, int]:
    """Steps of melody note time on the sounding chord's tones, and all steps of note time under a chord, in
    lead-sheet windows [N, T, 2] (a note sounds from its onset to a note-off or the next onset); ``shift`` moves the
    chords first (6: measured against the progression a tritone away)."""
    codes = np.asarray(windows[..., 0], np.int64)
    chords = transpose_triads(np.asarray(windows[..., 1], np.int64), shift)
    events = np.where(codes != MELODY_HOLD, np.arange(codes.shape[1]), -1)
    last = np.maximum.accumulate(events, axis=1)
    sounding = np.where(last >= 0, np.take_along_axis(codes, np.maximum(last, 0), axis=1), MELODY_OFF)
    note = (sounding > MELODY_OFF) & (chords > 0)
    on_tone = triad_tones()[chords, (sounding - 2 + MELODY_MIN_PITCH) % 12] & note
    return int(on_tone.sum()), int(note.sum())
