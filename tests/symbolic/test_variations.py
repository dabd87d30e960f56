"""`midi variations` for every latent family: a whole song tiled into windows, stitched back, N distinct variations
closer to the song than prior samples once a tiny CNN-VRNN has overfitted; MusicVAE and note-model runs vary songs
too; the LM refuses in one line; the distances against hand computations."""
import numpy as np
import pretty_midi
import pytest
import torch

import music_composer
from symbolic.data.converters import MelodyConverter, NoteTokenConverter, PianorollConverter
from symbolic.data.midi_io import read_score
from symbolic.studies.variations import make_variations, onset_f1, pitch_class_distance, song_windows, stitch
from symbolic.trained_model import TrainedModel

# One z per window, cells drawn one by one, no transposition: this test needs a tiny model that overfits its songs,
# and the default (a latent per bar, bars drawn to their expected note count) overfits them so well that its
# variations are the song itself, which this test cannot tell from a copy.
CNN_VRNN = ("data.slice_bars=4,data.pitch_range=[48,83],cnn_channels=[4,8],bar_size=32,z_size=16,enc_rnn_size=32,"
            "dec_rnn_size=128,batch_size=8,learning_rate=1e-2,free_bits=16,max_beta=0.1,beta_rate=0.99,vrnn=false,"
            "decoding=independent,transpose=0")
MUSIC_VAE = "z_size=8,enc_rnn_size=[16],dec_rnn_size=[16],batch_size=8"
NOTES = "rnn_size=[16],z_size=4,pitch_class_embed=4,octave_embed=3,duration_embed=3,program_embed=2,batch_size=8"
TRIADS = [(60, 64, 67), (62, 65, 69), (64, 67, 71), (65, 69, 72), (55, 59, 62), (57, 60, 64)]


def midi(*argv) -> int:
    """Run `music-composer midi ARGV` in this process."""
    return music_composer.main(["midi", *map(str, argv)])


def write_song(path, notes):
    """A one-piano 4/4 MIDI at 120 qpm of (pitch, start 16th, end 16th) notes."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(90, p, s * 0.125, e * 0.125) for p, s, e in notes]
    pm.instruments.append(piano)
    pm.write(str(path))
    return path


def chord_song(k: int, bars: int = 8):
    """Song k: a triad per bar, the bars' triads and the rhythm (struck every 4, 8 or 16 steps) its own."""
    rng = np.random.default_rng(k)
    every = (4, 8, 16)[k % 3]
    return [(p, bar * 16 + s, bar * 16 + s + every) for bar in range(bars)
            for triad in [TRIADS[rng.integers(len(TRIADS))]] for s in range(0, 16, every) for p in triad]


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("songs")
    return [write_song(folder / f"song{k}.mid", chord_song(k)) for k in range(2)]


@pytest.fixture(scope="module")
def cnn_vrnn_run(tmp_path_factory, songs):
    """A tiny CNN-VRNN overfitted on two 8-bar songs (fewer than 10 files: all in train)."""
    run_dir = tmp_path_factory.mktemp("cnn_vrnn")
    assert midi("train", "--config", "cnn-vrnn", "--examples-path", songs[0].parent, "--run-dir", run_dir,
                "--hparams", CNN_VRNN, "--num-steps", 300, "--val-every", 300, "--workers", 1, "--no-progress") == 0
    return run_dir


def test_a_song_is_tiled_in_order_and_stitched_back(tmp_path):
    converter = PianorollConverter(slice_bars=4, pitch_range=(48, 83))
    path = write_song(tmp_path / "ten_bars.mid", chord_song(0, bars=10))
    windows = song_windows(converter, read_score(path), "song")
    assert windows.shape == (3, 4, 2, 16, 36)  # 10 bars: 4 + 4 + 2 and two silent bars of padding
    song = stitch(converter, windows)
    expected = sorted((p, s, e) for p, s, e in chord_song(0, bars=10))
    assert sorted((n.pitch, round(n.start / 0.125), round(n.end / 0.125)) for n in song.instruments[0].notes) \
        == expected
    melody = MelodyConverter(slice_bars=2)
    lines = song_windows(melody, read_score(path), "song")  # the top line, 2 bars a window
    assert lines.shape == (5, 32, 1)
    assert onset_f1(stitch(melody, lines), stitch(melody, lines)) == 1.0


def test_distances_against_hand_computations():
    a = pretty_midi.PrettyMIDI()
    a.instruments.append(pretty_midi.Instrument(0))
    a.instruments[0].notes = [pretty_midi.Note(80, p, t, t + 0.1) for p, t in ((60, 0.0), (64, 0.5), (67, 1.0))]
    b = pretty_midi.PrettyMIDI()
    b.instruments.append(pretty_midi.Instrument(0))
    b.instruments[0].notes = [pretty_midi.Note(80, p, t, t + 0.1) for p, t in ((60, 0.0), (72, 0.5))]
    assert onset_f1(a, b) == pytest.approx(2 * 1 / 5)  # one shared onset of 3 + 2
    # pitch classes: a = C, E, G (1/3 each); b = C, C (1): distance 1/2 (|1/3 - 1| + 1/3 + 1/3) = 2/3
    assert pitch_class_distance(a, b) == pytest.approx(2 / 3)
    assert pitch_class_distance(a, a) == 0.0 and onset_f1(a, pretty_midi.PrettyMIDI()) == 0.0


def test_variations_write_n_distinct_valid_files_closer_to_the_song_than_prior_samples(cnn_vrnn_run, songs, tmp_path,
                                                                                       capsys):
    out = tmp_path / "variations"
    assert midi("variations", "--run-dir", cnn_vrnn_run, "--input-midi", songs[0], "-n", 3, "--temperature", 1,
                "--output-dir", out, "--png", "--seed", 0) == 0
    printed = capsys.readouterr().out
    files = sorted(out.glob("*_variations_*.mid"))
    assert len(files) == 3 and len(list(out.glob("*_variations-input_*.png"))) == 1
    assert len(list(out.glob("*.png"))) == 4
    song = pretty_midi.PrettyMIDI(str(next(out.glob("*_variations-input_*.mid"))))
    variations = [pretty_midi.PrettyMIDI(str(f)) for f in files]
    notes = [sorted((n.pitch, round(n.start, 3), round(n.end, 3)) for i in v.instruments for n in i.notes)
             for v in [song, *variations]]
    assert all(notes[1:]) and len({tuple(n) for n in notes}) == 4  # valid, non-empty, distinct from each other
    assert "prior samples (mean of 3, the reference)" in printed and "variation   3: onset F1" in printed
    assert f"4 MIDI files, 4 piano rolls (.png) written to {out}" in printed  # the song as read, and 3 variations
    assert f"{songs[0]}: 2 4-bar piano roll windows;" in printed

    torch.manual_seed(0)
    result = make_variations(TrainedModel(cnn_vrnn_run, "cpu"), songs[0], 4, 1.0)
    assert result.n_windows == 2 and result.silent_windows == 0
    variation_f1 = np.mean([d.onset_f1 for d in result.distances])
    prior_f1 = np.mean([d.onset_f1 for d in result.prior_distances])
    assert variation_f1 > prior_f1 + 0.3 and all(d.onset_f1 < 1 for d in result.distances)
    assert np.mean([d.pitch_class_distance for d in result.distances]) < np.mean(
        [d.pitch_class_distance for d in result.prior_distances])


@pytest.fixture(scope="module")
def melodies(tmp_path_factory):
    """Four 8-bar one-line songs of eighth notes (64 notes: two 32-token note windows each)."""
    folder = tmp_path_factory.mktemp("melodies")
    rng = np.random.default_rng(1)
    for k in range(4):
        walk = 60 + np.cumsum(rng.integers(-2, 3, size=64)).clip(-12, 12)
        write_song(folder / f"tune{k}.mid", [(int(p), 2 * i, 2 * i + 2) for i, p in enumerate(walk)])
    return folder


@pytest.mark.parametrize("config, hparams, windows", [("cat-mel_2bar_small", MUSIC_VAE, 4),
                                                      ("vae-note", NOTES, 2)])
def test_music_vae_and_note_model_runs_vary_a_whole_song(config, hparams, windows, melodies, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert midi("train", "--config", config, "--examples-path", melodies, "--run-dir", run_dir, "--hparams", hparams,
                "--num-steps", 2, "--workers", 1, "--no-progress") == 0
    song = melodies / "tune0.mid"
    assert midi("variations", "--run-dir", run_dir, "--input-midi", song, "-n", 2, "--output-dir", tmp_path / "out",
                "--seed", 1) == 0
    printed = capsys.readouterr().out
    assert f"{song}: {windows} " in printed and len(list((tmp_path / "out").glob("*_variations_*.mid"))) == 2
    assert f"3 MIDI files written to {tmp_path / 'out'}" in printed
    short = write_song(tmp_path / "short.mid", [(60 + i % 5, i, i + 1) for i in range(32)])  # 2 bars, 32 notes
    assert midi("variations", "--run-dir", run_dir, "--input-midi", short, "-n", 1, "--output-dir", tmp_path / "one",
                "--seed", 1) == 0
    printed = capsys.readouterr().out
    assert f"{short}: 1 {TrainedModel(run_dir, 'cpu').description} window;" in printed
    assert f"2 MIDI files written to {tmp_path / 'one'}" in printed
    converter = TrainedModel(run_dir, "cpu").converter
    assert isinstance(converter, MelodyConverter if config.startswith("cat") else NoteTokenConverter)


def test_the_language_model_refuses_variations_in_one_line(melodies, tmp_path, capsys):
    run_dir = tmp_path / "lm"
    assert midi("train", "--config", "lm-note", "--examples-path", melodies, "--run-dir", run_dir, "--hparams", NOTES,
                "--num-steps", 1, "--workers", 1, "--no-progress") == 0
    capsys.readouterr()
    assert midi("variations", "--run-dir", run_dir, "--input-midi", melodies / "tune0.mid",
                "--output-dir", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: variations needs a latent model") and "lm-note" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
