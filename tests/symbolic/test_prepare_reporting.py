"""What `midi prepare` tells the user: unreadable files by name, content skips by count, and a clear error when no
file gives a window; prepared folders made by an older converter are rebuilt, never reused."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from engine.errors import UserError
from symbolic import cli
from symbolic.data import prepare as prepare_module
from symbolic.data.converters import MelodyConverter
from symbolic.data.datasets import prepare_dataset
from symbolic.data.prepare import MAX_NAMED, PREPARED_NAME, cache_params, load_or_prepare

MELODY = MelodyConverter()
CHUNK_PAST_END = b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00"  # track longer than the file


def prepare_args(folder: Path, out: Path) -> list[str]:
    return ["prepare", "--converter", "melody", "--input", str(folder), "--output", str(out), "--workers", "1",
            "--no-progress"]


@pytest.fixture
def broken_dir(tmp_path, write_midi, score_of, scale) -> Path:
    """One usable melody, 25 unreadable files (random bytes, a chunk length past the end) and 3 drum-only files."""
    folder = tmp_path / "midi"
    write_midi(folder / "tune.mid", score_of([(0, False, scale(0, 4))]))
    for i in range(25):
        (folder / f"bad{i:02d}.mid").write_bytes(CHUNK_PAST_END if i % 2 else bytes(range(i, 200, 3)))
    for i in range(3):
        write_midi(folder / f"beat{i}.mid", score_of([(0, True, [(36, 4 * k + i, 4 * k + i + 1) for k in range(16)])]))
    return folder


def test_unreadable_files_are_named_and_content_skips_counted(broken_dir, tmp_path, capsys):
    assert cli.main(prepare_args(broken_dir, tmp_path / "out")) == 0
    captured = capsys.readouterr()
    out, lines, err_lines = captured.out, captured.out.splitlines(), captured.err.splitlines()
    named = [line for line in err_lines if line.startswith("skipped ")]
    reasons = json.loads((tmp_path / "out" / PREPARED_NAME).read_text())["skipped"]
    first = [f"bad{i:02d}.mid" for i in range(MAX_NAMED)]
    assert named == [f"skipped {broken_dir / rel}: {reasons[rel]}" for rel in first]
    assert all(": corrupt: " in line for line in named)
    assert err_lines[err_lines.index(named[-1]) + 1] == f"and {25 - MAX_NAMED} more unreadable files"
    assert "  skipped (corrupt): 25" in lines and "  skipped (drum-only): 3" in lines
    assert "beat0.mid" not in out
    assert "29 MIDI files read: 1 used, 28 skipped" in out


def test_chunk_past_end_and_random_bytes_have_their_reasons(broken_dir, tmp_path):
    result = prepare_dataset(MELODY, broken_dir, tmp_path / "out", workers=1, progress=False).result
    assert result.unreadable == [f"bad{i:02d}.mid" for i in range(25)]
    assert "chunk length" in result.skipped["bad01.mid"] and "MThd" in result.skipped["bad00.mid"]
    assert str(broken_dir) not in result.skipped["bad01.mid"]  # the path is the key; the summary names it once


def test_prepare_with_no_window_fails_naming_folder_and_reasons(tmp_path, write_midi, score_of, capsys):
    folder = tmp_path / "hopeless"
    for i in range(3):
        (folder / f"bad{i}.mid").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"bad{i}.mid").write_bytes(CHUNK_PAST_END)
    write_midi(folder / "beat.mid", score_of([(0, True, [(36, 0, 1)])]))
    out = tmp_path / "out"
    assert cli.main(prepare_args(folder, out)) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[:3] == [f"skipped {folder / f'bad{i}.mid'}: " + json.loads((out / PREPARED_NAME).read_text())
                       ["skipped"][f"bad{i}.mid"] for i in range(3)]  # the unreadable files are named first
    assert err[3] == (f"error: {folder}: none of the 4 MIDI files gave a melody window; commonest reasons: "
                   f"corrupt (3, e.g. bad0.mid), drum-only (1, e.g. beat.mid); every file's reason: "
                   f"{out / PREPARED_NAME}")
    assert json.loads((out / PREPARED_NAME).read_text())["skipped"]["beat.mid"] == "drum-only"


def test_training_data_with_no_window_fails_with_the_same_message(tmp_path, write_midi, score_of):
    folder = tmp_path / "drums_only"
    write_midi(folder / "beat.mid", score_of([(0, True, [(36, 0, 1)])]))
    with pytest.raises(UserError, match=r"none of the 1 MIDI files gave a melody window.*drum-only \(1"):
        load_or_prepare(MELODY, folder, tmp_path / "cache", workers=1, progress=False)
    prepared = next((tmp_path / "cache").iterdir())
    with pytest.raises(UserError, match="none of the 1 MIDI files gave a melody window"):
        load_or_prepare(MELODY, prepared, tmp_path / "unused", workers=1, progress=False)


def test_folder_prepared_by_an_older_converter_is_rebuilt(tmp_path, write_midi, score_of, scale, monkeypatch):
    folder = tmp_path / "midi"
    write_midi(folder / "tune.mid", score_of([(0, False, scale(0, 4))]))
    out = tmp_path / "out"
    with monkeypatch.context() as patch:  # what a release before converter versions wrote
        patch.setattr(prepare_module, "cache_params", lambda c: {"format": 1, "converter": c.spec()})
        prepare_dataset(MELODY, folder, out, workers=1, progress=False)
    assert json.loads((out / PREPARED_NAME).read_text())["params"] == {"format": 1, "converter": MELODY.spec()}

    rebuilt = load_or_prepare(MELODY, out, tmp_path / "unused", workers=1, progress=False)
    assert rebuilt.report.rebuilt_manifest == "preprocessing parameters changed"
    assert rebuilt.report.processed == ["tune.mid"]
    assert json.loads((out / PREPARED_NAME).read_text())["params"] == cache_params(MELODY)
    again = load_or_prepare(MELODY, out, tmp_path / "unused", workers=1, progress=False)
    assert again.report is None  # up to date: opened as it is


def test_older_folder_whose_midi_folder_is_gone_asks_to_prepare_again(tmp_path, write_midi, score_of, scale):
    folder = tmp_path / "midi"
    write_midi(folder / "tune.mid", score_of([(0, False, scale(0, 4))]))
    out = tmp_path / "out"
    prepare_dataset(MELODY, folder, out, workers=1, progress=False)
    recorded = json.loads((out / PREPARED_NAME).read_text())
    recorded["params"]["converter_version"] = MELODY.version - 1
    (out / PREPARED_NAME).write_text(json.dumps(recorded))
    (folder / "tune.mid").unlink()
    folder.rmdir()
    with pytest.raises(UserError, match="older version of the melody converter.*midi prepare --input"):
        load_or_prepare(MELODY, out, tmp_path / "unused", workers=1, progress=False)


def convert_or_hang(path: Path, params: dict):
    """The real conversion, but a file named hang*.mid never finishes (a converter stuck on one file)."""
    if path.name.startswith("hang"):
        time.sleep(120)
    return prepare_module.convert_file(path, params)


def test_files_over_the_time_and_size_limits_are_named_and_the_rest_prepared(tmp_path, write_midi, score_of, scale,
                                                                           monkeypatch, capsys):
    folder = tmp_path / "midi"
    for i in range(3):
        write_midi(folder / f"tune{i}.mid", score_of([(0, False, scale(i, 4))]))
    write_midi(folder / "hang.mid", score_of([(0, False, scale(0, 4))]))
    (folder / "huge.mid").write_bytes(CHUNK_PAST_END + bytes(5000))
    monkeypatch.setattr(prepare_module, "convert_file", prepare_module.process_file, raising=False)
    monkeypatch.setattr(prepare_module, "process_file", convert_or_hang)
    started = time.monotonic()
    assert cli.main(prepare_args(folder, tmp_path / "out") + ["--file-time-limit", "0.5", "--max-file-mb",
                                                               "0.002"]) == 0
    assert time.monotonic() - started < 60
    captured = capsys.readouterr()
    assert f"skipped {folder / 'hang.mid'}: timeout: took longer than 0.5 s to process" in captured.err.splitlines()
    assert f"skipped {folder / 'huge.mid'}: too large: 0.0 MB, over the 0.002 MB limit" in captured.err.splitlines()
    assert "5 MIDI files read: 3 used, 2 skipped" in captured.out
    assert "  skipped (timeout): 1" in captured.out.splitlines() and "  skipped (too large): 1" in captured.out
