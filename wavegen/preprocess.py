"""The train_data/ cache: every audio file's frames (float32, memory-mappable; wavegen.framer) and normalisation sums.

Built on engine.cache.SourceCache, so each run reconciles the cache with the dataset folder by content hash (new and
changed files processed, removed ones dropped, damaged entries rebuilt, unreadable files skipped with a reason), and
the framer's settings are part of its parameters, so switching framer or features rebuilds it. Memory depends on the
longest file (its samples and frames), never on the size of the dataset. Silences longer than ``max_silence`` seconds
(the gaps between pieces) are cut short before framing (wavegen.audio.shorten_silences); that setting is a cache
parameter too. Per file the cache holds ``frames``
[n, frame_dim] plus the per-feature ``sum`` and ``sumsq`` (float64) of those stored frames, so the normalisation
statistics of any set of files are a sum over files, without another pass over the audio.
This module never imports torch.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.cache import Entry, SourceCache
from engine.errors import SourceError, UserError
from wavegen.audio import MAX_SILENCE, AudioReader, find_audio_files, shorten_silences
from wavegen.dataset import split_segments
from wavegen.framer import FrameSpec

FORMAT_VERSION = 2  # bump when the frame layout changes: every cached item is then rebuilt
MIN_STD = 1e-8  # floor of the per-feature standard deviation (features that never change)


def cache_params(spec: FrameSpec, max_silence: float | None) -> dict:
    """The parameters that fully determine a cached item (any change rebuilds the cache)."""
    return {"format": FORMAT_VERSION, **spec.params(), "max_silence": max_silence}


def process_file(path: Path, params: dict) -> tuple[dict[str, np.ndarray], dict]:
    """One audio file -> its float32 frames and the per-feature sum and sum of squares of those frames."""
    spec = FrameSpec.from_params(params)
    with AudioReader(path, spec.sample_rate) as audio:
        chunks = list(audio.chunks())
    if not all(np.isfinite(chunk).all() for chunk in chunks):  # checked before the FFT, which would warn about them
        raise SourceError("holds samples that are not finite (NaN or infinity)")
    samples = shorten_silences(np.concatenate(chunks), spec.sample_rate, params["max_silence"])
    if len(samples) < spec.frame_size:
        raise SourceError(f"shorter than one frame ({spec.frame_size} samples at {spec.sample_rate} Hz, "
                          f"{spec.frame_size / spec.sample_rate:.2f} s)")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # an overflow is reported below, in our words
        frames = spec.to_frames(samples)
        total, total_sq = frame_sums(frames)
    if not (np.isfinite(total).all() and np.isfinite(total_sq).all()):
        raise SourceError("holds samples too large to transform (far outside [-1, 1])")
    return {"frames": frames, "sum": total, "sumsq": total_sq}, {}


def frame_sums(frames: np.ndarray, rows: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature sum and sum of squares (float64) of ``frames``, a few rows at a time so memory stays flat."""
    total = np.zeros(frames.shape[1])
    total_sq = np.zeros(frames.shape[1])
    for start in range(0, len(frames), rows):
        part = np.asarray(frames[start:start + rows], dtype=np.float64)
        total += part.sum(axis=0)
        total_sq += np.einsum("ij,ij->j", part, part)
    return total, total_sq


@dataclass
class Prepared:
    """The usable cached files of a dataset, in a stable order."""

    cache: SourceCache
    entries: list[Entry]

    @property
    def spec(self) -> FrameSpec:
        return FrameSpec.from_params(self.cache.params)

    def frames(self) -> list[np.ndarray]:
        """Each file's frames, memory-mapped read-only."""
        return [self.cache.load(e, "frames") for e in self.entries]

    def normalisation(self, val_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature mean and standard deviation (float32) over the training frames of every usable file.

        The validation tails (``val_fraction``, split as the training windows split them) are left out, so the
        held-out frames do not leak into the statistics: each file's stored sums minus those of its tail.
        """
        _, held_out = split_segments(self.frames(), val_fraction)
        count = sum(e.arrays["frames"].shape[0] for e in self.entries) - sum(len(tail) for tail in held_out)
        total = sum(self.cache.load(e, "sum", mmap=False) for e in self.entries)
        total_sq = sum(self.cache.load(e, "sumsq", mmap=False) for e in self.entries)
        for tail in held_out:
            tail_sum, tail_sq = frame_sums(tail)
            total, total_sq = total - tail_sum, total_sq - tail_sq
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
        return mean.astype(np.float32), np.maximum(std, MIN_STD).astype(np.float32)


def prepare(dataset_dir: Path, cache_dir: Path, spec: FrameSpec, workers: int = 1, progress: bool = True,
            max_silence: float | None = MAX_SILENCE) -> Prepared:
    """Reconcile the cache in ``cache_dir`` with the audio in ``dataset_dir``; report what was used and skipped."""
    files = find_audio_files(dataset_dir)
    if not files:
        raise UserError(f"no audio files in {dataset_dir}/: copy your music there (.wav, .flac, .ogg, ...), "
                        "or run `music-composer --example`")
    cache = SourceCache(cache_dir, cache_params(spec, max_silence), process_file)
    report = cache.reconcile(files, dataset_dir, workers=workers, progress=progress)
    if report.rebuilt_manifest:
        print(f"rebuilt the cache in {cache_dir}/: {report.rebuilt_manifest}")
    for rel, reason in report.skipped:
        print(f"skipped {dataset_dir / rel}: {reason}", file=sys.stderr)
    entries = cache.usable()
    frames = sum(e.arrays["frames"].shape[0] for e in entries)
    print(f"preprocessing: {len(entries)} file(s) used ({report.summary()}); "
          f"{frames / spec.frames_per_second / 60:.1f} min of audio in {cache_dir}/ as {spec.describe()}", flush=True)
    if not entries:
        raise UserError(f"none of the {len(files)} audio file(s) in {dataset_dir}/ could be used (reasons above)")
    return Prepared(cache, entries)
