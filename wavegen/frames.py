"""Spectra <-> real frames, and the original tool's disjoint blocks <-> rfft frames.

A frame of a spectrum holds the real parts of every rfft bin, then the imaginary parts of the bins whose imaginary
part is not always zero (not DC, not Nyquist): a real signal's spectrum is Hermitian, so ``size`` real numbers hold
exactly the information of ``size`` samples. The ``blocks`` framer (wavegen.framer) makes one such frame per disjoint
block with the orthonormal rfft, as GRUV did with half the numbers; the ``complex`` STFT features use the same layout.
"""
from __future__ import annotations

import numpy as np


def num_bins(size: int) -> int:
    """Number of rfft bins of ``size`` samples (DC up to Nyquist)."""
    return size // 2 + 1


def num_imag(size: int) -> int:
    """Number of bins whose imaginary part can be non-zero (all but DC and, for even sizes, Nyquist)."""
    return (size - 1) // 2


def spectrum_to_frame(spectrum: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """rfft spectra of ``size`` samples (last axis) -> real frames of ``size`` numbers (into ``out`` if given)."""
    return np.concatenate([spectrum.real, spectrum.imag[..., 1:1 + num_imag(size)]], axis=-1, out=out)


def frame_to_spectrum(frames: np.ndarray) -> np.ndarray:
    """Inverse of :func:`spectrum_to_frame`: the complex rfft bins the frames (last axis) describe."""
    size = frames.shape[-1]
    bins = num_bins(size)
    dtype = np.complex64 if frames.dtype == np.float32 else np.complex128
    spectrum = np.zeros(frames.shape[:-1] + (bins,), dtype=dtype)
    spectrum.real = frames[..., :bins]
    spectrum.imag[..., 1:1 + num_imag(size)] = frames[..., bins:]
    return spectrum


def blocks_to_frames(blocks: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Frames of blocks along the last axis (float32 blocks give float32 frames), written into ``out`` if given."""
    return spectrum_to_frame(np.fft.rfft(blocks, axis=-1, norm="ortho"), blocks.shape[-1], out=out)


def frames_to_blocks(frames: np.ndarray) -> np.ndarray:
    """Inverse of :func:`blocks_to_frames`: the blocks of samples the frames (last axis) describe."""
    return np.fft.irfft(frame_to_spectrum(frames), n=frames.shape[-1], axis=-1, norm="ortho")
