"""The evaluation: Fréchet distance, references in the expected order on synthetic music, drift and movement."""
import json

import librosa
import numpy as np
import pytest
import soundfile as sf

from engine.errors import UserError
from wavegen.audio import AudioReader, shorten_silences
from wavegen.dataset import split_segments
from wavegen.evaluate import (EVAL_RATE, HOP, N_FFT, AverageSpectrum, Excerpts, HeldOut, Music, frechet_distance,
                              log_mel, loudness_drift, movement, quiet_frames, report, score, summary)


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


def test_the_frozen_spectrum_is_the_training_music_s_not_the_held_out_tails():
    rng = np.random.default_rng(1)
    tail = melody(10.0, rng)
    scored = [score([melody(4.0, rng)], Music.load_arrays([np.concatenate([train, tail])], val_fraction=0.5), seed=0)
              for train in (melody(10.0, rng), 0.1 * rng.standard_normal(10 * EVAL_RATE).astype(np.float32))]
    # The same held-out tail: a spectrum frozen from it would score alike; one from training music that is noise
    # does not.
    assert scored[1]["frechet"]["frozen_spectrum"] > 1.5 * scored[0]["frechet"]["frozen_spectrum"]


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
    seconds = [sum(len(read()) for read in m.sources) / EVAL_RATE for m in (cut, kept)]
    assert seconds[1] == pytest.approx(23.0, abs=0.01) and seconds[0] == pytest.approx(20.25, abs=0.05)


def whole_in_memory(files, val_fraction):
    """The statistics as the evaluation computed them before it streamed: every file read and split at once, every
    tail's frames concatenated; the training parts' spectrum and loudness."""
    audio = []
    for path in files:
        with AudioReader(path, EVAL_RATE) as reader:
            audio.append(shorten_silences(reader.samples(), EVAL_RATE))
    train, tails = split_segments(audio, val_fraction)
    train = [part for part in train if len(part) >= N_FFT]  # shorter than an FFT frame: no spectrum to count
    mels = np.concatenate([log_mel(t) for t in tails])
    magnitude = np.concatenate([np.abs(librosa.stft(t, n_fft=N_FFT, hop_length=HOP)) for t in train], axis=1)
    return {"mean": mels.mean(axis=0), "cov": np.cov(mels, rowvar=False), "mels": mels,
            "spectrum": magnitude.mean(axis=1), "rms": float(np.sqrt(np.mean(np.concatenate(train) ** 2))),
            "quiet_fraction": float(quiet_frames(mels).mean()), "seconds": sum(map(len, tails)) / EVAL_RATE}


def test_the_streamed_held_out_statistics_are_those_of_all_the_tails_at_once(tmp_path):
    rng = np.random.default_rng(4)
    pausing = np.concatenate([melody(6.0, rng), np.zeros(2 * EVAL_RATE), melody(1.0, rng)])  # its pause shortened
    audio = [melody(8.0, rng), pausing, np.full(4, 0.1), melody(5.0, rng)]  # four samples: no tail
    files = []
    for i, samples in enumerate(audio):
        files.append(tmp_path / f"{i}.wav")
        sf.write(files[-1], samples, EVAL_RATE, subtype="FLOAT")
    (tmp_path / "broken.wav").write_text("not audio")  # skipped, as the cache skips it
    music, expected = Music.load([*files, tmp_path / "broken.wav"], 0.3), whole_in_memory(files, 0.3)
    held_out, trained_on = HeldOut(), AverageSpectrum()

    def add(train, tail):
        trained_on.add(train)
        if tail is not None:
            held_out.add(tail)

    music.each_part(add)
    mean, cov = held_out.gaussian()
    np.testing.assert_allclose(mean, expected["mean"], rtol=1e-5)
    np.testing.assert_allclose(cov, expected["cov"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(trained_on.spectrum, expected["spectrum"], rtol=1e-4, atol=1e-9)
    assert trained_on.rms == pytest.approx(expected["rms"], rel=1e-5)
    assert held_out.quiet_fraction == expected["quiet_fraction"] > 0
    assert held_out.seconds == expected["seconds"]
    clips = [melody(2.0, rng), melody(2.0, rng)]
    result = score(clips, music)
    assert result["frechet"]["clips"] == pytest.approx(
        frechet_distance(np.concatenate([log_mel(c) for c in clips]), expected["mels"]), rel=1e-4)
    assert result["music_quiet_fraction"] == expected["quiet_fraction"]
    assert result["held_out_seconds"] == expected["seconds"]


def test_real_excerpts_are_uniform_over_every_start_position_in_the_training_parts():
    excerpts = Excerpts(4000, 5, np.random.default_rng(0))
    excerpts.add(np.arange(14.0))  # 10 start positions
    excerpts.add(1000 + np.arange(34.0))  # 30
    excerpts.add(np.arange(3.0))  # too short to give one
    assert all(np.array_equal(e, e[0] + np.arange(5.0)) for e in excerpts.chosen)
    assert np.mean([e[0] >= 1000 for e in excerpts.chosen]) == pytest.approx(0.75, abs=0.03)
    assert len({e[0] for e in excerpts.chosen}) == 40


def test_without_a_part_that_long_the_excerpts_are_the_longest_part_whole():
    excerpts = Excerpts(2, 50, np.random.default_rng(0))
    for length in (10, 30, 20):
        excerpts.add(np.arange(float(length)))
    assert [len(e) for e in excerpts.chosen] == [30, 30]


def test_no_held_out_audio_is_one_line_at_once_for_a_val_fraction_of_0_or_when_scoring_too_short_files():
    with pytest.raises(UserError, match="--val-fraction is 0"):
        Music.load_arrays([melody(4.0, np.random.default_rng(0))], 0.0)
    with pytest.raises(UserError, match="every file is too short or unreadable"):
        score([np.zeros(100, np.float32)], Music.load_arrays([np.ones(10, np.float32)], 0.1))


def test_resampled_held_out_music_keeps_its_totals_and_varies_around_them(monkeypatch):
    monkeypatch.setattr("wavegen.evaluate.MAX_BLOCKS", 4)  # 20 s of tails make 10 blocks: neighbours merge
    rng = np.random.default_rng(5)
    tails = [melody(12.0, rng), melody(8.0, rng)]
    held_out = HeldOut()
    for tail in tails:
        held_out.add(tail)
    mels = np.concatenate([log_mel(t) for t in tails]).astype(np.float64)  # float32 frames, summed in float64
    assert held_out.blocks <= 4 and sum(held_out.block_counts) == len(mels) == held_out.frames
    mean, cov = held_out.gaussian()
    np.testing.assert_allclose(mean, mels.mean(axis=0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(cov, np.cov(mels, rowvar=False), rtol=1e-6, atol=1e-6)
    draws = [held_out.resampled_gaussian(rng)[0] for _ in range(20)]
    assert not all(np.allclose(d, mean) for d in draws)
    assert np.abs(np.mean(draws, axis=0) - mean).max() < 3.0  # dB: around the music's own mean


def test_verdict_calls_good_clips_good_and_never_a_drone_or_a_fade():
    rng = np.random.default_rng(6)
    music = Music.load_arrays([melody(40.0, rng), melody(40.0, rng)], val_fraction=0.25)  # 20 s held out
    good = score([melody(4.0, rng) for _ in range(3)], music)
    assert good["judged"] and "every clip moving and steady" in good["verdict"]
    low, high = good["progress_spread"]
    assert low <= good["progress"] <= high and high - low < 0.5
    drone = np.tile(melody(4.0, rng)[:2205], 40)  # one tenth of a second repeated: close in spectrum, not moving
    fade = melody(4.0, rng)
    fade *= np.linspace(1.0, 0.05, len(fade), dtype=np.float32)
    mixed = score([melody(4.0, rng), drone, fade], music)
    assert mixed["judged"] and [c["moves"] for c in mixed["clips"]] == [True, False, True]
    assert [c["steady"] for c in mixed["clips"]] == [True, True, False]
    assert "1 of 3 clip(s) barely move" in mixed["verdict"] and "1 of 3 clip(s) drift in loudness" in mixed["verdict"]
    assert "of the way to real music" not in mixed["verdict"]


def test_too_little_held_out_music_is_said_instead_of_a_figure(capsys, tmp_path):
    rng = np.random.default_rng(7)
    music = Music.load_arrays([melody(10.0, rng)], val_fraction=0.2)  # 2 s held out: 87 frames for 64 bands
    result = score([melody(2.0, rng) for _ in range(2)], music)
    assert not result["judged"] and result["verdict"].startswith("too little held-out music to judge (2.0 s")
    report(result, tmp_path / "evaluation.json")
    assert "verdict: too little held-out music to judge" in capsys.readouterr().out


def test_the_same_tests_count_the_real_excerpts_that_would_fail_them():
    rng = np.random.default_rng(7)
    clips = [melody(4.0, rng) for _ in range(3)]
    steady = score(clips, Music.load_arrays([melody(40.0, rng), melody(40.0, rng)], val_fraction=0.25))
    assert steady["music_failing"] == 0 and steady["music_excerpts"] == len(clips) * 16  # 16 sets of this length
    tone = 0.2 * np.sin(2 * np.pi * 330 * np.arange(40 * EVAL_RATE) / EVAL_RATE).astype(np.float32)
    with_a_drone = score(clips, Music.load_arrays([melody(40.0, rng), melody(40.0, rng), tone], val_fraction=0.25))
    assert 8 <= with_a_drone["music_failing"] <= 24  # about a third of the 48 excerpts come from the held tone
    assert "the same two tests on real excerpts of the training music" in summary(with_a_drone)
