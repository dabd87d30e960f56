"""Command line: parsing and validation, first run, checkpoint errors, resume, and a tiny end-to-end run."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from wavegen.cli import main, parse_args

REPO = Path(__file__).resolve().parents[2]
FLAGS = ["-d", "--datasets-folder-path", "-t", "--traindata-folder-path", "-o", "--output-music-name", "-n",
         "--hidden-layer-neurons", "-l", "--hidden-layer-count", "-e", "--epochs", "-b", "--batch-size", "-s",
         "--seconds-to-generate", "-g", "--generated-music-num", "--preprocess-only", "--example", "--seed",
         "--device", "--checkpoint", "--learning-rate", "--block-size", "--sequence-length", "--stride",
         "--val-fraction", "--workers", "--no-progress"]


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
    assert args.stride == args.sequence_length == 40
    assert parse_args(["-d", "music/", "-t", "cache/"]).datasets_folder_path == Path("music")
    assert parse_args(["-s", "2.5", "--lr", "3e-4"]).seconds_to_generate == 2.5


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
])
def test_bad_values_are_rejected_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_example_defaults_yield_to_explicit_flags():
    args = parse_args(["--example", "-n", "32"])
    assert (args.hidden_layer_neurons, args.hidden_layer_count, args.stride) == (32, 1, 4)
    assert args.checkpoint == Path("checkpoints/example.pt")


def test_help_through_the_script_wrapper_lists_every_flag():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "music-composer.py"), "-h"],
                            capture_output=True, text=True, cwd="/")
    assert result.returncode == 0
    assert [flag for flag in FLAGS if flag not in result.stdout] == []


def test_first_run_creates_the_dataset_folder_and_explains(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    assert (tmp_path / "input_music_dataset").is_dir()
    err = capsys.readouterr().err
    assert err.startswith("error: created the datasets folder input_music_dataset/") and err.count("\n") == 1


def test_epochs_zero_without_checkpoint_is_a_clear_error(tmp_path, dataset, capsys):
    assert main(tiny_run(tmp_path, dataset, "-e", "0")) == 2
    assert "error: -e 0 generates from a saved model, but there is no checkpoint" in capsys.readouterr().err


def test_end_to_end_tiny_run_writes_valid_clips(tmp_path, dataset, capsys):
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-s", "1", "-g", "2")) == 0
    out = capsys.readouterr().out
    assert "2 file(s) used" in out and "epoch 1/1" in out and "val/baseline_mse" in out
    clips = sorted((tmp_path / "out").iterdir())
    assert [c.name for c in clips] == ["clip-0.wav", "clip-1.wav"]
    for clip in clips:
        info = sf.info(str(clip))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (44100, 1, "PCM_16", 44100)
        assert np.isfinite(sf.read(str(clip))[0]).all()
    rows = [json.loads(line) for line in (tmp_path / "model-logs" / "metrics.jsonl").read_text().splitlines()]
    assert {"train/mse", "val/mse", "val/baseline_mse"} <= set(rows[-1])

    # -e 0: no training, new clips from the saved checkpoint
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "-s", "0.3", "-g", "1", "-o", str(tmp_path / "again"))) == 0
    assert "epoch" not in capsys.readouterr().out
    assert sf.info(str(tmp_path / "again-0.wav")).frames == round(0.3 * 44100)


def test_rerun_resumes_from_the_saved_epoch(tmp_path, dataset, capsys):
    assert main(tiny_run(tmp_path, dataset, "-e", "1", "-g", "0")) == 0
    first = torch.load(tmp_path / "model.pt", weights_only=False)
    assert (first["epoch"], first["hparams"]["hidden_layer_neurons"]) == (1, 16)
    assert set(first["extra"]) == {"mean", "std", "preprocessing", "windows"}
    assert first["train_config"]["learning_rate"] == 1e-3 and first["extra"]["preprocessing"]["block_size"] == 11025
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
    assert err.startswith("error: checkpoint") and "hidden_layer_neurons: checkpoint has 16, now 8" in err
    assert main(tiny_run(tmp_path, dataset, "-e", "0", "--block-size", "4410")) == 2
    captured = capsys.readouterr()
    assert "block_size: checkpoint has 11025, now 4410" in captured.err and "preprocessing" not in captured.out
    assert json.loads((tmp_path / "cache" / "manifest.json").read_text())["params"]["block_size"] == 11025


def test_same_seed_same_clips_other_seed_other_clips(tmp_path, dataset):
    def clip(name: str, seed: str) -> bytes:
        run = tiny_run(tmp_path / name, dataset, "-e", "1", "-s", "0.5", "-g", "1", "--seed", seed)
        assert main(run) == 0
        return (tmp_path / name / "out" / "clip-0.wav").read_bytes()

    first = clip("a", "1")
    assert clip("b", "1") == first and clip("c", "2") != first
