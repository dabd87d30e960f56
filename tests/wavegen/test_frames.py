"""rfft frames: exact size, real layout, and the block -> frame -> block round trip."""
import numpy as np
import pytest

from wavegen.frames import blocks_to_frames, frames_to_blocks


@pytest.mark.parametrize("block_size", [11025, 1024, 7, 2])
def test_round_trip_and_size(block_size):
    blocks = np.random.default_rng(0).uniform(-1, 1, (5, block_size)).astype(np.float32)
    frames = blocks_to_frames(blocks)
    assert frames.shape == blocks.shape and frames.dtype == np.float32
    assert np.abs(frames_to_blocks(frames) - blocks).max() < 1e-5


def test_layout_is_real_parts_then_imaginary_parts():
    block = np.random.default_rng(1).standard_normal(8)
    spectrum = np.fft.rfft(block, norm="ortho")
    frame = blocks_to_frames(block)
    np.testing.assert_allclose(frame[:5], spectrum.real)
    np.testing.assert_allclose(frame[5:], spectrum.imag[1:4])  # DC and Nyquist have no imaginary part
