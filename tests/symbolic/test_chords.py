"""Chord-conditioned melodies: chord symbols and the triad encoding (Magenta note_seq's test cases), chord inference
(Magenta's chord_inference_test cases, each with its expected values), the lead-sheet converter, transposition,
the cat-mel_2bar_med_chords model and the --chords commands."""
import re
import shlex

import numpy as np
import pretty_midi
import pytest
import symusic
import torch
import torch.nn.functional as F

import music_composer
from engine.errors import UserError
from symbolic.configs import get_config
from symbolic.data.chords import (NO_CHORD, frame_pitch_vectors, infer_chords, parse_chord, parse_progression,
                                  transpose_triads, triad_index, triad_name)
from symbolic.data.converters import converter_from_spec
from symbolic.data.converters.lead_sheet import chord_tone_time
from symbolic.data.datasets import WindowDataset
from symbolic.models.music_vae import CategoricalDecoder, MusicVAE
from symbolic.trained_model import TrainedModel

TINY = "z_size=8,enc_rnn_size=[16],dec_rnn_size=[16],batch_size=8"
C, DM, F_, G = triad_index("C"), triad_index("Dm"), triad_index("F"), triad_index("G")


# ------------------------------------------------------------------------------- symbols (chord_symbols_lib_test)
@pytest.mark.parametrize("symbol,pitch_classes", [
    ("Am", {0, 4, 9}), ("D7b9", {0, 2, 3, 6, 9}), ("F/o", {3, 5, 8, 11}), ("C-(M7)", {0, 3, 7, 11}),
    ("E##13", {1, 3, 4, 6, 8, 10, 11}), ("G(add2)(#5)", {3, 7, 9, 11})])
def test_chord_pitch_classes_are_magentas(symbol, pitch_classes):
    assert parse_chord(symbol).pitch_classes == pitch_classes


@pytest.mark.parametrize("symbol,root,bass", [
    ("Dm9", 2, 2), ("E/G#", 4, 8), ("Bsus2/A", 11, 9), ("Abm7/Cb", 8, 11), ("D##5(add6)", 4, 4),
    ("F(b7)(#9)(b13)", 5, 5), ("G/o", 7, 7)])
def test_roots_and_basses_are_magentas(symbol, root, bass):
    chord = parse_chord(symbol)
    assert (chord.root, chord.bass) == (root, bass)


@pytest.mark.parametrize("symbols,triad", [
    (["B13", "E7#9", "Fadd2/Eb", "C6/9/Bb", "Gmaj13"], 0), (["C#-9", "Gm7/Bb", "Cbmmaj7", "A-(M7)", "Bbmin"], 1),
    (["D+/A#", "A+", "G7(#5)", "Faug(add2)"], 2), (["Am7b5", "Edim7", "Bb/o", "Fo"], 3),
    (["G5", "Bbsus2", "Dsus", "E(no3)"], None)])
def test_chord_qualities_are_magentas(symbols, triad):
    assert [parse_chord(s).triad for s in symbols] == [triad] * len(symbols)


@pytest.mark.parametrize("symbol", ["H", "Cmajor", "C#b", "x7", "C(add3)"])
def test_an_unknown_symbol_is_one_line_naming_it(symbol):
    with pytest.raises(UserError, match=re.escape(f"unknown chord symbol {symbol!r}")):
        parse_chord(symbol)


# ---------------------------------------------------------------- the triad encoding (chords_encoder_decoder_test)
def test_the_triad_encoding_is_magentas():
    assert [triad_index(s) for s in (NO_CHORD, "C13", "Cm(maj7)", "Faug7", "Abm7b5")] == [0, 1, 13, 30, 45]
    assert [triad_name(i) for i in (0, 3, 17, 33, 42)] == [NO_CHORD, "D", "Em", "Abaug", "Fdim"]
    assert all(triad_index(triad_name(i)) == i for i in range(49))
    for thirdless in ("Gsus4", "Bb5"):
        with pytest.raises(UserError, match="no major, minor"):
            triad_index(thirdless)


def test_transposing_triads_moves_roots_and_keeps_kinds():
    moved = transpose_triads(np.array([0, C, DM, triad_index("Bdim")]), 2)
    assert [triad_name(i) for i in moved] == [NO_CHORD, "D", "Em", "C#dim"]
    assert [triad_name(i) for i in transpose_triads(np.array([C]), -13)] == ["B"]


def test_a_progression_names_the_symbol_it_does_not_know():
    assert parse_progression("C G, Am F").tolist() == [C, G, triad_index("Am"), F_]
    with pytest.raises(UserError, match="--chords: unknown chord symbol 'Hm'"):
        parse_progression("C Hm F")


# ------------------------------------------------------------------------------ inference (chord_inference_test)
NOTES = [(60, 0.0, 0.0), (62, 0.0, 0.5), (60, 1.5, 2.5), (64, 2.0, 2.5), (67, 2.25, 2.75), (70, 2.5, 4.5),
         (60, 6.0, 6.0)]


def vectors(notes, boundaries):
    pitch, start, end = (np.array(column, float) for column in zip(*notes))
    return frame_pitch_vectors(start, end, pitch.astype(int), np.array(boundaries, float))


def test_pitch_vectors_per_second_are_magentas():
    # testSequenceNotePitchVectors: frames of 1 s up to the last note's end (6 frames)
    expected = np.zeros((6, 12))
    expected[0, 2] = expected[1, 0] = expected[3, 10] = expected[4, 10] = 1.0
    expected[2, [0, 4, 7, 10]] = 0.5
    np.testing.assert_allclose(vectors(NOTES, [1, 2, 3, 4, 5]), expected)


def test_pitch_vectors_of_variable_frames_are_magentas():
    # testSequenceNotePitchVectorsVariableLengthFrames: boundaries 1.5, 2, 3, 5
    expected = np.zeros((5, 12))
    expected[0, 2] = expected[1, 0] = expected[3, 10] = 1.0
    expected[2, [0, 4, 7, 10]] = 0.5
    np.testing.assert_allclose(vectors(NOTES, [1.5, 2.0, 3.0, 5.0]), expected)


TRIADS = [(60, 0, 1), (64, 0, 1), (67, 0, 1), (62, 1, 2), (65, 1, 2), (69, 1, 2),  # C, Dm
          (60, 2, 3), (65, 2, 3), (69, 2, 3), (59, 3, 4), (62, 3, 4), (67, 3, 4)]  # F, G


def test_inferred_chords_are_magentas():
    # testInferChordsForSequence: two chords per bar at 120 qpm are frames of 1 s
    assert [chord for _, chord in infer_chords(vectors(TRIADS, [1, 2, 3]))] == ["C", "Dm", "F", "G"]


def test_inferred_key_change_is_magentas():
    # testInferChordsForSequenceAddKeySignatures: C Dm F G then F# G#m B C#: keys C (0) from 0 s, F# (6) from 4 s
    notes = TRIADS + [(p, s + 4, e + 4) for p, s, e in [(66, 0, 1), (70, 0, 1), (73, 0, 1), (68, 1, 2), (71, 1, 2),
                                                         (75, 1, 2), (66, 2, 3), (71, 2, 3), (75, 2, 3), (65, 3, 4),
                                                         (68, 3, 4), (73, 3, 4)]]
    keys = [key for key, _ in infer_chords(vectors(notes, range(1, 8)))]
    changes = [(key, float(t)) for t, key in enumerate(keys) if t == 0 or keys[t - 1] != key]
    assert changes == [(0, 0.0), (6, 4.0)]


def test_inferred_chords_at_beats_are_magentas():
    # testInferChordsForSequenceWithBeats: beats 0.0, 1.1, 1.9, 1.9, 3.0 (the first and the repeat are no boundary)
    notes = [(p, s, e) for p, s, e in [(60, 0.0, 1.1), (64, 0.0, 1.1), (67, 0.0, 1.1), (62, 1.1, 1.9),
                                       (65, 1.1, 1.9), (69, 1.1, 1.9), (60, 1.9, 3.0), (65, 1.9, 3.0),
                                       (69, 1.9, 3.0), (59, 3.0, 4.5), (62, 3.0, 4.5), (67, 3.0, 4.5)]]
    assert [chord for _, chord in infer_chords(vectors(notes, [1.1, 1.9, 3.0]))] == ["C", "Dm", "F", "G"]


# ------------------------------------------------------------------------------------------- lead-sheet windows
def lead_sheet_score(score_of, chord_track=False, lyrics=()):
    """A melody over block chords C Dm F G (one per half bar, 2 bars) in another track, or a track named chords."""
    melody = [(72, 0, 4), (74, 4, 8), (77, 8, 12), (79, 12, 16), (76, 16, 20), (77, 20, 24), (81, 24, 28),
              (74, 28, 32)]
    block = [(p + 12 * (p < 60), 8 * k, 8 * k + 8) for k, chord in enumerate([(48, 52, 55), (50, 53, 57),
                                                                             (53, 57, 60), (55, 59, 62)])
             for p in chord]
    score = score_of([(0, False, melody), (0, False, block)])
    if chord_track:
        score.tracks[1].name = "Chords"
    for tick, text in lyrics:
        score.tracks[0].lyrics.append(symusic.TextMeta(tick, text))
    return score


def test_a_lead_sheet_window_has_the_chord_of_every_half_bar(score_of):
    converter = converter_from_spec({"kind": "lead_sheet"})
    result = converter.encode(lead_sheet_score(score_of), "song")
    chords = [triad_name(i) for i in result.windows[0, ::8, 1]]
    assert chords == ["C", "Dm", "F", "G"] and result.stats["chords_inferred"] == 1
    assert len(result.windows) == 2  # the melody's window and the block chords' top line, each with its chords


def test_a_chord_track_is_no_melody_and_text_chords_win(score_of):
    converter = converter_from_spec({"kind": "lead_sheet"})
    result = converter.encode(lead_sheet_score(score_of, chord_track=True), "song")
    assert len(result.windows) == 1 and result.stats["chords_from_track"] == 1
    assert [triad_name(i) for i in result.windows[0, ::8, 1]] == ["C", "Dm", "F", "G"]
    texts = lead_sheet_score(score_of, chord_track=True, lyrics=[(0, "Am7"), (8 * 120, "Bb7"), (16 * 120, "N.C.")])
    result = converter.encode(texts, "song")
    assert [triad_name(i) for i in result.windows[0, ::8, 1]] == ["Am", "Bb", NO_CHORD, NO_CHORD]
    assert result.stats["chords_from_text"] == 1


def test_a_decoded_window_encodes_back_to_its_chords(score_of, tmp_path):
    converter = converter_from_spec({"kind": "lead_sheet"})
    window = converter.encode(lead_sheet_score(score_of, chord_track=True), "song").windows[0]
    midi = converter.decode(window)
    assert [lyric.text for lyric in midi.lyrics] == ["C", "Dm", "F", "G"]
    midi.write(str(tmp_path / "a.mid"))
    again = converter.encode(symusic.Score(tmp_path / "a.mid"), "a").windows
    assert np.array_equal(again, window[None])


def test_chord_tone_time_counts_note_steps_on_the_chords_tones():
    melody = np.zeros(8, np.int64)
    melody[[0, 2, 4, 6]] = [60 - 19, 1, 62 - 19, 67 - 19]  # C (2 steps), off, D (2 steps), G (2 steps)
    window = np.stack([melody, np.full(8, C)], -1)[None]
    assert chord_tone_time(window) == (4, 6)
    assert chord_tone_time(window, 6) == (0, 6)  # F# major: none of C, D, G


def test_transposition_moves_melody_and_chords_together(tmp_path):
    melody = np.zeros(32, np.int16)
    melody[::4] = np.arange(8) + 40
    window = np.stack([melody, np.repeat([C, DM, F_, G], 8)], -1)[None]
    np.save(tmp_path / "w.npy", window)
    dataset = WindowDataset(tmp_path / "w.npy", (0,), transpose=3, chord_tracks=(1,))
    torch.manual_seed(0)
    shifts = set()
    for _ in range(30):
        item = dataset[0].numpy()
        shift = int(item[0, 0]) - 40
        shifts.add(shift)
        assert np.array_equal(item[:, 1], transpose_triads(window[0, :, 1], shift))
        assert np.array_equal(item[::4, 0], melody[::4] + shift)
    assert len(shifts) > 3


# ---------------------------------------------------------------------------------------------------- the model
def test_the_config_has_magentas_sizes_and_trains_a_step():
    config = get_config("cat-mel_2bar_med_chords")
    assert (config.z_size, config.enc_rnn_size, config.dec_rnn_size, config.transpose) == (256, [1024],
                                                                                           [512, 512, 512], 3)
    assert config.chord_depth == 49 and config.data["kind"] == "lead_sheet"
    model = MusicVAE(get_config("cat-mel_2bar_med_chords", TINY))
    x = torch.stack([torch.randint(0, 90, (4, 32)), torch.randint(0, 49, (4, 32))], -1)
    out = model.training_loss(x, 1)
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    decoded = model.sample(3, 32, 1.0, x[:3, :, 1])
    assert decoded.shape == (3, 32, 2) and torch.equal(decoded[..., 1], x[:3, :, 1])


def test_the_chords_steer_the_decoder_and_stepwise_decoding_matches_the_one_call_pass():
    torch.manual_seed(0)
    decoder = CategoricalDecoder(90, 6, [16, 12], 1.0, control_size=49).eval()
    inputs = F.pad(F.one_hot(torch.randint(0, 90, (3, 9)), 90).float(), (0, 0, 1, 0))
    embedding, controls = torch.randn(3, 6), F.one_hot(torch.randint(0, 49, (3, 10)), 49).float()
    teacher = decoder(inputs, embedding, 0.0, controls)
    step, state = decoder.stepper(embedding, controls)
    stepped = []
    for t in range(10):
        logits, state = step(inputs[:, t], state, t)
        stepped.append(logits)
    torch.testing.assert_close(torch.stack(stepped, 1), teacher)
    assert not torch.allclose(decoder(inputs, embedding, 0.0, controls.roll(1, dims=-1)), teacher)


# ------------------------------------------------------------------------------------------------- the commands
def midi(*argv) -> int:
    return music_composer.main(["midi", *map(str, argv)])


@pytest.fixture(scope="module")
def chord_run(tmp_path_factory):
    """A tiny cat-mel_2bar_med_chords model trained for 2 steps on 3 lead sheets."""
    folder = tmp_path_factory.mktemp("sheets")
    from tests.symbolic.conftest import make_score
    for k in range(3):
        score = lead_sheet_score(make_score)
        score.tracks[0].notes.extend(symusic.Note(n.time + 32 * 120, n.duration, n.pitch + k, 90)
                                     for n in list(score.tracks[0].notes))
        score.dump_midi(folder / f"s{k}.mid")
    run_dir = tmp_path_factory.mktemp("run")
    assert midi("train", "--config", "cat-mel_2bar_med_chords", "--examples-path", folder, "--run-dir", run_dir,
                "--hparams", TINY, "--num-steps", 2, "--no-progress") == 0
    return run_dir, folder


def test_sample_plays_over_a_progression_of_any_length(chord_run, tmp_path):
    run_dir, _ = chord_run
    assert midi("sample", "--run-dir", run_dir, "--output-dir", tmp_path, "-n", 2, "--seed", 1,
                "--chords", "C G Am F Dm G", "--png") == 0
    files = sorted(tmp_path.glob("*.mid"))
    assert len(files) == 2 and len(list(tmp_path.glob("*.png"))) == 2
    lyrics = pretty_midi.PrettyMIDI(str(files[0])).lyrics
    assert [(lyric.text, lyric.time) for lyric in lyrics] == [
        (name, k * 1.0) for k, name in enumerate(["C", "G", "Am", "F", "Dm", "G"])]  # 1 s per half bar at 120 qpm
    model = TrainedModel(run_dir)
    torch.manual_seed(0)
    rows, steps = model.progression("C G Am F Dm G")
    assert rows.shape == (2, 32) and steps == 48 and rows[1, 16:].tolist() == [G] * 16
    assert model.decode_progression(model.prior_z(3), 1.0, rows, steps).shape == (3, 48, 2)


def test_the_command_printed_after_training_samples_over_chords(chord_run, tmp_path, capsys, monkeypatch):
    _, folder = chord_run
    assert midi("train", "--config", "cat-mel_2bar_med_chords", "--examples-path", folder, "--run-dir",
                tmp_path / "run", "--hparams", TINY, "--num-steps", 1, "--no-progress") == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "listen to it with: " in line)
    argv = shlex.split(line.split("listen to it with: ")[1])
    assert argv[argv.index("--chords") + 1] == "C G Am F"
    monkeypatch.chdir(tmp_path)
    assert music_composer.main(argv[1:]) == 0 and len(list((tmp_path / "samples").glob("*.mid"))) == 4


def test_interpolate_and_reconstruct_keep_or_take_chords(chord_run, tmp_path):
    run_dir, folder = chord_run
    a, b = folder / "s0.mid", folder / "s1.mid"
    assert midi("interpolate", "--run-dir", run_dir, "--input-midi-1", a, "--input-midi-2", b, "-n", 3,
                "--chords", "Em C G D", "--output-dir", tmp_path / "i") == 0
    for path in sorted((tmp_path / "i").glob("*.mid")):
        assert [lyric.text for lyric in pretty_midi.PrettyMIDI(str(path)).lyrics] == ["Em", "C", "G", "D"]
    assert midi("reconstruct", "--run-dir", run_dir, "--input-midi", a, "--output-dir", tmp_path / "r") == 0
    (path,) = (tmp_path / "r").glob("*.mid")
    assert [lyric.text for lyric in pretty_midi.PrettyMIDI(str(path)).lyrics] == ["C", "Dm", "F", "G"]


@pytest.mark.parametrize("argv,message", [
    (["--chords", "C H Am"], "--chords: unknown chord symbol 'H'"),
    ([], "is chord-conditioned: give the chords"),
    (["--chords", "Csus4"], "no major, minor")])
def test_chord_flags_fail_in_one_line(chord_run, tmp_path, capsys, argv, message):
    run_dir, _ = chord_run
    assert midi("sample", "--run-dir", run_dir, "--output-dir", tmp_path, *argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_evaluate_reports_chord_tone_rates(chord_run):
    from symbolic.studies.evaluate import evaluate_run
    run_dir, folder = chord_run
    metrics = evaluate_run(run_dir, folder, split="all", samples=4, progress=False)
    for name in ("data", "reconstructions", "samples", "samples_tritone"):
        assert 0 <= metrics[f"chord_tone_rate_{name}"] <= 1
    on, total = chord_tone_time(TrainedModel(run_dir).example_windows(folder, "all", progress=False))
    assert metrics["chord_tone_rate_data"] == on / total
    assert any("chord tones" in line for line in metrics["verdicts"])
