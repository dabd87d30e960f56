"""The train_data/ cache: every audio file's FFT frames (float32, memory-mappable) and normalisation sums.

Built on engine.cache.SourceCache, so each run reconciles the cache with the dataset folder by content hash (new and
changed files processed, removed ones dropped, damaged entries rebuilt, unreadable files skipped with a reason). Files
are streamed: memory depends on the longest file's frames, never on the size of the dataset. Per file the cache holds
``frames`` [n, block_size] plus the per-feature ``sum`` and ``sumsq`` (float64) of those stored frames, so the
normalisation statistics of any set of files are a sum over files, without another pass over the audio.
This module never imports torch.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.cache import Entry, SourceCache
from engine.errors import SourceError, UserError
from wavegen.audio import SAMPLE_RATE, AudioReader, find_audio_files
from wavegen.dataset import split_segments
from wavegen.frames import blocks_to_frames

FORMAT_VERSION = 1  # bump when the frame layout changes: every cached item is then rebuilt
MIN_STD = 1e-8  # floor of the per-feature standard deviation (features that never change)


def cache_params(block_size: int) -> dict:
    """The parameters that fully determine a cached item (any change rebuilds the cache)."""
    return {"format": FORMAT_VERSION, "sample_rate": SAMPLE_RATE, "block_size": block_size}


def process_file(path: Path, params: dict) -> tuple[dict[str, np.ndarray], dict]:
    """One audio file -> its float32 frames and the per-feature sum and sum of squares of those frames."""
    block_size = params["block_size"]
    total = np.zeros(block_size)
    total_sq = np.zeros(block_size)
    with AudioReader(path) as audio:
        frames = np.empty((audio.expected_samples // block_size, block_size), dtype=np.float32)
        count = 0
        for blocks in audio.blocks(block_size):
            if not np.isfinite(blocks).all():  # checked before the FFT, which would warn about them
                raise SourceError("holds samples that are not finite (NaN or infinity)")
            if count + len(blocks) > len(frames):  # the header announced less audio than the file holds
                frames = np.concatenate([frames[:count], np.empty_like(blocks)])
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below, in our words
                new = blocks_to_frames(blocks, out=frames[count:count + len(blocks)])
                block_sum, block_sq = frame_sums(new)
            total += block_sum
            total_sq += block_sq
            count += len(new)
    if count == 0:
        raise SourceError(f"shorter than one block ({block_size} samples, {block_size / SAMPLE_RATE:.2f} s)")
    if not np.isfinite(total).all():
        raise SourceError("holds samples too large to transform (far outside [-1, 1])")
    return {"frames": frames[:count], "sum": total, "sumsq": total_sq}, {}


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
    def block_size(self) -> int:
        return self.cache.params["block_size"]

    def frames(self) -> list[np.ndarray]:
        """Each file's frames, memory-mapped read-only."""
        return [self.cache.load(e, "frames") for e in self.entries]

    def normalisation(self, val_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature mean and standard deviation (float32) over the training frames of every usable file.

        The validation tails (``val_fraction``, split as the training windows split them) are left out, so the
        held-out frames do not leak into the statistics: each file's stored sums minus those of its tail.
        """
        _, held_out = split_segments(self.frames(), val_fraction)
        count = sum(e.arrays["frames"]["shape"][0] for e in self.entries) - sum(len(tail) for tail in held_out)
        total = sum(self.cache.load(e, "sum", mmap=False) for e in self.entries)
        total_sq = sum(self.cache.load(e, "sumsq", mmap=False) for e in self.entries)
        for tail in held_out:
            tail_sum, tail_sq = frame_sums(tail)
            total, total_sq = total - tail_sum, total_sq - tail_sq
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
        return mean.astype(np.float32), np.maximum(std, MIN_STD).astype(np.float32)


def prepare(dataset_dir: Path, cache_dir: Path, block_size: int, workers: int = 1,
            progress: bool = True) -> Prepared:
    """Reconcile the cache in ``cache_dir`` with the audio in ``dataset_dir``; report what was used and skipped."""
    files = find_audio_files(dataset_dir)
    if not files:
        raise UserError(f"no audio files in {dataset_dir}/: copy your music there (.wav, .flac, .ogg, ...), "
                        "or run `music-composer --example`")
    cache = SourceCache(cache_dir, cache_params(block_size), process_file)
    report = cache.reconcile(files, dataset_dir, workers=workers, progress=progress)
    if report.rebuilt_manifest:
        print(f"rebuilt the cache in {cache_dir}/: {report.rebuilt_manifest}")
    for rel, reason in report.skipped:
        print(f"skipped {dataset_dir / rel}: {reason}", file=sys.stderr)
    entries = cache.usable()
    frames = sum(e.arrays["frames"]["shape"][0] for e in entries)
    print(f"preprocessing: {len(entries)} file(s) used ({report.summary()}); "
          f"{frames * block_size / SAMPLE_RATE / 60:.1f} min of audio in {cache_dir}/", flush=True)
    if not entries:
        raise UserError(f"none of the {len(files)} audio file(s) in {dataset_dir}/ could be used (reasons above)")
    return Prepared(cache, entries)
