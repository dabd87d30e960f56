"""Attribute measures on hand-made melody windows, and attribute vectors from latent codes with a known direction."""
import numpy as np
import pytest

from engine.errors import UserError
from symbolic.studies.attributes import (ATTRIBUTES, average_interval, c_diatonic, compute_vectors, note_density,
                                         syncopation_8th, syncopation_16th)

HOLD, OFF = 0, 1


def code(pitch: int) -> int:
    """The melody code of a note-on of ``pitch`` (MIDI 21 is code 2)."""
    return pitch - 21 + 2


def window(events: dict[int, int], length: int = 16) -> np.ndarray:
    """Codes [1, length]: ``events`` maps a step to a code, every other step holds."""
    codes = np.full((1, length), HOLD, np.int16)
    for step, value in events.items():
        codes[0, step] = value
    return codes


# C4 on beat 1, E4 on the "and" of beat 1, note-off, G4 on the "and" of beat 2, F#4 on the 16th after beat 3.
MELODY = window({0: code(60), 2: code(64), 4: OFF, 6: code(67), 9: code(66), 12: OFF})
SILENCE = window({})


@pytest.mark.parametrize("measure, expected", [
    (note_density, 4 / 16),
    (average_interval, (4 + 3 + 1) / 3),
    (c_diatonic, 3 / 4),
    (syncopation_8th, 2 / 4),
    (syncopation_16th, 1 / 4),
])
def test_measures_of_a_hand_made_melody(measure, expected):
    assert measure(MELODY, 4)[0] == pytest.approx(expected)
    assert measure(SILENCE, 4)[0] == 0.0


def test_each_attribute_is_measured_by_its_namesake():  # the names live in symbolic.defaults for the CLI
    assert all(name == measure.__name__ for name, measure in ATTRIBUTES.items())


def test_measures_are_per_window_and_use_the_grid():
    both = np.concatenate([MELODY, window({1: code(61), 3: code(73)})])
    assert note_density(both, 4).tolist() == [0.25, 0.125]
    assert average_interval(both, 4).tolist() == [pytest.approx(8 / 3), 12.0]
    assert c_diatonic(both, 4).tolist() == [0.75, 0.0]
    assert syncopation_16th(both, 4).tolist() == [0.25, 1.0]
    # At 8 steps per quarter the 16th off-beats are the steps 2 mod 4 and the 8th off-beats 4 mod 8.
    assert syncopation_16th(window({2: code(60), 4: code(62)}), 8).tolist() == [0.5]
    assert syncopation_8th(window({2: code(60), 4: code(62)}), 8).tolist() == [0.5]


def test_vectors_point_from_low_to_high_values():
    rng = np.random.default_rng(0)
    values = rng.uniform(size=200)
    mu = rng.normal(size=(200, 4)) * 0.1
    mu[:, 2] += 3 * values  # the attribute lives along latent dimension 2
    result = compute_vectors(mu, {"note_density": values, "c_diatonic": np.full(200, 0.5)})
    vector = result.vector("note_density", "data")
    assert np.argmax(np.abs(vector)) == 2 and vector[2] == pytest.approx(3 * 0.75, abs=0.2)
    assert result.spreads["note_density"] == pytest.approx(0.75, abs=0.05) and result.n_windows == 200
    with pytest.raises(UserError, match="data: c_diatonic is the same in every window"):
        result.vector("c_diatonic", "data")
    with pytest.raises(UserError, match="unknown attribute 'loudness'"):
        result.vector("loudness", "data")

