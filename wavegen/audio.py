"""Audio I/O: find audio files, stream them as mono float32 at a chosen rate (any rate, channels, subtype), shorten
the silences between pieces, write 44.1 kHz 16-bit WAVs."""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from engine.atomic import atomic_path
from engine.errors import SourceError

SAMPLE_RATE = 44100
# Extensions of the formats libsndfile reads, plus common aliases; RAW is left out (it needs its layout given).
AUDIO_EXTENSIONS = frozenset({fmt.lower() for fmt in sf.available_formats()} - {"raw"}
                             | {"aif", "aifc", "oga", "opus", "wave", "snd"})
_CHUNK_VALUES = 1 << 21  # samples (all channels) decoded at a time: bounds memory for files of any length
# Integer subtypes are decoded as integers and scaled in numpy: much faster than libsndfile's float conversion.
_INT_READ = {"PCM_S8": ("int16", 2.0 ** -15), "PCM_U8": ("int16", 2.0 ** -15), "PCM_16": ("int16", 2.0 ** -15),
             "PCM_24": ("int32", 2.0 ** -31), "PCM_32": ("int32", 2.0 ** -31)}
MAX_SILENCE = 0.25  # seconds kept of every longer silence (the gap between two pieces of one file)
SILENCE_DB = 50.0  # a stretch this far under a file's loudest moment is silent (well below the decay of a rest)
_SILENCE_BLOCK_S = 0.025  # the time resolution of silence detection
# libsndfile's text when a decoder (mpg123 for MP3) rejects the data of a file that does exist.
_MISLEADING_OPEN_ERROR = "File does not exist or is not a regular file"


def find_audio_files(folder: Path) -> list[Path]:
    """Audio files under ``folder`` (recursively, by extension, hidden entries skipped), sorted."""
    return sorted(p for p in folder.rglob("*")
                  if p.suffix[1:].lower() in AUDIO_EXTENSIONS and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


@contextlib.contextmanager
def quiet_decoders() -> Iterator[None]:
    """Discard what the C decoders under libsndfile (mpg123's notes and warnings) write straight to stderr.

    Our skip reasons say what failed; their lines would only clutter the console. Redirects file descriptor 2
    for the block, so keep it around library calls only. Without a stderr to redirect there is nothing to do.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def open_error(path: Path, error: RuntimeError) -> str:
    """Why libsndfile could not open ``path`` (which exists), in words that fit: not its file-is-missing text."""
    text = str(getattr(error, "error_string", error))
    if text.startswith(_MISLEADING_OPEN_ERROR):
        text = f"not valid {path.suffix[1:].upper() or 'audio'} data"
    return f"not readable as audio ({text})"


class AudioReader:
    """One audio file streamed as float32 mono at ``rate`` (channels averaged, resampled with soxr)."""

    def __init__(self, path: Path, rate: int = SAMPLE_RATE):
        if path.stat().st_size == 0:
            raise SourceError("empty file (0 bytes)")
        try:
            with quiet_decoders():
                self.file = sf.SoundFile(str(path))
        except RuntimeError as e:
            raise SourceError(open_error(path, e)) from e
        self.rate = rate

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        with quiet_decoders():
            self.file.close()

    def chunks(self) -> Iterator[np.ndarray]:
        """The whole file as consecutive float32 mono pieces of bounded size."""
        f = self.file
        resampler = (soxr.ResampleStream(f.samplerate, self.rate, 1, dtype="float32")
                     if f.samplerate != self.rate else None)
        frames_per_chunk = max(1, _CHUNK_VALUES // f.channels)
        read_dtype, scale = _INT_READ.get(f.subtype, ("float32", 1.0))
        while True:
            try:
                with quiet_decoders():
                    data = f.read(frames_per_chunk, dtype=read_dtype, always_2d=True)
            except RuntimeError as e:
                raise SourceError(f"damaged audio data ({getattr(e, 'error_string', e)})") from e
            last = len(data) < frames_per_chunk
            mono = data[:, 0].astype(np.float32)
            for channel in range(1, f.channels):
                mono += data[:, channel]
            mono *= np.float32(scale / f.channels)
            yield resampler.resample_chunk(mono, last=last) if resampler else mono
            if last:
                return

    def samples(self) -> np.ndarray:
        """The whole file as one float32 array."""
        return np.concatenate(list(self.chunks()))


def shorten_silences(samples: np.ndarray, rate: int, longest: float | None = MAX_SILENCE) -> np.ndarray:
    """``samples`` with every silent stretch longer than ``longest`` seconds cut to its first ``longest`` seconds
    (silent: 25 ms blocks SILENCE_DB under the file's loudest block); ``longest`` None keeps everything.

    The gaps between the pieces of an album or a rendered collection are not music. A model trained on them learns
    to fall silent and then wander, and in the held-out music they outweigh everything else the evaluation measures.
    """
    block = max(1, round(rate * _SILENCE_BLOCK_S))
    count = len(samples) // block
    if longest is None or count == 0:
        return samples
    blocks = samples[:count * block].reshape(count, block)
    power = np.einsum("ij,ij->i", blocks, blocks) / block
    if power.max() == 0.0:  # all silent: there are no pieces to bring together
        return samples
    silent = np.concatenate([[False], power <= power.max() * 10.0 ** (-SILENCE_DB / 10.0), [False]])
    edges = np.flatnonzero(np.diff(silent.astype(np.int8)))
    starts, ends = edges[0::2] * block, edges[1::2] * block  # each silent run, in samples
    keep = round(longest * rate)
    long_runs = ends - starts > keep
    if not long_runs.any():
        return samples
    cut_from, cut_to = starts[long_runs] + keep, ends[long_runs]
    pieces = np.split(samples, np.stack([cut_from, cut_to], axis=1).ravel())
    return np.concatenate(pieces[0::2])


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """``samples`` [..., n] at ``rate`` as float32 at ``new_rate`` (soxr; a no-op when the rates agree)."""
    if rate == new_rate:
        return samples.astype(np.float32, copy=False)
    flat = samples.reshape(-1, samples.shape[-1]).astype(np.float32)
    return np.stack([soxr.resample(row, rate, new_rate) for row in flat]).reshape(*samples.shape[:-1], -1)


def write_wav(path: Path, samples: np.ndarray) -> None:
    """Write mono float samples in [-1, 1] as a 44.1 kHz 16-bit WAV, atomically."""
    with atomic_path(path) as tmp:
        sf.write(str(tmp), samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")
