"""The `music-composer midi` command line: one line and exit 130 on Ctrl-C, output folders checked before any work,
values checked when parsed, every default in -h, a pasteable next command, many samples, resuming with other
training settings, --wait, and `midi prepare` without torch."""
import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from engine.checkpoint import load_checkpoint
from engine.lock import exclusive_lock
from engine.trainer import TrainConfig, Trainer
from symbolic import cli, train
from symbolic.studies import compare as compare_module
from symbolic.data import prepare as prepare_module
from symbolic.models.music_vae import MusicVAE
from symbolic.trained_model import TrainedModel
from tests.symbolic.test_music_vae_commands import TINY, examples, midi, run  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[2]


def train_args(examples, run_dir, *extra):
    return ["train", "--config", "cat-mel_2bar_small", "--examples-path", examples, "--run-dir", run_dir,
            "--hparams", TINY, "--no-progress", *extra]


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("command", ["train", "prepare", "sample", "evaluate"])
def test_ctrl_c_prints_one_line_and_exits_130(command, run, examples, tmp_path, monkeypatch, capsys):
    argv, (owner, name) = {
        "train": (train_args(examples, tmp_path / "new", "--num-steps", 5), (MusicVAE, "training_loss")),
        "prepare": (["prepare", "--converter", "melody", "--input", examples, "--output", tmp_path / "prepared",
                     "--no-progress"], (prepare_module, "prepare")),
        "sample": (["sample", "--run-dir", run, "--output-dir", tmp_path / "out"], (MusicVAE, "decode")),
        "evaluate": (["evaluate", "--run-dir", run, "--examples-path", examples, "--no-progress"],
                     (MusicVAE, "evaluate")),
    }[command]
    monkeypatch.setattr(owner, name, interrupt)
    assert midi(*argv) == 130
    captured = capsys.readouterr()
    assert captured.err.splitlines()[-1] == cli.INTERRUPTED and "Traceback" not in captured.err + captured.out


def deny_writes(monkeypatch, folder: Path) -> None:
    """Make ``folder`` read-only as os.access sees it (tests run as root, where chmod does not stop writes)."""
    access = os.access

    def checking_access(path, mode, *args, **kwargs):
        if Path(path) == folder and mode & os.W_OK:
            return False
        return access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", checking_access)


def test_prepare_output_must_be_a_folder_it_can_create(examples, tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    source = ["prepare", "--converter", "melody", "--input", examples, "--no-progress", "--output"]
    assert midi(*source, a_file) == 2
    assert capsys.readouterr().err == f"error: --output {a_file} is a file, not a folder; give a folder\n"
    assert midi(*source, a_file / "prepared") == 2
    assert capsys.readouterr().err == f"error: cannot write --output {a_file / 'prepared'}: {a_file} is not a folder\n"


def test_read_only_folders_are_refused_before_any_work(run, examples, tmp_path, monkeypatch, capsys):
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    deny_writes(monkeypatch, read_only)
    assert midi(*train_args(examples, read_only / "run", "--num-steps", 1)) == 2
    assert capsys.readouterr().err == \
        f"error: cannot write --run-dir {read_only / 'run'}: {read_only} is not writable\n"
    assert not (read_only / "run").exists()  # nothing prepared, nothing trained
    monkeypatch.setattr(TrainedModel, "__init__", interrupt)  # the model is not even loaded
    assert midi("sample", "--run-dir", run, "--output-dir", read_only) == 2
    assert capsys.readouterr().err == f"error: cannot write --output-dir {read_only}: {read_only} is not writable\n"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert midi("reconstruct", "--run-dir", run, "--input-midi", examples / "song00.mid", "--output-dir",
                a_file / "out") == 2
    assert capsys.readouterr().err == f"error: cannot write --output-dir {a_file / 'out'}: {a_file} is not a folder\n"


ATTRIBUTE = ["attribute", "--run-dir", "{tmp}/run", "--examples-path", "{tmp}/ex", "--attribute", "note_density",
             "--input-midi", "{tmp}/a.mid", "--output-dir", "{tmp}/out"]
SAMPLE = ["sample", "--run-dir", "{tmp}/run", "--output-dir", "{tmp}/out"]
EVALUATE = ["evaluate", "--run-dir", "{tmp}/run", "--examples-path", "{tmp}/ex"]
TRAIN = ["train", "--example", "--run-dir", "{tmp}/run"]


@pytest.mark.parametrize("argv, message", [
    (ATTRIBUTE + ["--amount", "nan"], "argument --amount: 'nan' must be a finite number"),
    (ATTRIBUTE + ["--amount=-inf"], "'-inf' must be a finite number"),
    (ATTRIBUTE + ["--amount", "lots"], "'lots' is not a number"),
    (SAMPLE + ["--temperature", "nan"], "'nan' must be a finite number >= 0"),
    (SAMPLE + ["--temperature", "-1"], "'-1' must be a finite number >= 0"),
    (EVALUATE + ["--temperature", "inf"], "'inf' must be a finite number >= 0"),
    (SAMPLE + ["-n", "0"], "'0' must be from 1 to 10000"),
    (SAMPLE + ["-n", "100000"], "'100000' must be from 1 to 10000 (for more, run the command again with another "
                                "--output-dir)"),
    (["interpolate", "--run-dir", "{tmp}/run", "--output-dir", "{tmp}/out", "--input-midi-1", "{tmp}/a.mid",
      "--input-midi-2", "{tmp}/b.mid", "-n", "1"], "'1' must be from 2 (the endpoints)"),
    (TRAIN + ["--num-steps", "0"], "argument --num-steps: '0' must be a positive integer"),
    (TRAIN + ["--val-every", "0"], "argument --val-every: '0' must be a positive integer"),
    (TRAIN + ["--checkpoint-every=-5"], "'-5' must be a positive integer"),
    (TRAIN + ["--workers", "0"], "argument --workers: '0' must be a positive integer"),
    (EVALUATE + ["--batch-size", "0"], "argument --batch-size: '0' must be a positive integer"),
    (["prepare", "--converter", "melody", "--input", "{tmp}/ex", "--output", "{tmp}/out", "--workers", "0"],
     "argument --workers: '0' must be a positive integer"),
    (SAMPLE + ["--device", "tpu"], "'tpu' is not auto, cpu, mps, cuda or cuda:N"),
    (TRAIN + ["--device", "cuda:x"], "'cuda:x' is not auto, cpu, mps, cuda or cuda:N"),
    (TRAIN + ["--max-time", "0"], "argument --max-time: '0' is not a positive duration: seconds, or a number "
                                  "followed by s, m, h or d (90, 90s, 15m, 1.5h, 2d)"),
    (["compare", "--configs", "lm-note", "--examples-path", "{tmp}/ex", "--num-steps", "3", "--run-dir", "{tmp}/run",
      "--max-time", "15min"], "argument --max-time: '15min' is not a positive duration"),
])
def test_bad_values_are_refused_when_parsed(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main([a.format(tmp=tmp_path) for a in argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err.splitlines()[-1] and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # parsing failed before anything was touched


def test_devices_accepted_when_parsed():
    parser = cli.build_parser()
    for device in ("auto", "cpu", "mps", "cuda", "cuda:1"):
        assert parser.parse_args(["sample", "--run-dir", "r", "--output-dir", "o", "--device", device]).device == device


def test_every_help_shows_every_default():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) >= {"prepare", "train", "evaluate", "sample", "interpolate", "reconstruct", "attribute",
                             "compare", "latent-map"}
    for name, command in commands.items():
        text = " ".join(command.format_help().split())
        alternatives = {action for group in command._mutually_exclusive_groups if group.required
                        for action in group._group_actions}
        for action in command._actions:
            if action.option_strings and action.nargs != 0 and not action.required and action not in alternatives:
                shown = command._get_formatter()._get_help_string(action) or ""
                assert "(default: " in shown, f"midi {name} {action.option_strings[-1]}: {shown}"
        if any(action.dest == "device" for action in command._actions):
            assert "cpu, mps, cuda or cuda:N (default: auto)" in text, name
    train_help = " ".join(commands["train"].format_help().split())
    assert "steps between validations (default: 1000)" in train_help
    assert "--seed SEED seed of the initial weights and the training order (default: 0)" in train_help


def test_the_next_command_is_shell_quoted(examples, tmp_path, capsys):
    run_dir = tmp_path / "my run's dir"
    assert midi(*train_args(examples, run_dir, "--num-steps", 1)) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "listen to it with: " in line)
    argv = shlex.split(line.split("listen to it with: ")[1])
    assert argv[:3] == ["music-composer", "midi", "sample"] and argv[argv.index("--run-dir") + 1] == str(run_dir)


def test_many_samples_get_a_progress_bar_and_a_summary_few_get_their_paths(run, tmp_path, capsys):
    assert midi("sample", "--run-dir", run, "-n", 20, "--output-dir", tmp_path / "many", "--seed", 1) == 0
    captured = capsys.readouterr()
    assert captured.out == f"20 MIDI files written to {tmp_path / 'many'}\n"
    assert "writing" in captured.err and "20/20" in captured.err
    assert len(list((tmp_path / "many").glob("*.mid"))) == 20

    assert midi("sample", "--run-dir", run, "-n", 2, "--output-dir", tmp_path / "few", "--png") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"2 MIDI files, 2 piano rolls (.png) written to {tmp_path / 'few'}"
    assert sorted(Path(p).name for p in lines[:-1]) == sorted(p.name for p in (tmp_path / "few").iterdir())


def test_samples_are_decoded_in_batches(run, monkeypatch):
    sizes = []
    decode = MusicVAE.decode

    def recording_decode(self, z, length, temperature=1.0):
        sizes.append(len(z))
        return decode(self, z, length, temperature)

    monkeypatch.setattr(MusicVAE, "decode", recording_decode)
    batches = TrainedModel(run).sample_batches(20, batch_size=8)
    assert sizes == []  # nothing is decoded before it is asked for
    assert [len(batch) for batch in batches] == [8, 8, 4] and sizes == [8, 8, 4]


@pytest.mark.parametrize("with_config", [False, True])
def test_resuming_with_another_batch_size_or_learning_rate_says_so(with_config, examples, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert midi(*train_args(examples, run_dir, "--num-steps", 2)) == 0
    capsys.readouterr()
    resume = train_args(examples, run_dir, "--num-steps", 3)
    resume[resume.index(TINY)] = f"{TINY},batch_size=4,learning_rate=2e-3"
    if not with_config:
        del resume[1:3]  # the config comes from the checkpoint
    assert midi(*resume) == 0
    out = capsys.readouterr().out
    assert "batch size changed from 8 to 4" in out and "learning rate changed from 0.001 to 0.002" in out
    state = load_checkpoint(run_dir / "checkpoint.pt")
    assert (state["train_config"]["batch_size"], state["train_config"]["learning_rate"]) == (4, 2e-3)
    assert state["hparams"]["config"]["batch_size"] == 4


def test_a_short_run_validates_and_shows_its_step_total(examples, tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = train_args(examples, run_dir, "--num-steps", 3)
    args.remove("--no-progress")
    assert midi(*args) == 0  # --val-every keeps its default of 1000
    assert "3/3" in capsys.readouterr().err
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "val/accuracy" in row] == [3]


def test_wait_reaches_the_trainer_and_a_busy_run_fails_without_it(examples, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with exclusive_lock(TrainConfig(run_dir=str(run_dir)).lock_path, "the test's hold on the run"):
        assert midi(*train_args(examples, run_dir, "--num-steps", 1)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and f"is in use by process {os.getpid()}" in err

    waits = []

    def recording_run_training(trainer):
        waits.append(trainer.config.wait)
        trainer.close()
        return []

    monkeypatch.setattr(train, "run_training", recording_run_training)
    assert midi(*train_args(examples, run_dir, "--num-steps", 1, "--wait")) == 0
    assert midi(*train_args(examples, run_dir, "--num-steps", 1)) == 0
    assert waits == [True, False]


def test_max_time_stops_midi_train_with_a_checkpoint_and_the_same_command_resumes(examples, tmp_path, monkeypatch,
                                                                                   capsys):
    monkeypatch.setattr(Trainer, "clock", lambda trainer: 10.0 * trainer.step)  # 10 s a step
    args = train_args(examples, tmp_path / "run", "--num-steps", 6, "--max-time", "25s")
    assert midi(*args) == 0
    out = capsys.readouterr().out
    assert "stopped at the time budget (--max-time 25 s) at step 3 of 6; the same command resumes" in out
    assert "listen to it with" in out
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert (state["step"], state["train_config"]["max_time"]) == (3, 25.0)
    assert midi(*args) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out and "validation at step 6:" in out and "stopped" not in out
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 6


def test_max_time_reaches_every_training_of_compare(examples, tmp_path, monkeypatch):
    budgets = []

    def recording_train(*args, max_time=None, **kwargs):
        budgets.append(max_time)
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_module, "train", recording_train)
    assert midi("compare", "--configs", "lm-note", "--examples-path", examples, "--num-steps", 3, "--run-dir",
                tmp_path, "--max-time", "1.5h", "--no-progress") == 130
    assert budgets == [5400.0]


def test_prepare_and_its_help_do_not_import_torch(examples, tmp_path):
    argv = ["prepare", "--converter", "melody", "--input", str(examples), "--output", str(tmp_path / "out"),
            "--workers", "1", "--no-progress"]
    code = (f"import sys; from symbolic.cli import build_parser, main; assert main({argv!r}) == 0; "
            "build_parser().format_help(); assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr


def test_the_compare_table_names_the_step_a_time_budget_stopped_a_row_at():
    group = compare_module.Group(converter={"kind": "notes"}, family="note_model", metric="cross_entropy",
                                 unit="nats per note", n_test_windows=4, baselines={}, data_features={},
                                 units={"cross_entropy": "nats per note"}, prepared="p")
    rows = [{"name": name, "config": "lm-note", "group": 0, "step": step, "metrics": {"cross_entropy": 2.0},
             "sample_features": {}} for name, step in (("untrained", 0), ("lm-note", 2), ("vae-note", 3))]
    table = compare_module.Comparison(3, 4, ["a.mid"], [group], rows).table()
    assert "lm-note (step 2)" in table and "untrained lm-note" in table
    assert "vae-note " in table and "vae-note (step" not in table
