"""`midi personalise` (MidiMe): the small VAE learns a latent cloud, a personalised run dir round-trips and routes the
prior draws of every sampling command through the small model, a changed or missing base is refused, bad input is
one line, and `midi evaluate` compares its samples with the songs beside the base model's."""
import json
import shutil

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.errors import UserError
from symbolic.cli.personalise import BETA, LATENT_SIZE, STEPS
from symbolic.personalise import PERSONALISED_NAME, RECORD_NAME, MidiMeConfig, fit
from symbolic.studies.personalised import personalise, pitch_class_l1
from symbolic.train import train
from symbolic.trained_model import TrainedModel
from tests.symbolic.test_music_vae_commands import TINY, examples, midi, outputs, run, write_melody  # noqa: F401
from tests.symbolic.test_variations import CNN_VRNN, NOTES

C_MAJOR = np.array([60, 62, 64, 65, 67, 69, 71, 72])
SONG_NOTES = C_MAJOR[np.random.default_rng(0).integers(0, 8, 64)]  # 8 bars of eighth notes in C major


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    return write_melody(tmp_path_factory.mktemp("song") / "my_song.mid", SONG_NOTES)


@pytest.fixture(scope="module")
def mine(tmp_path_factory, run, song):
    """The tiny trained melody run personalised on the song, through the command."""
    out = tmp_path_factory.mktemp("mine")
    assert midi("personalise", "--run-dir", run, "--input-midi", song, "--output-dir", out, "--steps", 30,
                "--no-progress") == 0
    return out


def cloud(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """256 latent codes in 16-D on a 2-D plane through a random point, spread 3 and 2 along its axes; the axes."""
    g = torch.Generator().manual_seed(seed)
    axes = torch.linalg.qr(torch.randn(16, 2, generator=g))[0]
    return (torch.randn(256, 2, generator=g) * torch.tensor([3.0, 2.0])) @ axes.T + torch.randn(16, generator=g), axes


def test_the_small_vae_learns_a_latent_cloud_its_samples_mean_and_spread_match():
    x, axes = cloud(0)
    model, losses = fit(x, torch.zeros_like(x), MidiMeConfig(), seed=0, progress=False)
    samples = model.sample(4000)
    centred = samples - x.mean(0)
    # measured (seeds 0-2): mean off by 0.09-0.26 of a spread of 3.6; spread along the axes 2.6-2.9 and 1.7-1.9
    assert (samples.mean(0) - x.mean(0)).norm() < 0.5
    assert centred.matmul(axes).std(0).tolist() == pytest.approx([3.0, 2.0], rel=0.25)
    assert (centred - centred @ axes @ axes.T).norm(dim=1).mean() < 0.3  # and it stays on the plane
    assert losses["kl"] > 1.0  # it uses its latent space: a model of the mean alone would have KL 0


def test_draws_around_the_means_teach_the_spread_of_the_posteriors():
    means = torch.ones(32, 16)  # every window at one point, each posterior N(1, 2²) in every dimension
    spreads = [fit(means, torch.full_like(means, 2.0), MidiMeConfig(steps=200, draws=draws), progress=False)[0]
               .sample(1000).std(0).norm().item() for draws in (0, 4)]
    assert spreads[0] < 0.5 and spreads[1] > 1.5  # measured: 0.07 and 2.8 (an isotropic N(1, 4 I) in 16-D: 8)


def test_the_command_defaults_are_the_small_vaes():
    config = MidiMeConfig()
    assert (STEPS, LATENT_SIZE, BETA) == (config.steps, config.latent_size, config.beta)
    assert config.widths(256) == [1024, 256, 64] and config.widths(512) == [2048, 512, 128]


def test_a_personalised_run_round_trips_and_samples_through_its_small_model(mine, run):
    record = json.loads((mine / RECORD_NAME).read_text())
    assert record["windows"] == 4 and record["base_weights_digest"] == TrainedModel(run, "cpu").weights_digest()
    assert not (mine / "checkpoint.pt").exists() and (mine / PERSONALISED_NAME).stat().st_size < 5e6

    def drawn(run_dir, seed=3):
        model = TrainedModel(run_dir, "cpu")
        torch.manual_seed(seed)
        return model.sample_windows(16)

    assert np.array_equal(drawn(mine), drawn(mine))  # reloaded, the same seed gives the same samples
    assert not np.array_equal(drawn(mine), drawn(run))  # and they are not the base model's

    model = TrainedModel(mine, "cpu")
    torch.manual_seed(0)
    z = model.prior.sample(5)
    torch.manual_seed(0)
    assert np.array_equal(model.sample_windows(5, 0.0), model.decode_windows(z, 0.0))


def test_every_sampling_command_reads_a_personalised_run(mine, song, examples, tmp_path, capsys):
    assert midi("sample", "--run-dir", mine, "-n", 3, "--output-dir", tmp_path / "s", "--seed", 1) == 0
    assert len(outputs(tmp_path / "s")) == 3
    assert midi("interpolate", "--run-dir", mine, "--input-midi-1", song, "--input-midi-2", examples / "song00.mid",
                "-n", 3, "--output-dir", tmp_path / "i") == 0
    assert midi("variations", "--run-dir", mine, "--input-midi", song, "-n", 2, "--output-dir", tmp_path / "v") == 0
    capsys.readouterr()
    songs = song.parent
    assert midi("evaluate", "--run-dir", mine, "--examples-path", songs, "--samples", 20, "--json",
                "--no-progress") == 0
    found = json.loads(capsys.readouterr().out)
    assert found["split"] == "all" and found["n_samples"] == 20 and found["n_windows"] >= 4
    assert {"personalised_pitch_class_l1", "base_pitch_class_l1", "personalised_onset_f1", "base_onset_f1",
            "personalised_overlap", "base_overlap"} <= found.keys()
    assert "than the base model's" in found["verdicts"][0]


def test_a_changed_or_missing_base_is_refused_in_one_line(run, song, tmp_path, capsys):
    base = tmp_path / "base"
    shutil.copytree(run, base)
    personalise(base, [song], tmp_path / "mine", MidiMeConfig(steps=2), progress=False)
    TrainedModel(tmp_path / "mine", "cpu")  # opens while the base is as it was

    state = load_checkpoint(base / "checkpoint.pt")
    for key in ("model", "ema"):
        if key in state:
            state[key] = {name: value + 0.01 if value.is_floating_point() else value
                          for name, value in state[key].items()}
    save_checkpoint(base / "checkpoint.pt", state)
    with pytest.raises(UserError, match="has changed since it was personalised"):
        TrainedModel(tmp_path / "mine", "cpu")

    shutil.rmtree(base)
    capsys.readouterr()
    assert midi("sample", "--run-dir", tmp_path / "mine", "--output-dir", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "its base run" in err and "is missing" in err


def test_bad_input_is_one_line(run, song, examples, tmp_path, capsys):
    short = write_melody(tmp_path / "short.mid", [60, 62, 64, 65])  # half a bar
    three_four = write_melody(tmp_path / "waltz.mid", SONG_NOTES, numerator=3)
    lm = tmp_path / "lm"
    train(lm, examples, "lm-note", NOTES, num_steps=0, progress=False, workers=1)
    for run_dir, midi_file, message in ((run, short, "shorter than one 2-bar melody window"),
                                        (run, three_four, "no 2-bar melody window in any part of the song"),
                                        (lm, song, "personalise needs a latent model")):
        capsys.readouterr()
        assert midi("personalise", "--run-dir", run_dir, "--input-midi", midi_file, "--output-dir",
                    tmp_path / "out", "--no-progress") == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert midi("personalise", "--run-dir", run, "--input-midi", song, "--output-dir", run, "--steps", 1,
                "--no-progress") == 2
    assert "holds a trained model" in capsys.readouterr().err


@pytest.mark.parametrize("config,hparams", [("vae-note", NOTES), ("cnn-vrnn", CNN_VRNN),
                                            ("cnn-vrnn", f"{CNN_VRNN},vrnn=true")])
def test_every_latent_family_personalises(config, hparams, examples, song, tmp_path):
    base = tmp_path / "base"
    train(base, examples, config, hparams, num_steps=0, progress=False, workers=1)
    long_song = write_melody(tmp_path / "long.mid", np.tile(SONG_NOTES, 2))  # 16 bars: enough for 8-bar piano rolls too
    record = personalise(base, [long_song], tmp_path / "mine", MidiMeConfig(steps=2), progress=False)
    model = TrainedModel(tmp_path / "mine", "cpu")
    assert record["windows"] >= 1 and model.prior is not None
    assert model.sample_windows(2).shape == (2, *model.converter.window_shape)


def test_pitch_class_l1_against_a_hand_computation():
    import pretty_midi

    def notes(*pitches):
        pm = pretty_midi.PrettyMIDI()
        pm.instruments.append(pretty_midi.Instrument(0))
        pm.instruments[0].notes = [pretty_midi.Note(80, p, i, i + 1) for i, p in enumerate(pitches)]
        return pm

    # samples: C, C, E (2/3, 1/3); song: C, G (1/2, 1/2): |2/3 - 1/2| + |1/3 - 0| + |0 - 1/2| = 1
    assert pitch_class_l1([notes(60, 72), notes(64)], [notes(48, 67)]) == pytest.approx(1.0)
    assert pitch_class_l1([notes(60)], [notes()]) is None
