"""The MusicVAE commands end to end on tiny models: train (resume, shape checks, --example), evaluate, sample,
interpolate, reconstruct, attribute, and their one-line errors."""
import json

import numpy as np
import pretty_midi
import pytest
import torch

import music_composer
from engine.checkpoint import load_checkpoint, save_checkpoint
from symbolic.data.datasets import PreparedDataset
from symbolic.data.midi_io import find_midi_files
from symbolic.data.splits import split_of
from symbolic.examples import EXAMPLE_DATA
from symbolic.models.music_vae import MusicVAE
from symbolic.trained_model import TrainedModel

TINY = "z_size=8,enc_rnn_size=[16],dec_rnn_size=[16],batch_size=8"
TINY_HIER = "z_size=8,enc_rnn_size=[16],dec_rnn_size=[16],conductor_rnn_size=[8],batch_size=8,data.slice_bars=2"
N_FILES = 14  # enough files for held-out splits (>= 10)


def midi(*argv) -> int:
    """Run `music-composer midi ARGV` in this process."""
    return music_composer.main(["midi", *map(str, argv)])


def write_melody(path, pitches, numerator=4, steps_per_note=2):
    """A one-track piano MIDI playing ``pitches`` as notes of ``steps_per_note`` 16ths at 120 qpm."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(numerator, 4, 0.0))
    piano = pretty_midi.Instrument(program=0)
    step = 0.125
    for i, pitch in enumerate(pitches):
        piano.notes.append(pretty_midi.Note(90, int(pitch), i * steps_per_note * step, (i + 1) * steps_per_note * step))
    pm.instruments.append(piano)
    pm.write(str(path))
    return path


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """A folder of 4-bar random-walk melodies in 4/4 (each gives three 2-bar windows), with non-empty held-out splits.

    File i moves every 1 + i % 3 16ths.
    """
    folder = tmp_path_factory.mktemp("examples")
    rng = np.random.default_rng(0)
    for i in range(N_FILES):
        steps_per_note = 1 + i % 3
        walk = 60 + np.cumsum(rng.integers(-2, 3, size=64 // steps_per_note)).clip(-12, 12)
        write_melody(folder / f"song{i:02d}.mid", walk, steps_per_note=steps_per_note)
    assert {split_of(f"song{i:02d}.mid") for i in range(N_FILES)} == {"train", "validation", "test"}
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory, examples):
    """A tiny 2-bar melody model trained for 6 steps."""
    run_dir = tmp_path_factory.mktemp("run")
    assert midi("train", "--config", "cat-mel_2bar_small", "--examples-path", examples, "--run-dir", run_dir,
                "--hparams", TINY, "--num-steps", 6, "--val-every", 3, "--checkpoint-every", 3, "--no-progress") == 0
    return run_dir


def outputs(folder, suffix=".mid"):
    return sorted(folder.glob(f"*{suffix}"))


def test_train_saves_the_full_config_logs_validation_and_resumes(run, examples, capsys):
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["step"] == 6 and state["hparams"]["config_name"] == "cat-mel_2bar_small"
    config = state["hparams"]["config"]
    assert (config["z_size"], config["dec_rnn_size"], config["data"]["program_range"]) == (8, [16], [0, 31])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "val/accuracy" in r] == [3, 6]

    assert midi("train", "--examples-path", examples, "--run-dir", run, "--num-steps", 8, "--no-progress") == 0
    assert "resuming from" in capsys.readouterr().out
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 8


def train_tiny(examples, run_dir, *extra):
    """Train a tiny 2-bar melody model for 3 steps in ``run_dir``; returns its weights."""
    assert midi("train", "--config", "cat-mel_2bar_small", "--examples-path", examples, "--run-dir", run_dir,
                "--hparams", TINY, "--num-steps", 3, "--no-progress", *extra) == 0
    return load_checkpoint(run_dir / "checkpoint.pt")["model"]


def test_identical_runs_give_identical_weights_and_the_seed_changes_them(examples, tmp_path):
    torch.rand(5)  # whatever ran before in this process must not matter
    first = train_tiny(examples, tmp_path / "a")
    torch.rand(7)
    second = train_tiny(examples, tmp_path / "b")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    other = train_tiny(examples, tmp_path / "c", "--seed", 1)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_training_transposes_the_training_split_only(examples, tmp_path, monkeypatch):
    splits = []
    split = PreparedDataset.split

    def recording_split(self, name, transpose=0):
        splits.append((name, transpose))
        return split(self, name, transpose)

    monkeypatch.setattr(PreparedDataset, "split", recording_split)
    train_tiny(examples, tmp_path / "mel")  # cat-mel_2bar_small: Magenta's +-5 semitones
    assert splits == [("train", 5), ("validation", 0)]
    splits.clear()
    assert midi("train", "--config", "cat-mel_2bar_small", "--examples-path", examples, "--run-dir", tmp_path / "t0",
                "--hparams", f"{TINY},transpose=0", "--num-steps", 1, "--no-progress") == 0
    assert splits == [("train", 0), ("validation", 0)]


def test_a_resumed_transposing_run_ends_as_an_uninterrupted_one(examples, tmp_path):
    straight = train_tiny(examples, tmp_path / "straight", "--num-steps", 6)
    train_tiny(examples, tmp_path / "resumed")  # 3 steps, then 3 more
    resumed = train_tiny(examples, tmp_path / "resumed", "--num-steps", 6)
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_runs_saved_before_transposition_load_and_resume(run, examples, tmp_path, capsys):
    old = tmp_path / "old"
    old.mkdir()
    state = load_checkpoint(run / "checkpoint.pt")
    del state["hparams"]["config"]["transpose"]
    save_checkpoint(old / "checkpoint.pt", state)
    assert TrainedModel(old).config.transpose == 0
    assert midi("train", "--examples-path", examples, "--run-dir", old, "--num-steps", state["step"] + 1,
                "--no-progress") == 0
    assert "resuming from" in capsys.readouterr().out
    assert load_checkpoint(old / "checkpoint.pt")["hparams"]["config"]["transpose"] == 0


def test_resuming_with_other_shapes_fails_with_one_line(run, examples, capsys):
    assert midi("train", "--config", "cat-mel_2bar_small", "--examples-path", examples, "--run-dir", run,
                "--hparams", TINY.replace("z_size=8", "z_size=16"), "--num-steps", 20, "--no-progress") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "z_size: checkpoint has 8, now 16" in err


def test_evaluate_reports_held_out_metrics_as_json(run, examples, capsys):
    assert midi("evaluate", "--run-dir", run, "--examples-path", examples, "--json", "--no-progress") == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"accuracy", "sampled_accuracy", "r_loss", "kl_bits", "elbo", "n_sequences"} <= set(metrics)
    test_files = [i for i in range(N_FILES) if split_of(f"song{i:02d}.mid") == "test"]
    assert metrics["split"] == "test" and metrics["n_sequences"] == 3 * len(test_files)
    assert 0 <= metrics["sampled_accuracy"] <= 1 and 0 <= metrics["accuracy"] <= 1
    assert metrics["elbo"] < 0 and len(metrics["bar_accuracy"]) == 2
    assert metrics["accuracy"] == pytest.approx(np.mean(metrics["bar_accuracy"]))


def test_hierarchical_model_reports_accuracy_per_bar(tmp_path, examples, capsys):
    run_dir = tmp_path / "hier"
    assert midi("train", "--config", "hierdec-mel_16bar", "--examples-path", examples, "--run-dir", run_dir,
                "--hparams", TINY_HIER, "--num-steps", 2, "--no-progress") == 0
    capsys.readouterr()
    assert midi("evaluate", "--run-dir", run_dir, "--examples-path", examples, "--split", "all", "--json",
                "--no-progress") == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n_sequences"] == 3 * N_FILES
    assert len(metrics["bar_accuracy"]) == len(metrics["bar_sampled_accuracy"]) == 2


def test_sample_writes_midi_piano_rolls_and_audio_repeatably(run, tmp_path):
    for name in ("a", "b"):
        assert midi("sample", "--run-dir", run, "-n", 3, "--output-dir", tmp_path / name, "--seed", 7,
                    "--png", "--wav") == 0
    files = {name: outputs(tmp_path / name) for name in ("a", "b")}
    assert len(files["a"]) == 3 and len(outputs(tmp_path / "a", ".png")) == len(outputs(tmp_path / "a", ".wav")) == 3
    notes = {name: [[(n.pitch, n.start) for n in pretty_midi.PrettyMIDI(str(f)).instruments[0].notes]
                    for f in files[name]] for name in files}
    assert notes["a"] == notes["b"]


def test_interpolate_decodes_from_both_posterior_means_and_between(run, examples, tmp_path, monkeypatch):
    decoded = []
    decode = MusicVAE.decode

    def recording_decode(self, z, length, temperature=1.0):
        decoded.append(z.clone())
        return decode(self, z, length, temperature)

    monkeypatch.setattr(MusicVAE, "decode", recording_decode)
    a, b = examples / "song00.mid", examples / "song05.mid"
    assert midi("interpolate", "--run-dir", run, "--input-midi-1", a, "--input-midi-2", b, "-n", 4,
                "--output-dir", tmp_path) == 0
    assert len(outputs(tmp_path)) == 4
    _, mu, _ = TrainedModel(run).encode([a, b])
    z = decoded[-1]
    assert z.shape == (4, 8) and torch.allclose(z[0], mu[0], atol=1e-6) and torch.allclose(z[-1], mu[1], atol=1e-6)
    assert not torch.allclose(z[1], z[2])


def test_reconstruct_says_which_window_it_uses_and_names_files_without_one(run, examples, tmp_path, capsys):
    assert midi("reconstruct", "--run-dir", run, "--input-midi", examples / "song01.mid", "--output-dir",
                tmp_path, "--png") == 0
    captured = capsys.readouterr()
    assert "song01.mid: 3 2-bar melody windows; using the first" in captured.err
    assert len(outputs(tmp_path)) == len(outputs(tmp_path, ".png")) == 1

    waltz = write_melody(tmp_path / "waltz.mid", [60, 62, 64] * 8, numerator=3, steps_per_note=4)
    assert midi("reconstruct", "--run-dir", run, "--input-midi", waltz, "--output-dir", tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {waltz}: no 2-bar melody window for this model (meter: only 3/4 sections " \
                  "(needs 16 steps per bar))"


def test_attribute_vectors_are_cached_and_recomputed_when_the_examples_change(run, examples, tmp_path, capsys):
    def attribute(folder):
        return midi("attribute", "--run-dir", run, "--examples-path", folder, "--attribute", "note_density",
                    "--amount", 2, "--input-midi", examples / "song02.mid", "--output-dir", tmp_path / "out")

    def cached_key():
        with np.load(run / "attributes.npz") as cached:
            return str(cached["key"]), int(cached["n_windows"])

    assert attribute(examples) == 0
    assert "note_density: 0.344 in" in capsys.readouterr().out  # song02: 11 onsets in its first 32 steps
    key, n_windows = cached_key()
    assert n_windows == 3 * N_FILES
    stamp = (run / "attributes.npz").stat().st_mtime_ns
    assert attribute(examples) == 0
    assert (run / "attributes.npz").stat().st_mtime_ns == stamp  # reused

    more = tmp_path / "more"
    more.mkdir()
    for f in examples.glob("*.mid"):
        (more / f.name).write_bytes(f.read_bytes())
    write_melody(more / "extra.mid", range(60, 92), steps_per_note=1)
    assert attribute(more) == 0
    assert cached_key()[0] != key and cached_key()[1] == 3 * N_FILES + 1  # extra.mid: one 2-bar window
    assert len(outputs(tmp_path / "out")) == 3


def test_attribute_vectors_are_recomputed_for_a_model_retrained_to_the_same_step(examples, tmp_path):
    run_dir = tmp_path / "run"

    def vectors():
        assert midi("attribute", "--run-dir", run_dir, "--examples-path", examples, "--attribute", "note_density",
                    "--input-midi", examples / "song02.mid", "--output-dir", tmp_path / "out") == 0
        with np.load(run_dir / "attributes.npz") as cached:
            return str(cached["key"]), cached["vector/note_density"]

    train_tiny(examples, run_dir)
    key, vector = vectors()
    state = load_checkpoint(run_dir / "checkpoint.pt")  # as if trained again: the same config and step, other weights
    state["model"] = {name: weights + 0.5 * torch.randn_like(weights) if weights.is_floating_point() else weights
                      for name, weights in state["model"].items()}
    save_checkpoint(run_dir / "checkpoint.pt", state)
    new_key, new_vector = vectors()
    assert new_key != key and not np.allclose(new_vector, vector)


def test_train_example_uses_the_bundled_melodies(tmp_path, capsys):
    assert midi("train", "--example", "--run-dir", tmp_path, "--num-steps", 1, "--hparams", TINY,
                "--val-every", 1, "--no-progress") == 0
    out = capsys.readouterr().out
    n = len(find_midi_files(EXAMPLE_DATA))
    assert f"{n} MIDI files read: {n} used" in out and "midi sample --run-dir" in out
    config = load_checkpoint(tmp_path / "checkpoint.pt")["hparams"]["config"]
    assert (config["z_size"], config["data"]["slice_bars"]) == (8, 2)


@pytest.mark.parametrize("argv, message", [
    (["sample", "--run-dir", "{tmp}", "--output-dir", "{tmp}/out"], "{tmp}: no trained model here"),
    (["interpolate", "--run-dir", "{run}", "--input-midi-1", "{tmp}/none.mid", "--input-midi-2", "{tmp}/none.mid",
      "--output-dir", "{tmp}/out"], "{tmp}/none.mid"),
    (["evaluate", "--run-dir", "{run}", "--examples-path", "{tmp}/missing"], "{tmp}/missing: not a folder"),
    (["train", "--run-dir", "{tmp}/new", "--examples-path", "{tmp}"], "name a config"),
    (["train", "--config", "cat-mel_2bar_big", "--run-dir", "{run}", "--examples-path", "{tmp}"],
     "z_size: checkpoint has 8, now 512"),
])
def test_bad_input_gives_one_error_line(run, tmp_path, capsys, argv, message):
    assert midi(*(a.format(tmp=tmp_path, run=run) for a in argv)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message.format(tmp=tmp_path, run=run) in err

