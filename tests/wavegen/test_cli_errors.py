"""Problems a user can fix, found before any work starts: one line each, the right exit code, no traceback."""
import subprocess
import sys
from pathlib import Path

import pytest

import music_composer
from wavegen import preflight
from wavegen.cli import build_parser, main, parse_args
from wavegen.framer import FrameSpec

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "music-composer.py"


def command(tmp_path: Path, dataset: Path, *extra: str) -> list[str]:
    """A tiny run with everything under ``tmp_path``; later flags override earlier ones."""
    return ["-d", str(dataset), "-t", str(tmp_path / "cache"), "--checkpoint", str(tmp_path / "model.pt"),
            "-o", str(tmp_path / "out" / "clip"), "-n", "8", "-l", "1", "-e", "1", "-s", "0.5", "-g", "1",
            "--no-progress", "--workers", "1", *extra]


@pytest.fixture
def regular_file(tmp_path: Path) -> Path:
    """A plain file where a folder is expected: writing under it fails for root too (unlike a read-only mode)."""
    path = tmp_path / "notes.txt"
    path.write_text("not a folder\n")
    return path


@pytest.mark.parametrize("flags, message", [
    (lambda f: ["-d", str(f)], "error: -d {f} is a file, not a folder; give a folder"),
    (lambda f: ["-t", str(f)], "error: -t {f} is a file, not a folder; give a folder"),
    (lambda f: ["-d", str(f / "music")], "error: cannot write the datasets folder (-d {f}/music): {f} is not a folder"),
    (lambda f: ["-t", str(f / "cache")], "error: cannot write the cache (-t {f}/cache): {f} is not a folder"),
    (lambda f: ["-o", str(f / "song")], "error: cannot write the clips (-o {f}/song): {f} is not a folder"),
    (lambda f: ["--checkpoint", str(f / "model.pt")],
     "error: cannot write the checkpoint (--checkpoint {f}/model.pt): {f} is not a folder"),
    (lambda f: ["--checkpoint", str(f.parent)],
     "error: --checkpoint {d} is a folder, not a checkpoint file; give a file path such as {d}/wavegen.pt"),
])
def test_unusable_paths_are_refused_before_any_work(tmp_path, dataset, regular_file, flags, message):
    result = subprocess.run([sys.executable, str(SCRIPT), *command(tmp_path, dataset, *flags(regular_file))],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == message.format(f=regular_file, d=regular_file.parent) + "\n"
    assert result.stdout == "" and not (tmp_path / "cache").exists()  # nothing was preprocessed


def test_a_folder_that_is_not_writable_is_named(tmp_path, dataset, monkeypatch, capsys):
    out = tmp_path / "out"
    out.mkdir()
    real_access = preflight.os.access
    monkeypatch.setattr(preflight.os, "access", lambda path, mode: Path(path) != out and real_access(path, mode))
    assert main(command(tmp_path, dataset, "-o", str(out / "song"))) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: cannot write the clips (-o {out}/song): {out} is not writable\n"
    assert captured.out == "" and not (tmp_path / "model.pt").exists()


def test_paths_that_the_run_does_not_write_are_not_checked(tmp_path, dataset, regular_file, capsys):
    """-g 0 writes no clips, -e 0 writes no checkpoint, --preprocess-only neither."""
    assert main(command(tmp_path, dataset, "-g", "0", "-o", str(regular_file / "song"))) == 0
    assert main(command(tmp_path, dataset, "-e", "0", "-o", str(tmp_path / "again"))) == 0
    unwritable = ["--checkpoint", str(regular_file / "model.pt"), "-o", str(regular_file / "song")]
    assert main(command(tmp_path, dataset, "--preprocess-only", *unwritable)) == 0
    assert "error" not in capsys.readouterr().err


def test_generation_too_large_for_memory_is_refused_before_any_work(tmp_path, dataset, capsys, monkeypatch):
    assert main(command(tmp_path, dataset, "-s", "1e9", "-g", "10")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 10 clip(s) of 1e+09 s need about") and err.count("\n") == 1
    assert "GiB of memory to generate, more than the limit of" in err and not (tmp_path / "cache").exists()
    needed = preflight.generation_bytes(10, 10.0, FrameSpec(), 1024)
    monkeypatch.setattr(preflight, "memory_limit", lambda: needed)
    assert preflight.generation_problem(10, 10.0, FrameSpec(), 1024) is None  # the defaults fit exactly
    assert preflight.generation_problem(11, 10.0, FrameSpec(), 1024) is not None


def test_generation_bytes_cover_the_batch_of_frames_hidden_states_and_griffin_lim():
    frames = 10 * 22050 / 512 + 1
    samples = 4 * 10 * (22050 + 44100)
    expected = 4 * (10 * (frames * (1024 + 2 * 1025) + samples) + 8 * 1025 * frames)
    assert preflight.generation_bytes(10, 10.0, FrameSpec(), 1024) == expected
    blocks = preflight.generation_bytes(10, 10.0, FrameSpec.blocks(11025), 1024)
    assert blocks == 4 * 10 * ((10 * 4 + 1) * (1024 + 2 * 11025) + 4 * 10 * 2 * 44100)


@pytest.mark.parametrize("argv, suggestion", [
    (["sample", "-n", "8"], "the MIDI commands are under `music-composer midi`: music-composer midi sample -n 8"),
    (["train", "--run-dir", "runs/x"], "music-composer midi train --run-dir runs/x"),
    (["--input-midi", "a.MID"], "MIDI files are for the MIDI tools: see `music-composer midi -h`"),
])
def test_a_midi_command_line_gets_pointed_to_the_midi_tools(argv, suggestion, capsys):
    with pytest.raises(SystemExit) as exit_info:
        music_composer.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "error: unrecognized arguments" in err and suggestion in err


def test_an_audio_error_gets_no_midi_hint(capsys):
    with pytest.raises(SystemExit):
        parse_args(["-n", "0", "-o", "train"])  # "train" is a fine output name here
    assert "midi" not in capsys.readouterr().err


def test_top_level_help_names_the_midi_tools_and_every_device():
    text = build_parser().format_help()
    assert "music-composer midi -h" in text and "auto (CUDA when available), cpu, mps, cuda or cuda:N" in text
