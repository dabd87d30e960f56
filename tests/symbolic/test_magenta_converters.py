"""Where the converters stand against Magenta: the expected values of Magenta's own tests, as data.

Sources (the test each case comes from is in its name): note-seq ``melodies_lib_test.py``, ``drums_lib_test.py``
and ``drums_encoder_decoder.py``; magenta ``models/music_vae/data_test.py``. Inputs are the tests' notes as
(pitch, start, end) in quarters (their NoteSequences are at 60 quarters per minute, so seconds are quarters);
outputs are our codes. Magenta's melody events (-2 no event, -1 note-off, else a MIDI pitch) become ours with
``melody_codes``. melodies_lib's pitches lie below our 21..108 range, so those cases are moved up four octaves.
Two differences are deliberate and asserted as our behaviour at the end: no cap of 5 windows per file and no
``max_bars=100`` cut.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import symusic

from symbolic.data.converters import DrumsConverter, MelodyConverter, TrioConverter
from symbolic.data.converters.drums import DRUM_CLASS_OF_PITCH
from symbolic.data.converters.events import clear_leading_offs
from symbolic.data.converters.grid import metered_grid, pitched_tracks, track_notes
from symbolic.data.converters.melody import melody_spans

TPQ = 2400  # every quarter fraction in the cases is a whole number of ticks
NO_EVENT, NOTE_OFF = -2, -1  # Magenta's melody event values
OCTAVES_UP = 48  # melodies_lib's pitches (11..55) moved into 21..108


def score(*tracks: tuple[int, bool, list[tuple[int, float, float]]]) -> symusic.Score:
    """A 4/4 score from (program, is_drum, [(pitch, start quarter, end quarter)]) tracks."""
    result = symusic.Score(TPQ)
    result.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    result.tempos.append(symusic.Tempo(0, qpm=60.0))
    for program, is_drum, notes in tracks:
        track = symusic.Track(f"track {len(result.tracks)}", program=program, is_drum=is_drum)
        for pitch, start, end in notes:
            track.notes.append(symusic.Note(round(start * TPQ), round((end - start) * TPQ), pitch, 100))
        result.tracks.append(track)
    return result


def melody_codes(events: list[int], shift: int = 0) -> list[int]:
    """Our melody codes of Magenta melody events, pitches moved up by ``shift``."""
    return [{NO_EVENT: 0, NOTE_OFF: 1}.get(e, e + shift - 21 + 2) for e in events]


def unsliced_melodies(converter: MelodyConverter, notes_score: symusic.Score) -> list[list[int]]:
    """Every melody as Magenta extracts it before slicing (``slice_bars=None``), in our codes."""
    stats = Counter()
    tracks, _ = pitched_tracks(notes_score, converter.program_range, stats)
    grid, _ = metered_grid(notes_score, converter.steps_per_quarter, converter.steps_per_bar, stats)
    bar = converter.steps_per_bar
    melodies = []
    for track in tracks:
        events, first, stop = melody_spans(grid, track_notes(track), converter.gap_bars * bar, stats)
        melodies += [events[a * bar:b * bar].tolist() for a, b in zip(first.tolist(), stop.tolist())]
    return melodies


def window_set(windows: np.ndarray) -> list[list]:
    """Windows as a sorted list of nested lists (Magenta's tests compare sets of windows)."""
    return sorted(windows.tolist())


# ------------------------------------------------------------------------------------------ melodies_lib_test
# Magenta's expected melody (pad_end=False) followed by what MusicVAE's pad_end=True adds: the last note's note-off
# written back, then no events to the end of the bar (none when the last note ends on a bar line).
MELODIES_LIB_CASES = {
    "testFromQuantizedNoteSequence": (
        [(12, 0.01, 10.0), (11, 0.22, 0.50), (40, 2.50, 3.50), (55, 4.0, 4.01), (52, 4.75, 5.0)],
        [12, 11, NOTE_OFF] + [NO_EVENT] * 7 + [40, NO_EVENT, NO_EVENT, NO_EVENT, NOTE_OFF, NO_EVENT, 55, NOTE_OFF,
                                               NO_EVENT, 52] + [NOTE_OFF] + [NO_EVENT] * 11),
    "testFromNotesPolyphonicWithIgnorePolyphonicNotes": (
        [(12, 0.0, 2.0), (19, 0.0, 3.0), (12, 1.0, 3.0), (19, 1.0, 4.0)],
        [19] + [NO_EVENT] * 3 + [19] + [NO_EVENT] * 11),
    "testFromNotesTrimEmptyMeasures": (
        [(12, 1.5, 1.75), (11, 2, 2.25)],
        [NO_EVENT] * 6 + [12, NOTE_OFF, 11] + [NOTE_OFF] + [NO_EVENT] * 6),
    "testFromNotesTimeOverlap": (
        [(12, 1, 2), (11, 3.25, 3.75), (13, 2, 4)],
        [NO_EVENT] * 4 + [12] + [NO_EVENT] * 3 + [13] + [NO_EVENT] * 4 + [11, NO_EVENT] + [NOTE_OFF]),
}


@pytest.mark.parametrize("case", sorted(MELODIES_LIB_CASES))
def test_melodies_lib_melody(case):
    notes, expected = MELODIES_LIB_CASES[case]
    moved = [(pitch + OCTAVES_UP, start, end) for pitch, start, end in notes]
    melodies = unsliced_melodies(MelodyConverter(), score((0, False, moved)))
    assert melodies == [melody_codes(expected, OCTAVES_UP)]


def test_melodies_lib_testSlice():
    notes = [(12 + OCTAVES_UP, 1, 3), (11 + OCTAVES_UP, 5, 7), (13 + OCTAVES_UP, 9, 10)]
    melody = unsliced_melodies(MelodyConverter(steps_per_quarter=1), score((0, False, notes)))
    expected = [NO_EVENT, 12, NO_EVENT, NOTE_OFF, NO_EVENT, 11, NO_EVENT, NOTE_OFF, NO_EVENT, 13, NOTE_OFF, NO_EVENT]
    assert melody == [melody_codes(expected, OCTAVES_UP)]
    # melody[2:-1] of Magenta's 10-event melody: the note-off before the slice's first onset becomes no event
    sliced = clear_leading_offs(np.array([melody[0][2:9]], np.int16))
    expected_slice = [NO_EVENT, NO_EVENT, NO_EVENT, 11, NO_EVENT, NOTE_OFF, NO_EVENT]
    assert sliced.tolist() == [melody_codes(expected_slice, OCTAVES_UP)]


# ------------------------------------------------------------------------------------- data_test: melody
# OneHotMelodyConverterTest: two tracks, program 0; events are pitch - 21 (data_test's "subtract min pitch").
ONE_HOT_MELODY_TRACKS = (
    (0, False, [(32, 2, 4), (33, 6, 11), (34, 11, 13), (35, 17, 19)]),
    (0, False, [(35, 2, 4), (36, 6, 8), (71, 33, 37), (73, 34, 37), (33, 50, 55), (34, 55, 56)]),
)
ONE_HOT_MELODY_UNSLICED = [
    [NO_EVENT, NO_EVENT, 11, NO_EVENT, NOTE_OFF, NO_EVENT, 12, NO_EVENT,
     NO_EVENT, NO_EVENT, NO_EVENT, 13, NO_EVENT, NOTE_OFF, NO_EVENT, NO_EVENT],
    [NO_EVENT, 14, NO_EVENT, NOTE_OFF],
    [NO_EVENT, NO_EVENT, 14, NO_EVENT, NOTE_OFF, NO_EVENT, 15, NO_EVENT],
    [NO_EVENT, 50, 52, NO_EVENT, NO_EVENT, NOTE_OFF, NO_EVENT, NO_EVENT],
    [NO_EVENT, NO_EVENT, 12, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT, 13],
]
ONE_HOT_MELODY_SLICED = [
    [NO_EVENT, NO_EVENT, 11, NO_EVENT, NOTE_OFF, NO_EVENT, 12, NO_EVENT],
    [NO_EVENT, NO_EVENT, 12, NO_EVENT, NO_EVENT, NO_EVENT, NO_EVENT, 13],
    [NO_EVENT, NO_EVENT, NO_EVENT, 13, NO_EVENT, NOTE_OFF, NO_EVENT, NO_EVENT],
    [NO_EVENT, NO_EVENT, 14, NO_EVENT, NOTE_OFF, NO_EVENT, 15, NO_EVENT],
    [NO_EVENT, 50, 52, NO_EVENT, NO_EVENT, NOTE_OFF, NO_EVENT, NO_EVENT],
]


def test_data_test_OneHotMelodyConverterTest_testUnsliced():
    melodies = unsliced_melodies(MelodyConverter(steps_per_quarter=1), score(*ONE_HOT_MELODY_TRACKS))
    assert sorted(melodies) == sorted(melody_codes(m, 21) for m in ONE_HOT_MELODY_UNSLICED)


def test_data_test_OneHotMelodyConverterTest_testSliced():
    windows = MelodyConverter(slice_bars=2, steps_per_quarter=1).encode(score(*ONE_HOT_MELODY_TRACKS), "magenta")
    assert window_set(windows.windows[:, :, 0]) == sorted(melody_codes(m, 21) for m in ONE_HOT_MELODY_SLICED)


def test_data_test_OneHotMelodyConverterTest_testToNoteSequence():
    converter = MelodyConverter(slice_bars=4, steps_per_quarter=1)
    windows = converter.encode(score(ONE_HOT_MELODY_TRACKS[0]), "magenta").windows
    assert len(windows) == 1
    notes = converter.decode(windows[0]).instruments[0].notes
    assert [(n.pitch, n.start, n.end) for n in notes] == [(32, 1.0, 2.0), (33, 3.0, 5.5), (34, 5.5, 6.5)]


# -------------------------------------------------------------------------------------- data_test: drums
# OneHotDrumsConverterTest: two drum tracks; codes are the class bits (1 kick, 2 snare, 4 closed hi-hat, ...).
DRUM_TRACKS = (
    (0, True, [(35, 0, 10), (44, 1, 2), (40, 4, 5), (35, 9, 10), (40, 13, 13), (55, 16, 18), (60, 16, 17),
               (53, 19, 20)]),
    (0, True, [(35, 1, 2), (40, 25, 26), (55, 28, 30), (60, 28, 29), (53, 31, 33)]),
)
DRUMS_SLICED = [[1, 5, 0, 0, 2, 0, 0, 0], [0, 1, 0, 0, 0, 2, 0, 0], [0, 2, 0, 0, 160, 0, 0, 256]]
DRUMS_UNSLICED_3_BARS = [0, 1, 0, 0, 0, 2, 0, 0, 160, 0, 0, 256]  # its two other drum tracks are 2-bar windows


def test_data_test_OneHotDrumsConverterTest_testSliced():
    windows = DrumsConverter(slice_bars=2, steps_per_quarter=1).encode(score(*DRUM_TRACKS), "magenta").windows
    assert window_set(windows[:, :, 0]) == sorted(DRUMS_SLICED)


def test_data_test_OneHotDrumsConverterTest_testUnsliced():
    windows = DrumsConverter(slice_bars=3, steps_per_quarter=1).encode(score(*DRUM_TRACKS), "magenta").windows
    assert windows[:, :, 0].tolist() == [DRUMS_UNSLICED_3_BARS]
    assert DRUMS_UNSLICED_3_BARS[:8] in DRUMS_SLICED and DRUMS_UNSLICED_3_BARS[4:] in DRUMS_SLICED


def test_data_test_OneHotDrumsConverterTest_testToNoteSequence():
    converter = DrumsConverter(slice_bars=2, steps_per_quarter=1)
    windows = converter.encode(score(DRUM_TRACKS[1]), "magenta").windows
    assert len(windows) == 1
    notes = converter.decode(windows[0]).instruments[0].notes
    assert sorted((n.pitch, n.start, n.end) for n in notes) == [(38, 0.5, 1.0), (48, 2.0, 2.5), (49, 2.0, 2.5),
                                                                (51, 3.5, 4.0)]


# --------------------------------------------------------------------------------------------- drums_lib_test
# Expected DrumTrack events with the 9-class map (pitches 11 and 12 are in no class and are dropped), padded to
# the bar as MusicVAE extracts: 2 snare (40), 160 crash (55) + mid tom (60), 128 crash (52).
DRUMS_LIB_EXPECTED = [0] * 10 + [2] + [0] * 5 + [160, 0, 0, 128] + [0] * 12
DRUMS_LIB_CASES = {
    "testFromQuantizedNoteSequence": [
        (0, True, [(12, 0.0, 10.0), (11, 0.25, 0.50), (40, 2.50, 3.50), (55, 4.0, 4.25), (60, 4.0, 5.5),
                   (52, 4.75, 5.0)])],
    "testFromQuantizedNoteSequenceMultipleTracks": [
        (0, True, [(12, 0, 10), (40, 2.5, 3.5), (60, 4, 5.5)]),
        (0, True, [(11, 0.25, 0.5), (55, 4, 4.25), (52, 4.75, 5)]),
        (0, False, [(13, 0, 10), (14, 2.5, 3.5), (15, 4, 5.5)])],
}


@pytest.mark.parametrize("case", sorted(DRUMS_LIB_CASES))
def test_drums_lib_drum_track(case):
    windows = DrumsConverter().encode(score(*DRUMS_LIB_CASES[case]), "magenta").windows
    assert windows[:, :, 0].tolist() == [DRUMS_LIB_EXPECTED]


# ------------------------------------------------------------------------------------ drums_encoder_decoder
MAGENTA_DRUM_TYPE_PITCHES = (  # DEFAULT_DRUM_TYPE_PITCHES, April 2019 on: 43 is a low tom only
    (36, 35),
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),
    (46, 67, 72, 74, 79, 81, 26),
    (45, 29, 41, 43, 61, 64, 84),
    (48, 47, 60, 63, 77, 86, 87),
    (50, 30, 62, 76, 83),
    (49, 52, 55, 57, 58),
    (51, 53, 59, 82),
)


def test_drums_encoder_decoder_DEFAULT_DRUM_TYPE_PITCHES():
    expected = {pitch: index for index, pitches in enumerate(MAGENTA_DRUM_TYPE_PITCHES) for pitch in pitches}
    assert {p: int(c) for p, c in enumerate(DRUM_CLASS_OF_PITCH) if c >= 0} == expected
    hit = DrumsConverter().encode(score((0, True, [(43, 0, 0.25), (36, 4, 4.25)])), "floor tom").windows
    assert hit[0, 0, 0] == 1 << 4  # low tom


# ---------------------------------------------------------------------------------------- data_test: trio
# TrioConverterTest: two melody tracks (programs 0 and 10), a bass (33) and drums; windows as (first bar, end bar)
# of the full-length parts below, combined as (melody, bass, drums).
TRIO_TRACKS = (
    (0, False, [(51, 13, 37)]),
    (10, False, [(52, 4, 16)]),
    (33, False, [(50, 2, 5), (49, 16, 25)]),
    (0, True, [(35, 0, 1), (40, 4, 5), (35, 9, 9), (35, 25, 25), (40, 29, 29)]),
)
TRIO_M1 = [NO_EVENT] * 13 + [51] + [NO_EVENT] * 23 + [NOTE_OFF] + [NO_EVENT] * 2
TRIO_M2 = [NO_EVENT] * 4 + [52] + [NO_EVENT] * 11 + [NOTE_OFF] + [NO_EVENT] * 23
TRIO_BASS = [NO_EVENT, NO_EVENT, 50, NO_EVENT, NO_EVENT, NOTE_OFF] + [NO_EVENT] * 10 + [49] + [NO_EVENT] * 8 + [
    NOTE_OFF] + [NO_EVENT] * 14
TRIO_DRUMS = [1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0] + [0] * 12 + [0, 1, 0, 0, 0, 2, 0, 0] + [0] * 4  # 36 steps there
TRIO_SLICED = [((2, 4), TRIO_M1), ((5, 7), TRIO_M1), ((6, 8), TRIO_M1),
               ((0, 2), TRIO_M2), ((1, 3), TRIO_M2), ((2, 4), TRIO_M2)]


def test_data_test_TrioConverterTest_testSliced():
    windows = TrioConverter(slice_bars=2, steps_per_quarter=1, gap_bars=1).encode(score(*TRIO_TRACKS), "magenta")
    expected = [[list(step) for step in zip(*(part[4 * i:4 * j] for part in (
        melody_codes(melody), melody_codes(TRIO_BASS), TRIO_DRUMS)))] for (i, j), melody in TRIO_SLICED]
    assert window_set(windows.windows) == sorted(expected)


# -------------------------------------------------------------------------------- deliberate differences
def test_deliberate_difference_no_cap_of_five_windows_per_file():
    """data_test testMaxOutputsPerNoteSequence: Magenta keeps 2 or 3 when capped (5 by default); we keep all."""
    windows = MelodyConverter(slice_bars=2, steps_per_quarter=1).encode(score(*ONE_HOT_MELODY_TRACKS), "magenta")
    assert len(windows.windows) == 5  # every distinct window, as Magenta with max_tensors_per_notesequence=None
    drums = DrumsConverter(slice_bars=1, steps_per_quarter=1).encode(score(*DRUM_TRACKS), "magenta").windows
    assert len(drums) == 5  # Magenta's cap of 2 or 3 (testMaxOutputsPerNoteSequence) never applies


def test_deliberate_difference_no_max_bars_cut():
    """Magenta's melody and drum configs cut a melody at 100 bars before slicing; we slice all of it."""
    bars = 102
    notes = [(40 + i % 40, 4 * i, 4 * i + 2) for i in range(bars)] + [(60 + i // 40, 4 * i + 2, 4 * i + 4)
                                                                     for i in range(bars)]
    windows = MelodyConverter(slice_bars=1, steps_per_quarter=1).encode(score((0, False, notes)), "long").windows
    assert len(windows) == bars  # distinct bars: Magenta would stop at 100
