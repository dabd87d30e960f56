"""Shortening the silences between pieces: gaps cut, the music and its quiet passages untouched."""
import numpy as np

from wavegen.audio import MAX_SILENCE, SILENCE_DB, shorten_silences

RATE = 22050


def tone(seconds: float, level: float = 0.1) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return 1e-6 * np.random.default_rng(0).standard_normal(round(seconds * RATE)).astype(np.float32)  # a noise floor


def test_a_gap_between_pieces_is_cut_to_max_silence_and_the_pieces_are_kept_whole():
    first, second = tone(1.0), tone(1.5)
    audio = np.concatenate([first, silence(2.4), second])
    short = shorten_silences(audio, RATE)
    assert abs(len(short) - len(first) - len(second) - MAX_SILENCE * RATE) <= 0.03 * RATE  # a 25 ms block
    np.testing.assert_array_equal(short[:len(first)], first)
    np.testing.assert_array_equal(short[-len(second):], second)
    assert len(shorten_silences(audio, RATE, 0.0)) < len(first) + len(second) + 0.03 * RATE


def test_short_rests_quiet_passages_and_off_keep_everything():
    quiet = tone(3.0, 0.1 * 10 ** (-(SILENCE_DB - 10) / 20))  # 40 dB down: soft music, not silence
    audio = np.concatenate([tone(1.0), silence(0.2), tone(1.0), quiet, tone(1.0)])
    np.testing.assert_array_equal(shorten_silences(audio, RATE), audio)
    gap = np.concatenate([tone(1.0), silence(3.0), tone(1.0)])
    np.testing.assert_array_equal(shorten_silences(gap, RATE, None), gap)
    np.testing.assert_array_equal(shorten_silences(np.zeros(RATE, np.float32), RATE), np.zeros(RATE))  # all silent
