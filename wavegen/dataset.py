"""Training examples: windows of consecutive frames inside one file, read as views of the memory-mapped cache.

A window holds ``length + 1`` frames: the model reads the first ``length`` and predicts each next one, so the target
is the input shifted by one frame and no frame is stored twice. Windows start every ``stride`` frames and never
cross from one file into the next. Validation holds out the last ``val_fraction`` of every file (windows never
straddle the split), so it measures how well the model continues music it has not been trained on, deterministically,
for any number of files. This module never imports torch (the DataLoader turns the arrays into tensors).
"""
from __future__ import annotations

import numpy as np


def split_segments(files: list[np.ndarray], val_fraction: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per file: its first ``1 - val_fraction`` of frames for training, the rest for validation (views).

    A file too short to give both parts at least two frames goes to training whole.
    """
    train, val = [], []
    for frames in files:
        n_val = round(len(frames) * val_fraction)
        if n_val >= 2 and len(frames) - n_val >= 2:
            train.append(frames[:-n_val])
            val.append(frames[-n_val:])
        else:
            train.append(frames)
    return train, val


class Windows:
    """Normalised float32 windows [length + 1, frame_dim] over ``segments``, one every ``stride`` frames.

    ``length`` shrinks to fit the longest segment, so short recordings still give examples.
    """

    def __init__(self, segments: list[np.ndarray], length: int, stride: int, mean: np.ndarray, std: np.ndarray):
        self.segments = segments
        self.length = min(length, max((len(s) for s in segments), default=1) - 1)
        self.mean = mean
        self.std = std
        self.index = [(i, start) for i, segment in enumerate(segments)
                      for start in range(0, len(segment) - self.length, stride)] if self.length > 0 else []

    def __len__(self) -> int:
        return len(self.index)

    def raw(self, i: int) -> np.ndarray:
        """Window ``i`` as the cache holds it (not normalised): a view [length + 1, frame_dim]."""
        segment, start = self.index[i]
        return self.segments[segment][start:start + self.length + 1]

    def __getitem__(self, i: int) -> np.ndarray:
        return (self.raw(i).astype(np.float32) - self.mean) / self.std
