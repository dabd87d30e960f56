"""Re-implementation of the old (Keras, GRUV-based) music-composer's preprocessing, for side-by-side timing.

It reproduces the old script's ``folder2examples`` path step by step, in our own code: every ``*.wav`` in the folder
is read with ``scipy.io.wavfile``, converted to float64 and divided by 32767, its right channel kept, and appended to
one long float64 signal (``np.concatenate`` per file); the signal is cut into Python lists of 11025-sample blocks (the
last one zero-padded); the targets are the blocks shifted by one clip of 4 blocks (the old code's offset, zero blocks
appended); non-overlapping clips of 4 blocks are copied one block at a time into float64 arrays X and Y; the mean and
the standard deviation per sample position are computed over X, both arrays are normalised in place, and X, Y, mean
and std are saved as .npy files. There is no FFT: the old tool trained on time-domain blocks.

    python scripts/bench_wavegen_reference.py DATASET_DIR CACHE_DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.io.wavfile

SAMPLE_RATE = 44100
BLOCK_SIZE = round(SAMPLE_RATE / 4)
BLOCKS_IN_CLIP = round(SAMPLE_RATE * 1 / BLOCK_SIZE)


def read_right_channel(path: Path) -> np.ndarray:
    """The old ``wav2ndarray`` + channel drop: float64 in [-1, 1], right channel only."""
    _, data = scipy.io.wavfile.read(path)
    return (data.astype(np.float64) / 32767.0)[:, 1]


def to_blocks(signal: np.ndarray, block_size: int) -> list[np.ndarray]:
    """Cut ``signal`` into a list of blocks, zero-padding the last one."""
    blocks = []
    for start in range(0, signal.shape[0], block_size):
        block = signal[start:start + block_size]
        if block.shape[0] < block_size:
            block = np.concatenate((block, np.zeros(block_size - block.shape[0])))
        blocks.append(block)
    return blocks


def preprocess(dataset: Path, cache: Path) -> int:
    """Build the old cache (examples_x/y/mean/var.npy) from every WAV in ``dataset``; return the example count."""
    long_wav = np.array([])
    for path in sorted(dataset.glob("*.wav")):
        long_wav = np.concatenate((long_wav, read_right_channel(path)), axis=0)
    blocks_x = to_blocks(long_wav, BLOCK_SIZE)
    blocks_y = blocks_x[BLOCKS_IN_CLIP:] + [np.zeros(BLOCK_SIZE) for _ in range(BLOCKS_IN_CLIP)]
    clips_x, clips_y = [], []
    current = 0
    while current + BLOCKS_IN_CLIP < len(blocks_x):
        clips_x.append(blocks_x[current:current + BLOCKS_IN_CLIP])
        clips_y.append(blocks_y[current:current + BLOCKS_IN_CLIP])
        current += BLOCKS_IN_CLIP
    x_data = np.zeros((len(clips_x), BLOCKS_IN_CLIP, BLOCK_SIZE))
    y_data = np.zeros((len(clips_x), BLOCKS_IN_CLIP, BLOCK_SIZE))
    for n in range(len(clips_x)):
        for i in range(BLOCKS_IN_CLIP):
            x_data[n][i] = clips_x[n][i]
            y_data[n][i] = clips_y[n][i]
    mean_x = np.mean(np.mean(x_data, axis=0), axis=0)
    std_x = np.sqrt(np.mean(np.mean(np.abs(x_data - mean_x) ** 2, axis=0), axis=0))
    std_x = np.maximum(1.0e-8, std_x)
    x_data[:][:] -= mean_x
    x_data[:][:] /= std_x
    y_data[:][:] -= mean_x
    y_data[:][:] /= std_x
    cache.mkdir(parents=True, exist_ok=True)
    np.save(cache / "examples_mean", mean_x)
    np.save(cache / "examples_var", std_x)
    np.save(cache / "examples_x", x_data)
    np.save(cache / "examples_y", y_data)
    return len(clips_x)


if __name__ == "__main__":
    print(f"{preprocess(Path(sys.argv[1]), Path(sys.argv[2]))} examples", file=sys.stderr)
