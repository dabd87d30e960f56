"""Converters: exact event sequences on hand-made scores, Magenta's rules, round trips on real melodies."""
from __future__ import annotations

import io

import numpy as np
import pretty_midi
import pytest
import symusic

from engine.errors import SourceError, UserError
from symbolic.data.converters import (CONVERTERS, DrumsConverter, MelodyConverter, NoteTokenConverter,
                                      PianorollConverter, TrioConverter, converter_from_spec)
from symbolic.data.converters.notes import DURATION_RATIOS, REST
from symbolic.data.midi_io import read_score
from symbolic.defaults import CONVERTER_KINDS


def code(pitch: int) -> int:
    """Melody code of a pitch."""
    return pitch - 21 + 2


def score_from_pretty_midi(pm: pretty_midi.PrettyMIDI) -> symusic.Score:
    """The symusic score of a pretty_midi object (through MIDI bytes), to re-encode a decoded window."""
    buffer = io.BytesIO()
    pm.write(buffer)
    return symusic.Score.from_midi(buffer.getvalue())


def reencode(converter, window: np.ndarray) -> np.ndarray:
    """Windows of the decoded ``window``."""
    return converter.encode(score_from_pretty_midi(converter.decode(window)), "decoded").windows


# ------------------------------------------------------------------------------------------------------- melody
def test_melody_hold_off_and_repeated_note(score_of):
    notes = [(60, 0, 4), (62, 4, 6), (64, 8, 12), (64, 12, 16), (65, 16, 20), (67, 24, 32)]
    result = MelodyConverter().encode(score_of([(0, False, notes)]), "hand-made")
    expected = [code(60), 0, 0, 0, code(62), 0, 1, 0, code(64), 0, 0, 0, code(64), 0, 0, 0,
                code(65), 0, 0, 0, 1, 0, 0, 0, code(67), 0, 0, 0, 0, 0, 0, 0]
    assert result.windows.dtype == np.int16
    assert result.windows.shape == (1, 32, 1)
    assert result.windows[0, :, 0].tolist() == expected


def test_melody_polyphony_keeps_highest_and_onsets_cut(score_of):
    chord = [(60, 0, 8), (64, 0, 8), (67, 0, 4)]
    rest = [(62, 8, 16), (72, 10, 12), (60, 16, 32)]
    windows = MelodyConverter().encode(score_of([(0, False, chord + rest)]), "poly").windows
    expected = [code(67), 0, 0, 0, 1, 0, 0, 0, code(62), 0, code(72), 0, 1, 0, 0, 0, code(60)] + [0] * 15
    assert windows[0, :, 0].tolist() == expected


def test_melody_gap_of_one_bar_splits(score_of, scale):
    converter = MelodyConverter()
    split = converter.encode(score_of([(0, False, scale(0, 2) + scale(48, 2, pitch=67))]), "gap")  # silent bar 2
    assert split.stats["melodies"] == 2
    assert len(split.windows) == 2
    assert all(w[:, 0].min() >= 0 and w[0, 0] >= 2 for w in split.windows)
    joined = converter.encode(score_of([(0, False, scale(0, 2) + scale(47, 2))]), "short gap")
    assert joined.stats["melodies"] == 1
    assert len(joined.windows) == 4  # one melody over bars 0-4


def test_melody_splits_at_tempo_and_meter_changes(score_of, scale):
    converter = MelodyConverter()
    steady = converter.encode(score_of([(0, False, scale(0, 4))]), "steady")
    assert len(steady.windows) == 3
    tempo_change = converter.encode(score_of([(0, False, scale(0, 4))], tempos=((0, 120.0), (32, 90.0))), "tempo")
    assert tempo_change.stats["segments"] == 2
    assert len(tempo_change.windows) == 2
    redundant = converter.encode(score_of([(0, False, scale(0, 4))], tempos=((0, 120.0), (32, 120.0))), "same")
    assert len(redundant.windows) == 3
    waltz_tail = converter.encode(score_of([(0, False, scale(0, 4))], meters=((0, 4, 4), (32, 3, 4))), "meter")
    assert waltz_tail.stats["segments_other_meter"] == 1
    assert len(waltz_tail.windows) == 1


def test_melody_skip_reasons(score_of, scale, fixture_files):
    converter = MelodyConverter(program_range=(0, 31))
    assert converter.encode(score_of([]), "empty").reason == "no notes"
    assert converter.encode(score_of([(0, True, [(36, 0, 1)])]), "drums").reason == "drum-only"
    assert converter.encode(score_of([(40, False, scale(0, 2))]), "violin").reason.startswith("program:")
    assert converter.encode(score_of([(0, False, [(60, 0, 4)])]), "one note").reason.startswith("too short:")
    jig = next(p for p in fixture_files if "6-8" in p.name)
    result = converter.encode(read_score(jig), str(jig))
    assert result.reason.startswith("meter: only 6/8")
    assert result.windows.shape == (0, 32, 1)


def test_melody_drops_out_of_range_pitches_and_filters_programs(score_of, scale):
    converter = MelodyConverter(program_range=(0, 31))
    low = [(10, 0, 4)] + scale(4, 2)
    result = converter.encode(score_of([(0, False, low), (45, False, scale(0, 2, pitch=80))]), "mixed")
    assert result.stats["notes_out_of_pitch_range"] == 1
    assert result.stats["tracks_other_program"] == 1
    assert int(result.windows.max()) < code(80)


def test_melody_round_trip_is_identity_on_real_melodies(fixture_files):
    converter = MelodyConverter()
    identical = total = 0
    for path in fixture_files:
        for window in converter.encode(read_score(path), str(path)).windows:
            total += 1
            again = reencode(converter, window)
            first_onset = int(np.flatnonzero(window[:, 0] >= 2)[0])
            if first_onset < converter.steps_per_bar:
                identical += 1
                assert again.tolist() == [window.tolist()], path.name
            else:  # starts with a silent bar or inside a note: decoded, it is a 1-bar melody
                assert again.tolist() == [], path.name
    assert total >= 40
    assert identical / total > 0.9


def test_melody_windows_are_deduplicated(score_of):
    riff = [(60 + 2 * (i % 2), 4 * i, 4 * i + 4) for i in range(24)]  # the same bar six times
    result = MelodyConverter().encode(score_of([(0, False, riff)]), "riff")
    assert len(result.windows) == 1
    assert result.stats["windows_duplicate"] == 4


# -------------------------------------------------------------------------------------------------------- drums
@pytest.mark.parametrize("pitch, bit", [(36, 0), (35, 0), (38, 1), (40, 1), (42, 2), (44, 2), (46, 3), (45, 4),
                                        (41, 4), (43, 4), (48, 5), (47, 5), (50, 6), (49, 7), (57, 7), (51, 8),
                                        (59, 8)])
def test_drum_pitch_map(score_of, pitch, bit):
    hits = [(pitch, 0, 1), (36, 16, 17)]
    windows = DrumsConverter().encode(score_of([(0, True, hits)]), "kit").windows
    assert windows[0, 0, 0] == 1 << bit


def test_drums_merge_tracks_combine_classes_and_drop_unmapped(score_of):
    kit = [(36, 0, 1), (42, 0, 1), (100, 4, 5), (38, 8, 9), (42, 20, 21), (51, 31, 32)]
    toms = [(50, 0, 1)]
    result = DrumsConverter().encode(score_of([(0, True, kit), (0, True, toms), (0, False, [(60, 0, 32)])]), "kit")
    window = result.windows[0, :, 0]
    assert window[0] == 1 | 4 | 64
    assert window[4] == 0 and result.stats["notes_unmapped_drum"] == 1
    assert window[8] == 2 and window[31] == 256
    assert result.windows.shape == (1, 32, 1)
    again = reencode(DrumsConverter(), result.windows[0])
    assert again.tolist() == result.windows.tolist()


def test_drums_skip_reasons(score_of, scale):
    converter = DrumsConverter()
    assert converter.encode(score_of([(0, False, scale(0, 2))]), "melody").reason.startswith("no drums")
    assert converter.encode(score_of([(0, True, [(100, 0, 1)] * 1)]), "odd").reason.startswith("no drums")


# --------------------------------------------------------------------------------------------------------- trio
def trio_tracks(scale, bars: int, with_bass: bool = True) -> list:
    beat = [(36, 4 * i, 4 * i + 1) for i in range(4 * bars)] + [(42, 4 * i + 2, 4 * i + 3) for i in range(4 * bars)]
    tracks = [(0, False, scale(0, bars, pitch=72)), (0, True, beat)]
    if with_bass:
        tracks.insert(1, (33, False, scale(0, bars, pitch=36)))
    return tracks


def test_trio_needs_all_three_parts(score_of, scale):
    result = TrioConverter().encode(score_of(trio_tracks(scale, 16, with_bass=False)), "no bass")
    assert result.reason == "missing parts: no bass"


def test_trio_windows_combine_the_three_converters(score_of, scale):
    score = score_of(trio_tracks(scale, 17))
    result = TrioConverter().encode(score, "trio")
    assert result.windows.shape == (2, 256, 3)
    first = result.windows[0]
    melody = MelodyConverter(slice_bars=16).encode(score_of([trio_tracks(scale, 17)[0]]), "m").windows[0, :, 0]
    drums = DrumsConverter(slice_bars=16).encode(score_of([trio_tracks(scale, 17)[2]]), "d").windows[0, :, 0]
    assert first[:, 0].tolist() == melody.tolist()
    assert first[:, 2].tolist() == drums.tolist()
    assert first[0, 1] == code(36)
    assert reencode(TrioConverter(), first).tolist()[0] == first.tolist()


def test_trio_parts_must_play_together(score_of, scale):
    melody, bass, drums = trio_tracks(scale, 16)
    late_drums = (0, True, [(36, 64 * 4 + s, 64 * 4 + s + 1) for s in range(0, 64, 4)])  # bars 16-19 only
    result = TrioConverter().encode(score_of([melody, bass, late_drums]), "apart")
    assert result.reason.startswith("no overlap")


# ---------------------------------------------------------------------------------------------------- pianoroll
def test_pianoroll_repeated_notes_stay_distinct(score_of, scale):
    converter = PianorollConverter(slice_bars=2, pitch_range=(48, 83))
    notes = [(60, 0, 4), (60, 4, 8), (64, 0, 16)] + scale(16, 1, pitch=62)
    result = converter.encode(score_of([(0, False, notes)]), "roll")
    assert result.windows.shape == (1, 2, 2, 16, 36)
    assert result.windows.dtype == np.bool_
    roll = result.windows[0, 0]
    assert np.flatnonzero(roll[0, :, 60 - 48]).tolist() == [0, 4]  # onsets
    assert np.flatnonzero(roll[1, :, 60 - 48]).tolist() == list(range(8))  # sounding
    decoded = converter.decode(result.windows[0])
    assert sorted((n.pitch, round(n.start / 0.125)) for n in decoded.instruments[0].notes)[:3] == [
        (60, 0), (60, 4), (62, 16)]
    assert reencode(converter, result.windows[0]).tolist() == result.windows.tolist()


def test_pianoroll_bars_follow_the_time_signature(fixture_files):
    jig = read_score(next(p for p in fixture_files if "6-8" in p.name))
    assert PianorollConverter().encode(jig, "jig").reason.startswith("meter:")
    result = PianorollConverter(steps_per_bar=12).encode(jig, "jig")
    assert result.windows.shape[1:] == (4, 2, 12, 88)
    assert len(result.windows) > 0


# -------------------------------------------------------------------------------------------------- note tokens
def test_note_tokens_normalise_a_known_track(score_of):
    # octave 2 (MIDI 36-47): eighths, quarters and one rest of a quarter; median inter-onset interval = an eighth
    notes = [(36, 0, 2), (38, 2, 4), (40, 4, 8), (41, 8, 10), (43, 10, 12), (45, 16, 18), (47, 18, 20),
             (45, 20, 22), (43, 22, 24), (41, 24, 28)]
    converter = NoteTokenConverter(seq_len=8, hop=4, min_entropy=1.0)
    result = converter.encode(score_of([(5, False, notes)]), "track")
    eighth, quarter = DURATION_RATIOS.index(1), DURATION_RATIOS.index(2)
    first = result.windows[0]
    assert first[:, 0].tolist() == [0, 2, 4, 5, 7, REST, 9, 11]
    assert set(first[first[:, 0] != REST, 1].tolist()) == {5}  # moved up three octaves
    assert first[:, 2].tolist() == [eighth, eighth, quarter, eighth, eighth, quarter, eighth, eighth]
    assert set(first[:, 3].tolist()) == {5}
    assert result.stats["tracks_kept"] == 1


def test_note_tokens_filters_count_what_they_remove(score_of):
    drone = [(48, 2 * i, 2 * i + 1) for i in range(40)]
    # median inter-onset interval 8 steps; lengths of 11 duration classes, then a rest of 3 steps (class 1/3)
    lengths = [8] * 16 + [1, 2, 4, 6, 12, 16, 24, 32, 48, 64]
    onsets = np.cumsum([0] + lengths[:-1]) + np.repeat([0, 3], [17, len(lengths) - 17])
    wild = [(60 + i % 7, int(onsets[i]), int(onsets[i]) + n) for i, n in enumerate(lengths)]
    short = [(60, 0, 2), (64, 2, 4), (67, 4, 6)]
    result = NoteTokenConverter(seq_len=8).encode(
        score_of([(0, False, drone), (0, False, wild), (0, False, short), (0, True, [(36, 0, 1)])]), "mix")
    assert result.stats["tracks_low_entropy"] == 1
    assert result.stats["tracks_too_many_durations"] == 1
    assert result.stats["tracks_too_short"] == 1
    assert result.stats["tracks_drum"] == 1
    assert result.reason.startswith(("low pitch entropy", "too many durations", "too short"))


def test_note_tokens_decode_plays_the_tokens(score_of, fixture_files):
    converter = NoteTokenConverter()
    path = fixture_files[0]
    window = converter.encode(read_score(path), str(path)).windows[0]
    notes = converter.decode(window).instruments[0].notes
    assert [n.pitch for n in notes] == [12 * o + pc for pc, o, _, _ in window.tolist() if pc != REST]


# ------------------------------------------------------------------------------------------------- spec, errors
def test_the_command_line_knows_every_converter_kind():  # named in symbolic.defaults, which loads no converter
    assert tuple(CONVERTERS) == CONVERTER_KINDS


@pytest.mark.parametrize("kind", sorted(CONVERTERS))
def test_spec_round_trip(kind):
    converter = converter_from_spec({"kind": kind})
    assert converter_from_spec(converter.spec()) == converter
    assert converter.spec()["kind"] == kind


def test_spec_from_json_lists_and_errors():
    assert converter_from_spec({"kind": "melody", "slice_bars": 2, "program_range": [0, 31]}) == MelodyConverter(
        program_range=(0, 31))
    with pytest.raises(UserError, match="unknown converter kind 'piano'"):
        converter_from_spec({"kind": "piano"})
    with pytest.raises(UserError, match="has no option bars"):
        converter_from_spec({"kind": "drums", "bars": 2})


def test_depths_and_shapes():
    assert MelodyConverter().depths == (90,) and MelodyConverter().seq_len == 32
    assert DrumsConverter().depths == (512,)
    assert TrioConverter().depths == (90, 90, 512) and TrioConverter().seq_len == 256
    assert TrioConverter().pitch_tracks == (0, 1) and DrumsConverter().pitch_tracks == ()


@pytest.mark.parametrize("content, detail", [(b"", "empty file"), (b"not a midi file at all", "not MThd"),
                                             (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00",
                                              "chunk length")])
def test_corrupt_files_raise_source_error_naming_file(tmp_path, content, detail):
    path = tmp_path / "broken.mid"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=f"^corrupt: .*broken.mid: .*{detail}"):
        read_score(path)


@pytest.mark.parametrize("spec, message", [({"kind": "melody", "slice_bars": 0}, "slice_bars must be positive"),
                                           ({"kind": "melody", "program_range": [31, 0]}, "program_range must be"),
                                           ({"kind": "pianoroll", "pitch_range": [0, 200]}, "pitch_range must be"),
                                           ({"kind": "notes", "min_entropy": -1.0}, "min_entropy must be")])
def test_bad_options_are_user_errors(spec, message):
    with pytest.raises(UserError, match=message):
        converter_from_spec(spec)
