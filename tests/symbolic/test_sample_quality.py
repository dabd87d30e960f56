"""symbolic.studies.sample_quality: features by hand, overlap near 1 for a set against itself and low for shifted
pitches."""
import numpy as np
import pretty_midi
import pytest
import symusic

from tests.symbolic.conftest import FIXTURES

from symbolic.data.converters import converter_from_spec
from symbolic.data.converters.base import seconds_per_step
from symbolic.studies.sample_quality import compare, features, overlap


def _midi(pitches: list[int], step: float = 0.25) -> pretty_midi.PrettyMIDI:
    midi = pretty_midi.PrettyMIDI()
    instrument = pretty_midi.Instrument(0)
    instrument.notes = [pretty_midi.Note(90, p, i * step, (i + 1) * step) for i, p in enumerate(pitches)]
    midi.instruments.append(instrument)
    return midi


def test_features_by_hand():
    f = features([_midi([60, 62, 62, 67]), _midi([])], seconds=2.0)
    assert f["pitch_range"][0] == 7 and f["mean_pitch"][0] == pytest.approx(62.75)
    assert f["pitch_class_entropy"][0] == pytest.approx(1.5)  # C, D, D, G: probabilities 1/4, 1/2, 1/4
    assert f["scale_consistency"][0] == 1.0
    assert f["notes_per_second"][0] == 2.0
    assert f["mean_interval"][0] == pytest.approx(7 / 3) and f["repeated_note_rate"][0] == pytest.approx(1 / 3)
    assert np.isnan(f["mean_pitch"][1]) and f["notes_per_second"][1] == 0.0  # an empty window


def test_overlap_bounds_and_undefined_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=400)
    assert overlap(a, a) == pytest.approx(1.0, abs=1e-6)
    assert overlap(a, a + 10) < 0.01
    assert overlap(np.full(10, np.nan), np.full(10, np.nan)) == 1.0  # both always undefined
    assert overlap(np.full(10, np.nan), a) == 0.0
    assert overlap(np.full(5, 3.0), np.full(5, 3.0)) == pytest.approx(1.0, abs=1e-3)  # constant features


@pytest.fixture(scope="module")
def real_windows():
    converter = converter_from_spec({"kind": "melody", "slice_bars": 2})
    windows = np.concatenate([converter.encode(symusic.Score(str(path)), str(path)).windows
                              for path in sorted(FIXTURES.glob("*.mid"))])
    return converter, windows


def test_real_melodies_against_themselves_and_shifted(real_windows):
    converter, windows = real_windows
    seconds = converter.seq_len * seconds_per_step(converter.steps_per_quarter)
    real = [converter.decode(w) for w in windows]
    same = compare(real, real, seconds)
    assert same["overlap"] > 0.99 and 0.6 < same["ceiling"] <= 1.0
    shifted = []
    for midi in real:
        for note in midi.instruments[0].notes:
            note.pitch = min(127, note.pitch + 24)
        shifted.append(midi)
    moved = compare(shifted, [converter.decode(w) for w in windows], seconds)
    assert moved["features"]["mean_pitch"]["overlap"] < 0.3
    assert moved["features"]["pitch_class_entropy"]["overlap"] > 0.99  # octaves keep pitch classes
    assert moved["overlap"] < same["overlap"] - 0.1
