"""`music-composer`: the audio help and errors name every MIDI command, help and argument errors load no model, and
every command that trains or generates takes --threads."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import engine.threads
import music_composer
from engine.errors import UserError
from symbolic.cli import command_summaries


def test_top_level_help_names_every_midi_command_the_midi_parser_has(capsys):
    commands = command_summaries()
    assert {"compare", "latent-map", "variations", "train", "sample"} <= set(commands)
    with pytest.raises(SystemExit):
        music_composer.main(["-h"])
    help_text = capsys.readouterr().out
    for name, text in commands.items():
        assert f"  {name}" in help_text and text in help_text


HEAVY = ("torch", "pretty_midi", "symusic", "matplotlib", "symbolic.models", "symbolic.trained_model")


@pytest.mark.parametrize("argv", [["-h"], ["midi", "-h"], ["midi", "sample", "-h"], ["midi", "sample", "-n", "0"]])
def test_help_and_argument_errors_load_no_model(argv):
    code = ("import sys, music_composer\n"
            f"try: music_composer.main({argv!r})\n"
            "except SystemExit: pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(repo)})
    assert result.stdout.splitlines()[-1] == "[]", result.stderr


@pytest.mark.parametrize("command", ["compare", "latent-map", "variations"])
def test_a_midi_command_given_without_midi_is_pointed_there(command, capsys):
    with pytest.raises(SystemExit):
        music_composer.main([command, "--run-dir", "runs/x"])
    assert f"music-composer midi {command} --run-dir runs/x" in capsys.readouterr().err


@pytest.fixture
def threads_asked(monkeypatch):
    asked = []

    def record(requested):  # stands in for configure_threads: records the request, then stops the command
        asked.append(requested)
        raise UserError("stopped after choosing threads")
    monkeypatch.setattr(engine.threads, "configure_threads", record)
    return asked


@pytest.mark.parametrize("argv", [
    ["--threads", "3", "-e", "0"],
    ["midi", "sample", "--run-dir", "r", "--output-dir", "o", "--threads", "3"],
    ["midi", "train", "--example", "--run-dir", "r", "--threads", "3"],
    ["midi", "compare", "--configs", "lm-note", "--examples-path", "e", "--num-steps", "1", "--run-dir", "r",
     "--threads", "3"],
])
def test_training_and_generation_commands_set_the_threads_asked_for(argv, threads_asked, tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "input_music_dataset").mkdir()
    assert music_composer.main(argv) == 2
    assert threads_asked == [3]
    assert "stopped after choosing threads" in capsys.readouterr().err


def test_without_the_flag_the_choice_is_automatic(threads_asked, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert music_composer.main(["midi", "sample", "--run-dir", "r", "--output-dir", "o"]) == 2
    assert threads_asked == [None]
