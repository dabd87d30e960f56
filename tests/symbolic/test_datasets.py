"""Preparing datasets: skip reasons, cache reconciliation, splits, torch datasets, the `midi prepare` command."""
from __future__ import annotations

import json
import shutil
import sys
import types
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import UserError
from symbolic import cli
from symbolic.cli import data as cli_data
from symbolic.data.converters import DrumsConverter, MelodyConverter, TrioConverter
from symbolic.data.datasets import PreparedDataset, WindowDataset, prepare_dataset
from symbolic.data.prepare import PREPARED_NAME, load_or_prepare
from symbolic.data.splits import SPLIT_FRACTIONS, SPLITS, split_of

MELODY = MelodyConverter()


@pytest.fixture
def midi_dir(tmp_path, fixture_files, write_midi, score_of) -> Path:
    """Real fixtures plus a corrupt, an empty and a drum-only file, in nested folders with mixed-case suffixes."""
    folder = tmp_path / "midi"
    for i, path in enumerate(fixture_files):
        target = folder / ("sub" if i % 2 else "") / (path.stem + (".MID" if i == 2 else ".mid"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (folder / "empty.midi").write_bytes(b"")
    (folder / "notes.txt").write_text("not MIDI, not read")
    write_midi(folder / "beat.mid", score_of([(0, True, [(36, 4 * i, 4 * i + 1) for i in range(16)])]))
    return folder


def windows_of(dataset: PreparedDataset) -> int:
    return sum(len(dataset.split(name)) for name in SPLITS)


def test_prepare_skips_bad_files_with_reasons(midi_dir, tmp_path, capsys):
    dataset = prepare_dataset(MELODY, midi_dir, tmp_path / "out", workers=1, progress=False)
    result = dataset.result
    assert result.files_found == 9
    assert sum(result.files.values()) == 5
    assert set(result.skipped) == {"corrupt.mid", "empty.midi", "beat.mid", "sub/ryans_6-8_MollInTheWadJig.mid"}
    assert result.skipped["beat.mid"] == "drum-only"
    assert result.skipped["empty.midi"] == "corrupt: empty file (0 bytes)"
    assert result.unreadable == ["corrupt.mid", "empty.midi"]
    assert result.skipped["sub/ryans_6-8_MollInTheWadJig.mid"].startswith("meter: only 6/8")
    summary = "\n".join(result.summary())
    assert "skipped (corrupt): 2" in summary and "skipped (drum-only): 1" in summary
    assert "skipped (meter): 1" in summary
    named = "\n".join(result.unreadable_lines())
    assert f"skipped {midi_dir / 'empty.midi'}: corrupt: empty file (0 bytes)" in named.splitlines()
    assert f"skipped {midi_dir / 'corrupt.mid'}: corrupt: " in named
    assert "beat.mid" not in summary + named  # content skips are counted, not named
    recorded = json.loads((tmp_path / "out" / PREPARED_NAME).read_text())
    assert recorded["skipped"] == result.skipped
    assert recorded["stats"]["windows"] == windows_of(dataset) > 0


def test_tiny_dataset_trains_on_everything(midi_dir, tmp_path):
    dataset = prepare_dataset(MELODY, midi_dir, tmp_path / "out", workers=1, progress=False)
    assert dataset.result.files == {"train": 5, "validation": 0, "test": 0}
    assert len(dataset.split("validation")) == 0 and len(dataset.split("test")) == 0
    assert len(dataset.split("train")) == dataset.result.windows["train"] > 0
    assert "all of them are in train" in dataset.result.note


def test_reconciliation_follows_added_changed_and_removed_files(midi_dir, tmp_path, write_midi, score_of, scale):
    out = tmp_path / "out"
    first = prepare_dataset(MELODY, midi_dir, out, workers=1, progress=False).result
    again = prepare_dataset(MELODY, midi_dir, out, workers=1, progress=False).result
    assert again.report.processed == [] and len(again.report.reused) == 7  # with the two skipped for content
    assert again.windows == first.windows

    write_midi(midi_dir / "new.mid", score_of([(0, False, scale(0, 3, pitch=70))]))
    shutil.copy(midi_dir / "beat.mid", midi_dir / "sub" / "ryans_WeelMayTheKeelRowReel.mid")  # changed: now drum-only
    (midi_dir / "ryans_JimmyHolmesFavoriteReel.mid").unlink()
    third = prepare_dataset(MELODY, midi_dir, out, workers=1, progress=False)
    report = third.result.report
    assert report.processed == ["new.mid", "sub/ryans_WeelMayTheKeelRowReel.mid"]
    assert report.removed == ["ryans_JimmyHolmesFavoriteReel.mid"]
    assert third.result.skipped["sub/ryans_WeelMayTheKeelRowReel.mid"] == "drum-only"
    assert sum(third.result.files.values()) == 4
    assert windows_of(third) == sum(third.result.windows.values()) != sum(first.windows.values())
    assert {p.name for p in (out / "items").iterdir()} == set(
        json.loads((out / "manifest.json").read_text())["shards"])  # no stale shards left behind


def test_damaged_split_array_is_rebuilt(midi_dir, tmp_path):
    out = tmp_path / "out"
    first = prepare_dataset(MELODY, midi_dir, out, workers=1, progress=False)
    (out / "splits" / "train.npy").write_bytes(b"truncated")
    second = prepare_dataset(MELODY, midi_dir, out, workers=1, progress=False)
    assert len(second.split("train")) == len(first.split("train"))


def test_parallel_prepare_matches_single_process(midi_dir, tmp_path):
    single = prepare_dataset(MELODY, midi_dir, tmp_path / "a", workers=1, progress=False)
    parallel = prepare_dataset(MELODY, midi_dir, tmp_path / "b", workers=2, progress=False)
    assert parallel.result.skipped == single.result.skipped
    assert np.array_equal(np.load(tmp_path / "a/splits/train.npy"), np.load(tmp_path / "b/splits/train.npy"))


def test_split_by_file_is_deterministic_and_keeps_songs_whole(tmp_path, write_midi, score_of, scale):
    folder = tmp_path / "many"
    for i in range(30):
        write_midi(folder / f"song{i:02d}.mid", score_of([(0, False, scale(0, 4, pitch=40 + i))]))
    dataset = prepare_dataset(MELODY, folder, tmp_path / "out", workers=1, progress=False)
    assert dataset.result.note is None
    assert all(dataset.result.files[name] > 0 for name in SPLITS)
    assert dataset.result.files["train"] > dataset.result.files["validation"]
    for name in SPLITS:  # song i rises from pitch 40 + i: its 3 windows start on codes 21 + i, 25 + i, 29 + i
        windows = np.load(dataset.result.split_path(name))
        songs = [i for i in range(30) if split_of(f"song{i:02d}.mid") == name]
        assert len(songs) == dataset.result.files[name]
        assert sorted(windows[:, 0, 0].tolist()) == sorted(21 + i + 4 * b for i in songs for b in range(3))


def test_split_shares_over_many_names_are_near_the_documented_fractions():
    names = [f"folder{i % 7}/song {i}.mid" for i in range(20_000)]
    splits = [split_of(name) for name in names]
    assert [split_of(name) for name in names] == splits  # stable across calls
    shares = [splits.count(name) / len(names) for name in SPLITS]
    assert np.allclose(shares, SPLIT_FRACTIONS, atol=0.01), shares


NFC_NAMES = {"Ångström/Émile.mid": "validation", "Bartók/Allegro barbaro.mid": "validation",
             "Fauré/Pavane.mid": "test", "Dvořák/Humoresque.mid": "train"}  # their NFD spellings hashed otherwise
ASCII_NAMES = {"song00.mid": "validation", "song01.mid": "test", "song02.mid": "train", "song03.mid": "test",
               "Sibelius/Valse triste.mid": "validation"}


def test_split_hashes_a_normalised_path():
    for name, split in {**NFC_NAMES, **ASCII_NAMES}.items():  # as before the normalisation: nothing reshuffles
        assert split_of(name) == split, name
        assert split_of(unicodedata.normalize("NFD", name)) == split, name
    assert split_of("Fauré\\Pavane.mid") == split_of("Fauré/Pavane.mid")


def test_changed_split_assignment_repacks_the_splits(tmp_path, write_midi, score_of, scale, monkeypatch):
    """A dataset prepared when NFD names hashed as they are spelled gets its splits rebuilt on the next run."""
    folder = tmp_path / "copied_from_mac"
    names = [unicodedata.normalize("NFD", name) for name in NFC_NAMES] + [f"song{i:02d}.mid" for i in range(8)]
    for i, name in enumerate(names):
        write_midi(folder / name, score_of([(0, False, scale(0, 3, pitch=40 + 2 * i))]))
    out = tmp_path / "out"
    with monkeypatch.context() as patch:  # the old assignment: a hash of the path as it is spelled
        patch.setattr("symbolic.data.splits.unicodedata", types.SimpleNamespace(normalize=lambda form, text: text))
        old = prepare_dataset(MELODY, folder, out, workers=1, progress=False).result
    new = prepare_dataset(MELODY, folder, out, workers=1, progress=False).result
    for name in SPLITS:  # song i rises from pitch 40 + 2i: its 2 windows start on codes 21 + 2i and 25 + 2i
        firsts = np.load(new.split_path(name))[::2, 0, 0].tolist()
        assert sorted(firsts) == [21 + 2 * i for i, rel in enumerate(names) if split_of(rel) == name], name
    assert new.files != old.files


def test_split_items_are_int64_windows(midi_dir, tmp_path):
    dataset = prepare_dataset(MELODY, midi_dir, tmp_path / "out", workers=1, progress=False)
    item = dataset.split("train")[0]
    assert item.dtype == torch.int64 and item.shape == (32, 1)
    with pytest.raises(UserError, match="unknown split"):
        dataset.split("dev")


def test_transposition_keeps_notes_in_range_and_drums_still(tmp_path):
    windows = np.zeros((2, 4, 3), np.int16)
    windows[0, :, 0] = [2 + 80, 0, 1, 2 + 85]  # near the top: may only go down by up to 2
    windows[0, :, 1] = [2, 0, 0, 1]  # the lowest pitch: may only go up
    windows[0, :, 2] = [5, 0, 511, 0]
    windows[1, :, 0] = [40, 0, 1, 0]
    path = tmp_path / "trio.npy"
    np.save(path, windows)
    dataset = WindowDataset(path, TrioConverter().pitch_tracks, transpose=6)
    torch.manual_seed(0)
    shifts = set()
    for _ in range(200):
        item = dataset[0]
        shift = int(item[0, 0]) - int(windows[0, 0, 0])
        shifts.add(shift)
        assert item[:, 0].tolist() == [82 + shift, 0, 1, 87 + shift]
        assert item[:, 1].tolist() == [2 + shift, 0, 0, 1]
        assert item[:, 2].tolist() == [5, 0, 511, 0]
    assert shifts == {0, 1, 2}  # code 87 may rise by 2 at most, code 2 (pitch 21) may not fall
    free = {int(dataset[1][0, 0]) - 40 for _ in range(200)}
    assert free == set(range(-6, 7))


def test_transposition_refused_without_pitches(tmp_path, write_midi, score_of):
    folder = tmp_path / "beats"
    write_midi(folder / "beat.mid", score_of([(0, True, [(36, 2 * i, 2 * i + 1) for i in range(16)])]))
    dataset = prepare_dataset(DrumsConverter(), folder, tmp_path / "out", workers=1, progress=False)
    assert len(dataset.split("train")) == 1
    with pytest.raises(UserError, match="transposition needs pitches; the drums converter has none"):
        dataset.split("train", transpose=2)


def test_load_or_prepare_takes_midi_or_prepared_folders(midi_dir, tmp_path):
    cached = load_or_prepare(MELODY, midi_dir, tmp_path / "cache", workers=1, progress=False)
    assert cached.output_dir.parent == tmp_path / "cache"
    reopened = load_or_prepare(MELODY, cached.output_dir, tmp_path / "unused", workers=1, progress=False)
    assert reopened.windows == cached.windows
    assert not (tmp_path / "unused").exists()
    with pytest.raises(UserError, match="was prepared with"):
        load_or_prepare(MelodyConverter(slice_bars=4), cached.output_dir, tmp_path / "cache")
    with pytest.raises(UserError, match="no MIDI files"):
        load_or_prepare(MELODY, tmp_path / "cache", tmp_path / "cache2")
    with pytest.raises(UserError, match="not a folder"):
        load_or_prepare(MELODY, tmp_path / "missing", tmp_path / "cache")
    with pytest.raises(UserError, match="needs its own folder"):
        prepare_dataset(MELODY, midi_dir, midi_dir)


# ------------------------------------------------------------------------------------------------------------ CLI
def test_cli_prepare_with_converter_options(midi_dir, tmp_path, capsys):
    code = cli.main(["prepare", "--converter", "melody", "--slice-bars", "4", "--program-range", "0", "31",
                     "--input", str(midi_dir), "--output", str(tmp_path / "out"), "--workers", "1", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "9 MIDI files read: 5 used, 4 skipped" in out and "skipped (corrupt): 2" in out
    assert PreparedDataset.open(tmp_path / "out").converter == MelodyConverter(slice_bars=4, program_range=(0, 31))


def test_cli_prepare_resolves_config_names(midi_dir, tmp_path, monkeypatch):
    registry = types.ModuleType("symbolic.configs")
    registry.get_config = lambda name: types.SimpleNamespace(data={"kind": "melody", "slice_bars": 1})
    monkeypatch.setitem(sys.modules, "symbolic.configs", registry)
    assert cli.main(["prepare", "--config", "tiny", "--input", str(midi_dir), "--output", str(tmp_path / "out"),
                     "--workers", "1", "--no-progress"]) == 0
    assert PreparedDataset.open(tmp_path / "out").converter == MelodyConverter(slice_bars=1)


def test_cli_errors_are_one_line(midi_dir, tmp_path, monkeypatch, capsys):
    args = ["--input", str(midi_dir), "--output", str(tmp_path / "out"), "--no-progress"]
    assert cli.main(["prepare", "--config", "x", "--slice-bars", "2", *args]) == 2
    assert capsys.readouterr().err == "error: --config x fixes the converter; drop --slice-bars\n"
    monkeypatch.setitem(sys.modules, "symbolic.configs", None)  # registry not importable
    assert cli.main(["prepare", "--config", "x", *args]) == 2
    assert "use --converter" in capsys.readouterr().err
    assert cli.main(["prepare", "--converter", "drums", "--program-range", "0", "31", *args]) == 2
    assert "has no option program_range" in capsys.readouterr().err
    assert cli.main(["prepare", "--converter", "melody", "--input", str(tmp_path / "nope"),
                     "--output", str(tmp_path / "out")]) == 2
    assert "not a folder of MIDI files" in capsys.readouterr().err


def test_cli_accepts_more_command_modules():
    def add_commands(subparsers):
        subparsers.add_parser("hello").set_defaults(run=lambda args: 7)
    assert cli.main(["hello"], groups={"data": cli_data.add_commands, "more": add_commands}) == 7


def test_piano_roll_windows_transpose_along_pitch_keeping_every_note_inside(tmp_path):
    rolls = np.zeros((2, 4, 2, 16, 12), np.int16)  # 4 bars, onset and sounding channels, 16 steps, 12 pitches
    rolls[0, 0, :, 0, 3] = 1
    rolls[0, 2, 1, 5:9, 7] = 1  # notes from pitch 3 to 7: shifts of -3 to +4 keep them inside
    np.save(tmp_path / "rolls.npy", rolls)
    dataset = WindowDataset(tmp_path / "rolls.npy", (), transpose=5, roll=True)
    torch.manual_seed(0)
    shifts = set()
    for _ in range(60):
        window = dataset[0]
        assert window.shape == rolls.shape[1:] and int(window.sum()) == int(rolls[0].sum())
        low = int(window.flatten(0, -2).amax(dim=0).nonzero().min())
        shifts.add(low - 3)
        assert torch.equal(window, torch.from_numpy(np.roll(rolls[0], low - 3, axis=-1)).long())
    assert shifts == set(range(-3, 5))
    assert int(dataset[1].sum()) == 0  # an empty window stays as it is
    assert WindowDataset(tmp_path / "rolls.npy", (), transpose=0, roll=True)[0].tolist() == rolls[0].tolist()
