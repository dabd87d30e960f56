"""The evaluation: Fréchet distance, references in the expected order on synthetic music, drift and movement."""
import json

import numpy as np
import pytest
import soundfile as sf

from wavegen.evaluate import EVAL_RATE, Music, frechet_distance, loudness_drift, movement, report, score


def melody(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Synthetic music: random harmonic notes of a pentatonic scale, a new one every 0.25 s, each decaying."""
    t = np.arange(round(0.25 * EVAL_RATE)) / EVAL_RATE
    notes = []
    for _ in range(round(seconds / 0.25)):
        f = 220 * 2 ** (rng.choice([0, 2, 4, 7, 9, 12, 14]) / 12)
        notes.append(np.exp(-6 * t) * sum(np.sin(2 * np.pi * f * k * t) / k for k in (1, 2, 3)))
    return (0.2 * np.concatenate(notes)).astype(np.float32)


def test_frechet_distance_is_zero_for_one_distribution_and_the_squared_mean_shift_for_a_moved_one():
    a = np.random.default_rng(0).standard_normal((5000, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a + [3, 0, 0, 0], a) == pytest.approx(9.0, rel=1e-6)
    assert frechet_distance(np.zeros((50, 4)), a) == pytest.approx(4.0, rel=0.05)  # a point: the other's variance


def test_references_order_as_expected_on_synthetic_music():
    rng = np.random.default_rng(0)
    music = Music.load_arrays([melody(30.0, rng), melody(30.0, rng)], val_fraction=0.2)
    clips = [melody(4.0, rng) for _ in range(3)]  # "clips" that are new music of the same kind
    result = score(clips, music, seed=0)
    d = result["frechet"]
    assert d["real"] < d["frozen_spectrum"] < d["white_noise"]
    assert d["clips"] < d["frozen_spectrum"] and result["progress"] > 0.5
    frozen = score([np.tile(clips[0][:2205], 40)], music)  # one repeated tenth of a second: a drone
    assert frozen["frechet"]["clips"] > d["clips"] and frozen["clips"][0]["movement_vs_music"] < 0.2
    assert all(0.5 < c["movement_vs_music"] < 2 and 0.5 < c["loudness_drift"] < 2 for c in result["clips"])


def test_loudness_drift_and_movement():
    rng = np.random.default_rng(1)
    music = melody(4.0, rng)
    fade = music * np.linspace(1.0, 0.1, len(music), dtype=np.float32)
    assert loudness_drift(music) == pytest.approx(1.0, abs=0.3) and loudness_drift(fade) < 0.4
    tone = np.sin(2 * np.pi * 440 * np.arange(4 * EVAL_RATE) / EVAL_RATE).astype(np.float32)
    assert movement(tone) < 0.15 * movement(music)
    assert np.isnan(movement(music[:EVAL_RATE // 4]))  # too short to tell


def test_quiet_frames_are_counted_in_the_clips_and_in_the_music():
    rng = np.random.default_rng(3)
    pausing = melody(4.0, rng)
    pausing[EVAL_RATE:2 * EVAL_RATE] = 0  # one second of four silent
    music = Music.load_arrays([np.concatenate([melody(12.0, rng), pausing])], val_fraction=0.25)
    result = score([melody(4.0, rng), pausing], music)
    assert result["clips"][0]["quiet_fraction"] == 0.0
    assert 0.15 < result["clips"][1]["quiet_fraction"] < 0.3
    assert 0.15 < result["music_quiet_fraction"] < 0.3  # the held-out tail is the pausing four seconds


def test_report_writes_json_without_nan_and_prints_the_summary(tmp_path, capsys):
    rng = np.random.default_rng(2)
    music = Music.load_arrays([melody(12.0, rng)], val_fraction=0.25)
    result = score([melody(0.3, rng)], music)
    report(result, tmp_path / "evaluation.json")
    saved = json.loads((tmp_path / "evaluation.json").read_text())
    assert saved["clips"][0]["movement"] is None and set(saved["frechet"]) == {"clips", "real", "frozen_spectrum",
                                                                              "white_noise"}
    out = capsys.readouterr().out
    assert "real music" in out and "frozen spectrum" in out and "changes n/a" in out
    assert "quiet frames (loudest band under -40 dB): 0% of the held-out music, 0% of the clips'" in out


def test_the_music_is_read_with_its_long_silences_shortened_as_training_reads_it(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "two-pieces.wav"
    sf.write(path, np.concatenate([melody(10.0, rng), np.zeros(3 * EVAL_RATE), melody(10.0, rng)]), EVAL_RATE,
             subtype="FLOAT")
    cut, kept = Music.load([path], 0.1), Music.load([path], 0.1, max_silence=None)
    seconds = [sum(map(len, m.train + m.tails)) / EVAL_RATE for m in (cut, kept)]
    assert seconds[1] == pytest.approx(23.0, abs=0.01) and seconds[0] == pytest.approx(20.25, abs=0.05)
