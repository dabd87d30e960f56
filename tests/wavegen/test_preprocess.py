"""Decoding any audio file, the train_data cache (reconciliation, damage, bad files), normalisation statistics."""
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from engine.errors import UserError
from wavegen.audio import SAMPLE_RATE, AudioReader, find_audio_files
from wavegen.dataset import split_segments
from wavegen.framer import FrameSpec
from wavegen.preprocess import prepare

FIXTURES = Path(__file__).parent / "fixtures"
PIANO = FIXTURES / "minuet-bars1-3-piano-44k-stereo.flac"
HARPSICHORD = FIXTURES / "minuet-bars5-7-harpsichord-22k-mono.flac"
REPO = Path(__file__).resolve().parents[2]
BLOCKS = FrameSpec.blocks(11025)  # the cache's behaviour does not depend on the framer; 0.25 s blocks are quick


def decode(path: Path) -> np.ndarray:
    with AudioReader(path) as audio:
        return np.concatenate(list(audio.chunks()))


def run_prepare(dataset: Path, cache: Path, workers: int = 1, spec: FrameSpec = BLOCKS):
    return prepare(dataset, cache, spec, workers=workers, progress=False)


@pytest.mark.parametrize("subtype, tolerance", [("PCM_16", 1e-6), ("PCM_24", 1e-4), ("FLOAT", 1e-4),
                                                ("PCM_U8", 1e-2)])
def test_any_subtype_decodes_to_the_channel_average(tmp_path, subtype, tolerance):
    stereo, rate = sf.read(PIANO, dtype="float32")
    sf.write(tmp_path / "x.WAV", stereo, rate, subtype=subtype)
    np.testing.assert_allclose(decode(tmp_path / "x.WAV"), stereo.mean(axis=1), atol=tolerance)


def test_many_channels_and_other_rates_become_mono_44k(tmp_path):
    mono = decode(PIANO)
    six = np.repeat(sf.read(PIANO, dtype="float32")[0].mean(axis=1, keepdims=True), 6, axis=1)
    sf.write(tmp_path / "six.wav", six, SAMPLE_RATE, subtype="FLOAT")
    np.testing.assert_allclose(decode(tmp_path / "six.wav"), mono, atol=1e-5)
    sf.write(tmp_path / "48k.flac", soxr.resample(mono, SAMPLE_RATE, 48000), 48000, subtype="PCM_24")
    back = decode(tmp_path / "48k.flac")
    assert abs(len(back) - len(mono)) <= 1
    n = min(len(back), len(mono))
    assert np.corrcoef(back[:n], mono[:n])[0, 1] > 0.999


def test_find_audio_files_by_extension_recursively(tmp_path):
    for name in ["a.wav", "b.WAV", "sub/c.flac", "notes.txt", "README.md", ".hidden.wav", ".git/d.wav"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in find_audio_files(tmp_path)] == ["a.wav", "b.WAV",
                                                                                      "sub/c.flac"]


def test_cache_reconciles_added_changed_and_removed_files(dataset, tmp_path, capsys):
    cache = tmp_path / "cache"
    first = run_prepare(dataset, cache)
    assert len(first.entries) == 2 and "2 processed" in capsys.readouterr().out
    again = run_prepare(dataset, cache)
    assert "2 reused, 0 processed" in capsys.readouterr().out
    assert [e.digest for e in again.entries] == [e.digest for e in first.entries]

    piano = dataset / PIANO.name
    audio, rate = sf.read(piano)
    sf.write(dataset / "new.wav", audio[: rate * 2], rate)  # added
    sf.write(piano, audio[: rate * 3], rate, format="FLAC")  # changed: 3 s instead of 4.6 s
    (dataset / HARPSICHORD.name).unlink()  # removed
    prepared = run_prepare(dataset, cache)
    assert "2 processed, 1 removed" in capsys.readouterr().out
    assert [e.rel for e in prepared.entries] == ["minuet-bars1-3-piano-44k-stereo.flac", "new.wav"]
    assert [len(f) for f in prepared.frames()] == [12, 8]  # 3 s and 2 s of 0.25 s frames
    live = {record.file for entry in prepared.entries for record in entry.arrays.values()}
    assert {path.name for path in (cache / "items").iterdir()} == live  # nothing stale is left behind


def test_partial_or_corrupt_cache_is_rebuilt(dataset, tmp_path, capsys):
    cache = tmp_path / "cache"
    prepared = run_prepare(dataset, cache)
    expected = [np.array(f) for f in prepared.frames()]
    shard = cache / "items" / prepared.entries[0].arrays["frames"].file
    shard.write_bytes(shard.read_bytes()[:1000])  # damaged by an interrupted copy
    for rebuilt, original in zip(run_prepare(dataset, cache).frames(), expected):
        np.testing.assert_array_equal(rebuilt, original)
    assert "1 reused, 1 processed" in capsys.readouterr().out
    (cache / "manifest.json").write_text("{ not json")
    prepared = run_prepare(dataset, cache)
    out = capsys.readouterr().out
    assert "rebuilt the cache" in out and "2 processed" in out
    np.testing.assert_array_equal(prepared.frames()[1], expected[1])


def test_bad_files_are_skipped_with_their_reason_and_the_run_goes_on(dataset, tmp_path, capsys):
    (dataset / "empty.wav").write_bytes(b"")
    (dataset / "text.wav").write_text("this is not audio\n")
    (dataset / "truncated.flac").write_bytes(PIANO.read_bytes()[:3000])
    sf.write(dataset / "short.wav", np.zeros(5000), SAMPLE_RATE)
    nan = np.zeros(SAMPLE_RATE, dtype=np.float32)
    nan[100] = np.nan
    sf.write(dataset / "nan.wav", nan, SAMPLE_RATE, subtype="FLOAT")
    prepared = run_prepare(dataset, tmp_path / "cache")
    captured = capsys.readouterr()
    assert len(prepared.entries) == 2 and "2 file(s) used (0 reused, 2 processed, 5 skipped)" in captured.out
    reasons = dict(line.split(": ", 1) for line in captured.err.splitlines() if line.startswith("skipped"))
    assert reasons == {f"skipped {dataset / 'empty.wav'}": "empty file (0 bytes)",
                       f"skipped {dataset / 'text.wav'}": "not readable as audio (Format not recognised.)",
                       f"skipped {dataset / 'truncated.flac'}": "damaged audio data (Error : flac decoder lost sync.)",
                       f"skipped {dataset / 'short.wav'}": "shorter than one frame (11025 samples at 44100 Hz, 0.25 s)",
                       f"skipped {dataset / 'nan.wav'}": "holds samples that are not finite (NaN or infinity)"}
    run_prepare(dataset, tmp_path / "cache")  # skipped files are reported again, not re-read
    assert "2 file(s) used (2 reused, 0 processed, 5 skipped)" in capsys.readouterr().out


def test_empty_dataset_folder_is_a_clear_error(tmp_path):
    (tmp_path / "README.md").write_text("put audio here")
    with pytest.raises(UserError, match="no audio files in"):
        run_prepare(tmp_path, tmp_path / "cache")


def test_normalisation_statistics_match_the_stored_frames(dataset, tmp_path):
    prepared = run_prepare(dataset, tmp_path / "cache", workers=2)
    assert all(isinstance(f, np.memmap) and f.dtype == np.float32 for f in prepared.frames())
    frames = np.concatenate([np.asarray(f, dtype=np.float64) for f in prepared.frames()])
    mean, std = prepared.normalisation()
    np.testing.assert_allclose(mean, frames.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(std, np.maximum(frames.std(axis=0), 1e-8), rtol=1e-4, atol=1e-7)


def test_normalisation_statistics_leave_the_validation_tails_out(dataset, tmp_path):
    sf.write(dataset / "short.wav", sf.read(PIANO)[0][: int(2.5 * SAMPLE_RATE)], SAMPLE_RATE)  # too short to split
    prepared = run_prepare(dataset, tmp_path / "cache")
    train, held_out = split_segments(prepared.frames(), 0.1)
    assert len(held_out) == 2  # the two long files give a tail, the short one trains whole
    frames = np.concatenate([np.asarray(f, dtype=np.float64) for f in train])
    mean, std = prepared.normalisation(0.1)
    np.testing.assert_allclose(mean, frames.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, np.maximum(frames.std(axis=0), 1e-8), rtol=1e-4, atol=1e-7)


def test_non_finite_or_huge_samples_are_skipped_in_our_words_only(tmp_path, capsys):
    nan = np.zeros(SAMPLE_RATE, dtype=np.float32)
    nan[100] = np.nan
    sf.write(tmp_path / "nan.wav", nan, SAMPLE_RATE, subtype="FLOAT")
    sf.write(tmp_path / "huge.wav", np.full(SAMPLE_RATE, 3e38, dtype=np.float32), SAMPLE_RATE, subtype="FLOAT")
    sf.write(tmp_path / "fine.wav", np.zeros(SAMPLE_RATE), SAMPLE_RATE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_prepare(tmp_path, tmp_path / "cache")
    assert [str(w.message) for w in caught] == []
    assert capsys.readouterr().err.splitlines() == [
        f"skipped {tmp_path / 'huge.wav'}: holds samples too large to transform (far outside [-1, 1])",
        f"skipped {tmp_path / 'nan.wav'}: holds samples that are not finite (NaN or infinity)"]


@pytest.mark.skipif("MP3" not in sf.available_formats(), reason="this libsndfile has no MP3 support")
def test_damaged_mp3_files_are_named_plainly_and_the_decoder_stays_quiet(tmp_path, capfd):
    sf.write(tmp_path / "song.mp3", sf.read(PIANO)[0], SAMPLE_RATE, format="MP3")
    good = (tmp_path / "song.mp3").read_bytes()
    (tmp_path / "text.mp3").write_text("this is not audio\n" * 50)
    (tmp_path / "holes.mp3").write_bytes(good[:200] + bytes(500) + good[700:])  # the decoder resyncs, noisily
    for workers in (1, 2):
        prepared = run_prepare(tmp_path, tmp_path / f"cache{workers}", workers=workers)
        assert sorted(e.rel for e in prepared.entries) == ["holes.mp3", "song.mp3"]
        reason = "not readable as audio (not valid MP3 data)"
        assert capfd.readouterr().err == f"skipped {tmp_path / 'text.mp3'}: {reason}\n"


def test_preprocessing_and_help_do_not_import_torch(dataset, tmp_path):
    argv = ["--preprocess-only", "--no-progress", "-d", str(dataset), "-t", str(tmp_path / "c")]
    code = (f"import sys; from wavegen.cli import main; rc = main({argv!r}); "
            "assert rc == 0, rc; assert 'torch' not in sys.modules, 'torch imported'; "
            "from wavegen.cli import build_parser; build_parser().format_help(); assert 'torch' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["params"]["framer"] == "stft" and manifest["params"]["frame_size"] == 2048
    assert len(manifest["entries"]) == 2


def test_switching_framer_or_its_settings_rebuilds_the_cache(dataset, tmp_path, capsys):
    cache = tmp_path / "cache"
    stft = FrameSpec()
    first = run_prepare(dataset, cache, spec=stft)
    piano = decode(PIANO)[::2]  # near enough to 22.05 kHz for a frame count
    assert first.spec == stft and [len(f) for f in first.frames()][0] == stft.num_frames(len(piano))
    original = np.array(first.frames()[0])
    assert original.shape[1] == 1025
    capsys.readouterr()
    for spec in (BLOCKS, FrameSpec(features="complex"), FrameSpec(hop_size=256), FrameSpec(sample_rate=16000)):
        prepared = run_prepare(dataset, cache, spec=spec)
        out = capsys.readouterr().out
        assert "rebuilt the cache" in out and "preprocessing parameters changed" in out and "2 processed" in out
        assert prepared.spec == spec and prepared.frames()[0].shape[1] == spec.frame_dim
    assert "2 reused" in (run_prepare(dataset, cache, spec=FrameSpec(sample_rate=16000)), capsys.readouterr().out)[1]
    again = run_prepare(dataset, cache, spec=stft)
    np.testing.assert_array_equal(again.frames()[0], original)


def test_long_silences_are_cut_before_framing_and_max_silence_is_a_cache_parameter(tmp_path, capsys):
    piano = decode(PIANO)
    gap = np.zeros(3 * SAMPLE_RATE, dtype=np.float32)
    (tmp_path / "music").mkdir()
    sf.write(tmp_path / "music" / "two-pieces.wav", np.concatenate([piano, gap, piano]), SAMPLE_RATE)
    cache = tmp_path / "cache"
    cut = len(prepare(tmp_path / "music", cache, BLOCKS, progress=False).frames()[0])
    kept = len(prepare(tmp_path / "music", cache, BLOCKS, progress=False, max_silence=None).frames()[0])
    assert "rebuilt the cache" in capsys.readouterr().out
    assert kept - cut >= gap.size // BLOCKS.frame_size - 2  # all of the gap but 0.25 s, in blocks of 0.25 s
