"""Blocks of samples <-> FFT frames: the features the model reads and writes.

A frame is the orthonormal rfft of one block: the real parts of every bin, then the imaginary parts of the bins whose
imaginary part is not always zero (not DC, not Nyquist). A real block's spectrum is Hermitian, so this holds exactly
the block's information in exactly ``block_size`` numbers, half the size of GRUV's full-FFT frames, and inverts
exactly.
"""
from __future__ import annotations

import numpy as np


def num_bins(block_size: int) -> int:
    """Number of rfft bins of a block (DC up to Nyquist)."""
    return block_size // 2 + 1


def num_imag(block_size: int) -> int:
    """Number of bins whose imaginary part can be non-zero (all but DC and, for even sizes, Nyquist)."""
    return (block_size - 1) // 2


def blocks_to_frames(blocks: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Frames of blocks along the last axis (float32 blocks give float32 frames), written into ``out`` if given."""
    block_size = blocks.shape[-1]
    spectrum = np.fft.rfft(blocks, axis=-1, norm="ortho")
    return np.concatenate([spectrum.real, spectrum.imag[..., 1:1 + num_imag(block_size)]], axis=-1, out=out)


def frames_to_blocks(frames: np.ndarray) -> np.ndarray:
    """Inverse of :func:`blocks_to_frames`: the blocks of samples the frames (last axis) describe."""
    block_size = frames.shape[-1]
    bins = num_bins(block_size)
    complex_dtype = np.complex64 if frames.dtype == np.float32 else np.complex128
    spectrum = np.zeros(frames.shape[:-1] + (bins,), dtype=complex_dtype)
    spectrum.real = frames[..., :bins]
    spectrum.imag[..., 1:1 + num_imag(block_size)] = frames[..., bins:]
    return np.fft.irfft(spectrum, n=block_size, axis=-1, norm="ortho")
