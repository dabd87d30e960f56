"""A run on an existing checkpoint: its settings (the model, framing, split, windows) are used unless a flag given
contradicts them, for generation, resuming and evaluation alike; checkpoints that are not the audio model's; Ctrl-C
in the middle of an epoch."""
import json
from pathlib import Path

import pytest
import soundfile as sf
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from wavegen.cli import main
from wavegen.framer import FrameSpec
from wavegen.preprocess import FORMAT_VERSION
from wavegen.train import model_hparams


def paths(tmp_path: Path, dataset: Path, *extra: str) -> list[str]:
    """A quiet run with everything under ``tmp_path`` and no model flags: those come from the checkpoint."""
    return ["-d", str(dataset), "-t", str(tmp_path / "cache"), "--checkpoint", str(tmp_path / "model.pt"),
            "-o", str(tmp_path / "out" / "clip"), "--no-progress", "--workers", "1", *extra]


def cache_params(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "cache" / "manifest.json").read_text())["params"]


# Non-default settings of every kind the checkpoint records.
SETTINGS = ["-n", "16", "-l", "1", "--hypotheses", "2", "--framer", "blocks", "--block-size", "5513",
            "--max-silence", "off", "--val-fraction", "0.2", "--sequence-length", "6", "--stride", "3"]


@pytest.fixture
def trained(tmp_path: Path, dataset: Path) -> list[str]:
    """One epoch of a small model with SETTINGS; returns the paths of the run."""
    run = paths(tmp_path, dataset)
    assert main([*run, "-e", "1", "-g", "0", *SETTINGS]) == 0
    return run


def test_generating_and_resuming_take_the_model_and_its_settings_from_the_checkpoint(tmp_path, trained, capsys):
    capsys.readouterr()
    assert main([*trained, "-e", "0", "-g", "1", "-s", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "(2 reused, 0 processed" in out  # the cache of the checkpoint's framing and silences, not rebuilt
    assert sf.info(str(tmp_path / "out" / "clip-0.wav")).frames == round(0.3 * 44100)
    assert main([*trained, "-e", "2", "-g", "0"]) == 0
    assert "resuming from" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "model.pt")
    assert state["epoch"] == 2 and state["hparams"]["hidden_layer_neurons"] == 16
    assert state["extra"]["windows"] == {"sequence_length": 6, "stride": 3, "val_fraction": 0.2}
    assert cache_params(tmp_path)["max_silence"] is None


@pytest.mark.parametrize("flags, difference", [
    (["--val-fraction", "0.1"], "--val-fraction: checkpoint has 0.2, now 0.1"),
    (["--max-silence", "0.25"], "--max-silence: checkpoint has off, now 0.25"),
    (["-n", "8"], "--hidden-layer-neurons: checkpoint has 16, now 8"),
    (["--framer", "stft"], "--framer: checkpoint has blocks, now stft"),
])
def test_resuming_refuses_a_flag_given_that_changes_the_split_or_the_shape_before_preprocessing(
        tmp_path, trained, capsys, flags, difference):
    capsys.readouterr()
    assert main([*trained, "-e", "2", "-g", "0", *SETTINGS, *flags]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: checkpoint {tmp_path / 'model.pt'} was made with other settings")
    assert difference in captured.err and "another --checkpoint" in captured.err and captured.err.count("\n") == 1
    assert "preprocessing" not in captured.out and cache_params(tmp_path)["max_silence"] is None
    assert load_checkpoint(tmp_path / "model.pt")["epoch"] == 1


def test_resuming_with_other_windows_goes_on_and_says_so(tmp_path, trained, capsys):
    capsys.readouterr()
    assert main([*trained, "-e", "2", "-g", "0", *SETTINGS, "--sequence-length", "8"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "--sequence-length" in line]
    assert notes == ["note: resuming with --sequence-length 8 (the checkpoint's 6): other windows over the same "
                     "training and validation music"]
    assert load_checkpoint(tmp_path / "model.pt")["extra"]["windows"]["sequence_length"] == 8


def test_generating_refuses_a_flag_given_that_contradicts_the_checkpoint(tmp_path, trained, capsys):
    capsys.readouterr()
    assert main([*trained, "-e", "0", "-g", "1", "-s", "0.3", "--stride", "2", "-l", "2"]) == 2
    err = capsys.readouterr().err
    assert "--hidden-layer-count: checkpoint has 1, now 2; --stride: checkpoint has 3, now 2" in err
    assert err.endswith("leave these flags out to use the checkpoint's\n")
    assert not (tmp_path / "out").exists()


def test_a_midi_checkpoint_or_run_folder_is_named_as_one(tmp_path, dataset, capsys):
    run_dir = tmp_path / "runs" / "mel"
    save_checkpoint(run_dir / "checkpoint.pt", {"hparams": {"config_name": "cat-mel_2bar_small", "family": "musicvae",
                                                            "config": {}}})
    for checkpoint in (run_dir / "checkpoint.pt", run_dir):
        assert main([*paths(tmp_path, dataset), "-e", "0", "--checkpoint", str(checkpoint)]) == 2
        assert capsys.readouterr().err == (f"error: --checkpoint {checkpoint} is a MIDI model's checkpoint: use "
                                           f"`music-composer midi sample --run-dir {run_dir}`\n")


def test_a_checkpoint_of_no_audio_model_or_of_another_cache_format_is_refused_in_one_line(tmp_path, dataset, capsys):
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, {"hparams": {}, "extra": {}})
    assert main([*paths(tmp_path, dataset), "-e", "0"]) == 2
    assert capsys.readouterr().err == (f"error: --checkpoint {checkpoint} holds no audio model of music-composer; "
                                       "point it at one, or at a new file to train one\n")
    save_checkpoint(checkpoint, {"hparams": model_hparams(FrameSpec(), 16, 1), "extra": {
        "preprocessing": {"format": FORMAT_VERSION - 1}, "windows": {}}})
    assert main([*paths(tmp_path, dataset), "-e", "0"]) == 2
    assert capsys.readouterr().err == (f"error: checkpoint {checkpoint} was trained on frames of cache format "
                                       f"{FORMAT_VERSION - 1}, this version makes format {FORMAT_VERSION}; start "
                                       f"afresh with another --checkpoint, or delete {checkpoint}\n")


def test_evaluate_holds_out_the_music_the_checkpoints_training_held_out(trained, capsys, monkeypatch):
    from wavegen.evaluate import Music
    assert main([*trained, "-e", "0", "-g", "1", "-s", "0.3"]) == 0
    load = Music.load.__func__
    held_out = []

    def recorded_load(cls, files, val_fraction, max_silence):
        held_out.append((val_fraction, max_silence))
        return load(cls, files, val_fraction, max_silence)

    monkeypatch.setattr(Music, "load", classmethod(recorded_load))
    capsys.readouterr()
    assert main([*trained, "--evaluate"]) == 0
    assert held_out == [(0.2, None)] and "against the last 20% of every file" in capsys.readouterr().out
    assert main([*trained, "--evaluate", "--max-silence", "0.25"]) == 2
    assert "--max-silence: checkpoint has off, now 0.25" in capsys.readouterr().err


def test_ctrl_c_in_the_middle_of_an_epoch_saves_its_steps_and_the_rerun_resumes_there(tmp_path, dataset, capsys,
                                                                                      monkeypatch):
    from wavegen.model import WaveLSTM
    run = [*paths(tmp_path, dataset), "-n", "16", "-l", "1", "-g", "0", "-b", "2", "--sequence-length", "4",
           "--stride", "2"]
    assert main([*run, "-e", "1"]) == 0
    per_epoch = load_checkpoint(tmp_path / "model.pt")["step"]
    train_step = WaveLSTM.training_loss

    def interrupted_in_epoch_2(self, batch, step):
        if step == per_epoch + 3 and self.training:
            raise KeyboardInterrupt
        return train_step(self, batch, step)

    monkeypatch.setattr(WaveLSTM, "training_loss", interrupted_in_epoch_2)
    capsys.readouterr()
    assert main([*run, "-e", "2"]) == 130
    assert capsys.readouterr().err.startswith("interrupted: the checkpoint holds the training done so far")
    state = torch.load(tmp_path / "model.pt", weights_only=False)
    assert (state["epoch"], state["step"], state["examples_in_epoch"]) == (1, per_epoch + 3, 6)
    monkeypatch.setattr(WaveLSTM, "training_loss", train_step)
    assert main([*run, "-e", "2"]) == 0
    assert f"(epoch 1, step {per_epoch + 3})" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "model.pt")
    assert (state["epoch"], state["step"], state["examples_in_epoch"]) == (2, 2 * per_epoch, 0)


def test_the_memory_generation_needs_is_that_of_the_checkpoints_model(trained, capsys, monkeypatch):
    from wavegen import preflight
    needed = preflight.generation_bytes(1, 0.3, FrameSpec.blocks(5513), 16)
    monkeypatch.setattr(preflight, "memory_limit", lambda: needed)  # far less than the default model would need
    assert main([*trained, "-e", "0", "-g", "1", "-s", "0.3"]) == 0
    assert main([*trained, "-e", "0", "-g", "2", "-s", "0.3"]) == 2
    assert "2 clip(s) of 0.3 s need about" in capsys.readouterr().err
