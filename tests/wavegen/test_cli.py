"""Command line: parsing and validation, first run, checkpoint errors, resume, and a tiny end-to-end run."""
import json
import os
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint, trained_weights
from wavegen.cli import main, parse_args
from wavegen.example import EXAMPLE_DEFAULTS
from wavegen.pipeline import more_clips_command

REPO = Path(__file__).resolve().parents[2]
FLAGS = ["-d", "--datasets-folder-path", "-t", "--traindata-folder-path", "-o", "--output-music-name", "-n",
         "--hidden-layer-neurons", "-l", "--hidden-layer-count", "-e", "--epochs", "-b", "--batch-size", "-s",
         "--seconds-to-generate", "-g", "--generated-music-num", "--preprocess-only", "--example", "--seed",
         "--device", "--checkpoint", "--learning-rate", "--block-size", "--sequence-length", "--stride",
         "--val-fraction", "--workers", "--no-progress", "--framer", "--features", "--sample-rate", "--frame-size",
         "--hop-size", "--hypotheses", "--keep-gate", "--input-noise", "--generation-noise", "--choice-temperature",
         "--include-seed", "--png", "--evaluate", "--max-time"]


def tiny_run(tmp_path: Path, dataset: Path, *extra: str) -> list[str]:
    """Arguments for a fast run on the test clips with everything written under ``tmp_path``."""
    return ["-d", str(dataset) + "/", "-t", str(tmp_path / "cache"), "--checkpoint", str(tmp_path / "model.pt"),
            "-o", str(tmp_path / "out" / "clip"), "-n", "16", "-l", "1", "--no-progress", "--workers", "1", *extra]


def test_defaults_and_types():
    args = parse_args([])
    assert (args.datasets_folder_path, args.traindata_folder_path, args.output_music_name) == (
        Path("input_music_dataset"), Path("train_data"), "output")
    assert (args.hidden_layer_neurons, args.hidden_layer_count, args.epochs, args.batch_size,
            args.seconds_to_generate, args.generated_music_num) == (1024, 4, 20, 10, 10.0, 10)
    assert args.stride == args.sequence_length == 128
    assert (args.framer, args.features, args.sample_rate, args.frame_size, args.hop_size) == (
        "stft", "logmag", 22050, 2048, 512)
    assert (args.hypotheses, args.keep_gate, args.choice_temperature) == (4, True, 1.0)
    assert args.input_noise is None and args.generation_noise is None  # the model's: by its keep gate
    assert (args.dropout, args.ema_decay, args.keep_best) == (0.2, 0.998, True)
    assert args.max_silence == 0.25 and parse_args(["--max-silence", "OFF"]).max_silence is None
    assert parse_args(["--framer", "blocks"]).sequence_length == 40
    assert parse_args(["-d", "music/", "-t", "cache/"]).datasets_folder_path == Path("music")
    assert parse_args(["-s", "2.5", "--lr", "3e-4"]).seconds_to_generate == 2.5
    assert args.max_time is None and parse_args(["--max-time", "15m"]).max_time == 900


@pytest.mark.parametrize("argv, message", [
    (["-n", "0"], "argument -n/--hidden-layer-neurons: '0' must be a positive integer"),
    (["-l", "two"], "argument -l/--hidden-layer-count: 'two' is not an integer"),
    (["-e", "-1"], "argument -e/--epochs: '-1' must be 0 or more"),
    (["-s", "0"], "argument -s/--seconds-to-generate: '0' must be a positive number"),
    (["-s", "nan"], "argument -s/--seconds-to-generate: 'nan' must be a positive number"),
    (["--lr", "inf"], "argument --learning-rate/--lr: 'inf' must be a positive number"),
    (["--val-fraction", "1"], "argument --val-fraction: '1' must be in [0, 1)"),
    (["--block-size", "1"], "argument --block-size: '1' must be at least 2"),
    (["--device", "gpu"], "argument --device: 'gpu' is not auto, cpu, mps, cuda or cuda:N"),
    (["-o", "clips/"], "argument -o/--output-music-name: 'clips/' must name files"),
    (["-o", "song.flac"], "argument -o/--output-music-name: 'song.flac': the clips are WAV files"),
    (["--seed", "-1"], "argument --seed: '-1' must be in 0 .. 4294967295"),
    (["--seed", "4294967296"], "argument --seed: '4294967296' must be in 0 .. 4294967295"),
    (["--framer", "fft"], "argument --framer: invalid choice: 'fft'"),
    (["--hop-size", "1100"], "--frame-size 2048 must be even and at least twice --hop-size 1100"),
    (["--frame-size", "1023"], "--frame-size 1023 must be even"),
    (["--generation-noise", "-1"], "argument --generation-noise: '-1' must be 0 or more"),
    (["--choice-temperature", "0"], "argument --choice-temperature: '0' must be"),
    (["--ema-decay", "1"], "argument --ema-decay: '1' must be in [0, 1)"),
    (["--dropout", "-0.1"], "argument --dropout: '-0.1' must be in [0, 1)"),
    (["--max-silence", "none"], "argument --max-silence: 'none' is not a number (or off, to keep every silence)"),
    (["--max-time", "15 min"], "argument --max-time: '15 min' is not a positive duration: seconds, or a number "
                               "followed by s, m, h or d (90, 90s, 15m, 1.5h, 2d)"),
])
def test_bad_values_are_rejected_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_the_command_for_more_clips_makes_clips_and_names_only_what_the_checkpoint_does_not_hold():
    words = shlex.split(more_clips_command(parse_args(["-e", "1", "-g", "0", "-n", "64", "--max-silence", "off",
                                                       "-s", "4", "--generation-noise", "0",
                                                       "--choice-temperature", "2", "--png"])))
    assert words[1:] == ["-e", "0", "-s", "4", "--generation-noise", "0", "--choice-temperature", "2", "--png",
                         "--seed", "1", "-o", "output-more"]
    assert parse_args(words[1:]).generated_music_num > 0  # after -g 0, the default count rather than none again
    assert "-g 3" in more_clips_command(parse_args(["-g", "3"]))


def test_example_defaults_yield_to_explicit_flags():
    args = parse_args(["--example", "-n", "32"])
    assert (args.hidden_layer_neurons, args.hidden_layer_count, args.stride) == (32, 1, EXAMPLE_DEFAULTS["stride"])
    assert args.checkpoint == Path("checkpoints/example.pt")


def test_help_through_the_script_wrapper_lists_every_flag():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "music-composer.py"), "-h"],
                            capture_output=True, text=True, cwd="/")
    assert result.returncode == 0
    assert [flag for flag in FLAGS if flag not in result.stdout] == []


def test_first_run_creates_the_dataset_folder_and_explains_as_guidance_not_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    assert (tmp_path / "input_music_dataset").is_dir()
    err = capsys.readouterr().err
    assert err.startswith("created the datasets folder input_music_dataset/") and err.count("\n") == 1


def test_epochs_zero_without_checkpoint_is_a_clear_error(tmp_path, dataset, capsys):
    assert main(tiny_run(tmp_path, dataset, "-e", "0")) == 2
    assert "error: -e 0 generates from a saved model, but there is no checkpoint" in capsys.readouterr().err


def test_end_to_end_tiny_run_writes_valid_clips(tmp_path, dataset, capsys):
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-s", "1", "-g", "2")) == 0
    out = capsys.readouterr().out
    assert "2 file(s) used" in out and "epoch 1/1" in out and "val/baseline_mse" in out
    assert "stft logmag frames" in out and "evaluation against" in out and "frozen spectrum" in out
    evaluation = json.loads((tmp_path / "out" / "clip-evaluation.json").read_text())
    assert evaluation["count"] == 2 and evaluation["clip_seconds"] == pytest.approx(1.0, abs=1e-3)
    clips = sorted((tmp_path / "out").glob("*.wav"))
    assert [c.name for c in clips] == ["clip-0.wav", "clip-1.wav"]
    for clip in clips:
        info = sf.info(str(clip))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (44100, 1, "PCM_16", 44100)
        assert np.isfinite(sf.read(str(clip))[0]).all()
    rows = [json.loads(line) for line in (tmp_path / "model-logs" / "metrics.jsonl").read_text().splitlines()]
    assert {"train/mse", "val/mse", "val/baseline_mse"} <= set(rows[-1])

    # -e 0: no training, new clips from the saved checkpoint; a name ending in .wav gets the index before it
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "-s", "0.3", "-g", "1", "-o", str(tmp_path / "again.wav"))) == 0
    assert "epoch" not in capsys.readouterr().out
    assert sf.info(str(tmp_path / "again-0.wav")).frames == round(0.3 * 44100)
    assert not (tmp_path / "again.wav-0.wav").exists()


def test_rerun_resumes_from_the_saved_epoch(tmp_path, dataset, capsys):
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-g", "0")) == 0
    first = torch.load(tmp_path / "model.pt", weights_only=False)
    assert (first["epoch"], first["hparams"]["hidden_layer_neurons"]) == (1, 16)
    assert set(first["extra"]) == {"mean", "std", "preprocessing", "windows"}
    assert first["train_config"]["learning_rate"] == 1e-3 and first["extra"]["preprocessing"]["frame_size"] == 2048
    capsys.readouterr()
    assert main(tiny_run(tmp_path, dataset, "-e", "2", "-g", "0")) == 0
    out = capsys.readouterr().out
    second = torch.load(tmp_path / "model.pt", weights_only=False)
    assert second["epoch"] == 2 and second["step"] == 2 * first["step"]
    assert "resuming from" in out and "(epoch 1, step" in out and "epoch 1/2" not in out and "epoch 2/2" in out
    np.testing.assert_array_equal(second["extra"]["mean"], first["extra"]["mean"])


def test_checkpoint_with_other_shape_flags_is_refused_before_touching_the_cache(tmp_path, dataset, capsys):
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-g", "0")) == 0
    capsys.readouterr()
    assert main(tiny_run(tmp_path, dataset, "-e", "2", "-g", "0", "-n", "8")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint") and "--hidden-layer-neurons: checkpoint has 16, now 8" in err
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "--hop-size", "256")) == 2
    captured = capsys.readouterr()
    assert "--hop-size: checkpoint has 512, now 256" in captured.err and "preprocessing" not in captured.out
    assert json.loads((tmp_path / "cache" / "manifest.json").read_text())["params"]["hop_size"] == 512
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "--framer", "blocks")) == 2
    assert "--framer: checkpoint has stft, now blocks" in capsys.readouterr().err


def test_a_checkpoint_from_before_hypotheses_is_a_single_prediction_model_without_the_keep_gate(tmp_path, dataset,
                                                                                                 capsys):
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-g", "0", "--hypotheses", "1", "--no-keep-gate")) == 0
    checkpoint = tmp_path / "model.pt"
    state = load_checkpoint(checkpoint)
    del state["hparams"]["hypotheses"], state["hparams"]["keep_gate"]  # as checkpoints were before these flags
    save_checkpoint(checkpoint, state)
    capsys.readouterr()
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "-g", "1", "-s", "0.5", "--hypotheses", "4")) == 2
    assert "--hypotheses: checkpoint has 1, now 4" in capsys.readouterr().err
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "-g", "1", "-s", "0.5", "--keep-gate")) == 2
    assert "--keep-gate: checkpoint has off, now on" in capsys.readouterr().err
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "-g", "1", "-s", "0.5")) == 0  # neither 4 nor the gate


def test_a_keep_gate_model_trains_resumes_and_generates_as_its_checkpoint_says(tmp_path, dataset, capsys):
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-g", "0")) == 0  # the gate is the default
    assert load_checkpoint(tmp_path / "model.pt")["hparams"]["keep_gate"] is True
    assert main(tiny_run(tmp_path, dataset, "-e", "2", "-g", "2", "-s", "0.5")) == 0  # resumed: the checkpoint's gate
    assert all(sf.info(str(tmp_path / "out" / f"clip-{i}.wav")).duration == 0.5 for i in range(2))
    capsys.readouterr()
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "-g", "1", "-s", "0.5", "--no-keep-gate")) == 2
    assert capsys.readouterr().err.count("\n") == 1  # one line: --keep-gate: checkpoint has on, now off
    state = load_checkpoint(tmp_path / "model.pt")
    for weights in (state["model"], state["ema"], state["best"]["weights"]):  # as a gate per hypothesis was stored
        weights["keep.weight"] = weights["keep.weight"].repeat(4, 1)
        weights["keep.bias"] = weights["keep.bias"].repeat(4)
    save_checkpoint(tmp_path / "model.pt", state)
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "-g", "1", "-s", "0.5")) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "has a keep gate per hypothesis" in error and "train it afresh" in error


def test_clips_come_from_the_weights_of_the_lowest_validation_loss_unless_told_otherwise(tmp_path, dataset):
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-g", "0")) == 0
    first_epoch = trained_weights(load_checkpoint(tmp_path / "model.pt"))
    assert main(tiny_run(tmp_path, dataset, "-e", "3", "-g", "0")) == 0
    rows = [json.loads(line) for line in (tmp_path / "model-logs" / "metrics.jsonl").read_text().splitlines()]
    losses = [row["val/loss"] for row in rows if "val/loss" in row]
    state = load_checkpoint(tmp_path / "model.pt")
    best = state["best"]
    assert best["metrics"]["val/loss"] == min(losses) and best["epoch"] == 1 + losses.index(min(losses))

    def clip(*flags: str) -> bytes:
        assert main(tiny_run(tmp_path, dataset, "-e", "0", "-g", "1", "-s", "0.5", *flags)) == 0
        return (tmp_path / "out" / "clip-0.wav").read_bytes()

    state["best"] = {**best, "weights": first_epoch, "epoch": 1}  # as if the first epoch had been the best
    save_checkpoint(tmp_path / "model.pt", state)
    kept, last = clip(), clip("--no-keep-best")
    assert kept != last
    del state["best"]
    save_checkpoint(tmp_path / "model.pt", state)
    assert clip() == last  # --no-keep-best: the weights of a checkpoint that kept none
    assert main(tiny_run(tmp_path / "plain", dataset, "-e", "2", "-g", "0", "--no-keep-best")) == 0
    assert "best" not in load_checkpoint(tmp_path / "plain" / "model.pt")


def test_a_model_with_hypotheses_trains_logs_its_winners_and_generates(tmp_path, dataset):
    assert main(tiny_run(tmp_path, dataset, "-e", "2", "-g", "2", "-s", "0.5", "--hypotheses", "3")) == 0
    rows = [json.loads(line) for line in (tmp_path / "model-logs" / "metrics.jsonl").read_text().splitlines()]
    last = [row for row in rows if "val/mse" in row][-1]
    assert last["val/best_mse"] > 0 and last["val/choice_ce"] > 0
    assert all(sf.info(str(tmp_path / "out" / f"clip-{i}.wav")).duration == 0.5 for i in range(2))


def test_same_seed_same_clips_other_seed_other_clips(tmp_path, dataset):
    def clip(name: str, seed: str) -> bytes:
        run = tiny_run(tmp_path / name, dataset, "-e", "1", "-s", "0.5", "-g", "1", "--seed", seed)
        assert main(run) == 0
        return (tmp_path / name / "out" / "clip-0.wav").read_bytes()

    first = clip("a", "1")
    assert clip("b", "1") == first and clip("c", "2") != first


def test_epochs_zero_gives_the_clips_training_time_generation_gave(tmp_path, dataset):
    windows = ["--sequence-length", "6", "--stride", "3"]  # -e 0 takes them from the checkpoint, not the flags
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-s", "0.5", "-g", "3", "--seed", "5", *windows)) == 0
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "-s", "0.5", "-g", "3", "--seed", "5",
                         "-o", str(tmp_path / "again" / "clip"))) == 0
    for i in range(3):
        assert (tmp_path / "again" / f"clip-{i}.wav").read_bytes() == (tmp_path / "out" / f"clip-{i}.wav").read_bytes()


def test_as_many_clips_as_training_windows_are_all_distinct(tmp_path, dataset, capsys):
    # 18 frames per file, 16 of them for training: windows of 4 frames every 2 give 6 per file, 12 in all
    run = tiny_run(tmp_path, dataset, "-e", "1", "-s", "0.5", "-g", "12", "--sequence-length", "4", "--stride", "2",
                   "--framer", "blocks")
    assert main(run) == 0
    assert "training on 12 window(s) of 4 frame(s)" in capsys.readouterr().out
    clips = {(tmp_path / "out" / f"clip-{i}.wav").read_bytes() for i in range(12)}
    assert len(clips) == 12


def test_validation_summary_says_how_many_files_gave_a_tail(tmp_path, dataset, capsys):
    sf.write(dataset / "short.wav", np.zeros(int(2.5 * 44100)), 44100)  # 10 frames: a 10 % tail of 1 frame is unused
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-g", "0", "--framer", "blocks")) == 0
    out = capsys.readouterr().out
    assert "validating on 2 window(s) of 1 frame(s), the last 10% of 2 of 3 files (1 too short to split)" in out


def test_example_prints_its_checkpoint_and_a_command_that_generates_more(tmp_path):
    work = tmp_path / "a folder"
    work.mkdir()
    script = [sys.executable, str(REPO / "scripts" / "music-composer.py")]
    first = subprocess.run([*script, "--example", "-e", "1", "-s", "0.5", "-g", "1", "--no-progress", "--workers", "1",
                            "-d", "my music"], cwd=work, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    line = next(line for line in first.stdout.splitlines() if "more clips from it" in line)
    assert line.startswith("the model is saved in checkpoints/example.pt; ")
    command = shlex.split(line.split("without training: ", 1)[1])
    assert command[:2] == script and "my music" in command  # the path with a space is quoted
    more = subprocess.run(command, cwd=work, capture_output=True, text=True)
    assert more.returncode == 0, more.stderr
    assert "epoch" not in more.stdout and "Traceback" not in more.stderr
    assert sf.info(str(work / "output-more-0.wav")).frames == round(0.5 * 44100)
    assert (work / "output-0.wav").read_bytes() != (work / "output-more-0.wav").read_bytes()  # the next seed


def test_a_run_on_a_checkpoint_in_use_stops_or_with_wait_waits(tmp_path, dataset, capsys, monkeypatch):
    from engine import lock as locks
    from engine.trainer import TrainConfig
    lock = TrainConfig(checkpoint_path=str(tmp_path / "model.pt")).lock_path
    with locks.exclusive_lock(lock, "the test's hold"):
        assert main(tiny_run(tmp_path, dataset, "-e", "1", "-g", "0")) == 2
        assert f"is in use by process {os.getpid()}; wait for it to finish, or pass --wait" in capsys.readouterr().err
    held = locks.exclusive_lock(lock, "the test's hold")
    held.__enter__()
    releases = []
    holder = locks._holder

    def release_once_the_run_waits(fd: int) -> str:  # the run asks who holds the lock just before it waits
        releases.append(threading.Timer(0.2, held.__exit__, (None, None, None)))
        releases[-1].start()
        return holder(fd)
    monkeypatch.setattr(locks, "_holder", release_once_the_run_waits)
    try:
        assert main(tiny_run(tmp_path, dataset, "-e", "1", "-g", "0", "--wait")) == 0
    finally:
        for release in releases:
            release.join()
        if not releases:
            held.__exit__(None, None, None)
    assert len(releases) == 1 and f"waiting for process {os.getpid()}" in capsys.readouterr().err


def test_ctrl_c_saves_the_steps_so_far_and_says_so_in_one_line(tmp_path, dataset, capsys, monkeypatch):
    from wavegen.model import WaveLSTM
    train_step = WaveLSTM.training_loss

    def interrupted_at_step_3(self, batch, step):
        if step == 3 and self.training:
            raise KeyboardInterrupt
        return train_step(self, batch, step)

    monkeypatch.setattr(WaveLSTM, "training_loss", interrupted_at_step_3)
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-b", "2", "--sequence-length", "4", "--stride", "1")) == 130
    assert capsys.readouterr().err == ("interrupted: the checkpoint holds the training done so far and the cache is "
                                       "intact; run the same command again to resume\n")
    assert torch.load(tmp_path / "model.pt", weights_only=False)["step"] == 3


def test_max_time_stops_training_with_a_checkpoint_generates_and_the_rerun_resumes(tmp_path, dataset, capsys,
                                                                                   monkeypatch):
    from engine.trainer import Trainer
    monkeypatch.setattr(Trainer, "clock", lambda trainer: 10.0 * trainer.step)  # 10 s a step
    run = tiny_run(tmp_path, dataset, "-e", "1", "-b", "2", "--sequence-length", "4", "--stride", "1", "-s", "0.3",
                   "-g", "1", "--max-time", "25s")
    assert main(run) == 0
    out = capsys.readouterr().out
    assert "stopped at the time budget (--max-time 25 s) at step 3 of " in out and "the same command resumes" in out
    assert (tmp_path / "out" / "clip-0.wav").is_file() and (tmp_path / "out" / "clip-evaluation.json").is_file()
    state = torch.load(tmp_path / "model.pt", weights_only=False)
    assert (state["epoch"], state["step"], state["train_config"]["max_time"]) == (0, 3, 25.0)
    assert main(run) == 0
    assert "resuming from" in capsys.readouterr().out
    assert torch.load(tmp_path / "model.pt", weights_only=False)["step"] == 6


def test_include_seed_png_and_evaluate_on_existing_clips(tmp_path, dataset, capsys):
    run = tiny_run(tmp_path, dataset, "-e", "1", "-s", "0.5", "-g", "2", "--sequence-length", "21")
    assert main([*run, "--include-seed", "--png", "--generation-noise", "0.5"]) == 0
    seed_samples = round(22 * 512 * 44100 / 22050)  # a window of 21 + 1 frames, 512 samples apart at 22.05 kHz
    for i in range(2):
        assert sf.info(str(tmp_path / "out" / f"clip-{i}.wav")).frames == seed_samples + round(0.5 * 44100)
        assert (tmp_path / "out" / f"clip-{i}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = json.loads((tmp_path / "out" / "clip-evaluation.json").read_text())
    assert first["clip_seconds"] == pytest.approx(0.5, abs=1e-3)  # the continuation only, without the seed
    capsys.readouterr()
    assert main([*run, "--evaluate"]) == 0
    out = capsys.readouterr().out
    assert "scoring 2 clip(s)" in out and "real music" in out and "epoch" not in out
    assert json.loads((tmp_path / "out" / "clip-evaluation.json").read_text())["clip_seconds"] > 1.0  # the files
    assert main([*run, "--evaluate", "-o", str(tmp_path / "none")]) == 2
    assert "--evaluate: no clips" in capsys.readouterr().err
    (tmp_path / "out" / "clip-1.wav").write_text("not audio")
    assert main([*run, "--evaluate"]) == 2
    assert capsys.readouterr().err == (f"error: --evaluate: {tmp_path / 'out' / 'clip-1.wav'}: not readable as audio "
                                       "(Format not recognised.)\n")


def test_the_blocks_framer_still_runs_end_to_end(tmp_path, dataset, capsys):
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-s", "0.6", "-g", "1", "--framer", "blocks")) == 0
    assert "disjoint rfft blocks of 11025 samples" in capsys.readouterr().out
    assert sf.info(str(tmp_path / "out" / "clip-0.wav")).frames == round(0.6 * 44100)


def test_every_file_a_run_writes_beside_its_clips_is_ignored_by_git(tmp_path, dataset):
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-s", "0.3", "-g", "1", "--png",
                         "-o", str(tmp_path / "out" / "output"))) == 0
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "-s", "0.3", "--png",
                         "-o", str(tmp_path / "out" / "output-more"))) == 0
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert {"output-0.png", "output-evaluation.json", "output-more-0.png"} <= set(written)
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "--no-index", *written], capture_output=True,
                             text=True).stdout.split()
    assert ignored == written  # with the default -o output they land in the repository's root
