"""Torch datasets over prepared MIDI windows, for the trainers of the symbolic models.

The torch view of what symbolic.data.prepare made (``prepare`` or ``load_or_prepare`` there decide where the windows
are): ``PreparedDataset.split`` serves one split as int64 tensors, optionally transposed at random for melody-type
tracks; ``prepare_dataset`` prepares a folder and opens it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.errors import UserError
from symbolic.data.chords import transpose_triads
from symbolic.data.converters import Converter, converter_from_spec
from symbolic.data.converters.events import MELODY_DEPTH, MELODY_OFF
from symbolic.data.prepare import PrepareResult, open_prepared, prepare

FIRST_PITCH_CODE = MELODY_OFF + 1


class WindowDataset(Dataset):
    """The windows of one split as int64 tensors; the array is memory-mapped lazily (cheap to send to workers).

    With ``transpose`` = k > 0 each item is shifted by a random number of semitones in [-k, k] on the converter's
    melody-type tracks, drawn among the shifts that keep every note of the window within the 88 pitches, and the
    roots of its chord tracks (triad classes) by the same shift; drum tracks are never shifted. A piano-roll window
    (``roll``) is shifted along its pitch axis, as far as keeps every note inside the roll.
    """

    def __init__(self, path: Path, pitch_tracks: tuple[int, ...], transpose: int = 0,
                 chord_tracks: tuple[int, ...] = (), roll: bool = False):
        self.path = path
        self.roll = roll  # piano-roll windows [..., pitches]: transposed by shifting along their last axis
        self.pitch_tracks = list(pitch_tracks)
        self.chord_tracks = list(chord_tracks)
        self.transpose = transpose
        self._windows: np.ndarray | None = None
        self._len = np.load(path, mmap_mode="r").shape[0]

    def __len__(self) -> int:
        return self._len

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_windows": None}

    def __getitem__(self, index: int) -> torch.Tensor:
        if self._windows is None:
            self._windows = np.load(self.path, mmap_mode="r")
        window = torch.from_numpy(self._windows[index].astype(np.int64))
        if self.transpose:
            window = self._rolled(window) if self.roll else self._transposed(window)
        return window

    def _rolled(self, window: torch.Tensor) -> torch.Tensor:
        """A piano-roll window shifted by a random number of semitones that keeps every note inside the roll."""
        sounding = window.flatten(0, -2).amax(dim=0).nonzero()
        if not len(sounding):
            return window
        pitches = window.shape[-1]
        low = max(-self.transpose, -int(sounding.min()))
        high = min(self.transpose, pitches - 1 - int(sounding.max()))
        shift = int(torch.randint(low, high + 1, ()))
        shifted = torch.zeros_like(window)
        shifted[..., max(shift, 0):pitches + min(shift, 0)] = window[..., max(-shift, 0):pitches - max(shift, 0)]
        return shifted

    def _transposed(self, window: torch.Tensor) -> torch.Tensor:
        """``window`` shifted by a random allowed number of semitones on its melody-type tracks."""
        codes = window[:, self.pitch_tracks]
        notes = codes[codes >= FIRST_PITCH_CODE]
        if not len(notes):
            return window
        low = max(-self.transpose, FIRST_PITCH_CODE - int(notes.min()))
        high = min(self.transpose, MELODY_DEPTH - 1 - int(notes.max()))
        shift = int(torch.randint(low, high + 1, ()))
        window[:, self.pitch_tracks] = torch.where(codes >= FIRST_PITCH_CODE, codes + shift, codes)
        if self.chord_tracks:
            window[:, self.chord_tracks] = torch.from_numpy(transpose_triads(window[:, self.chord_tracks].numpy(),
                                                                             shift))
        return window


class PreparedDataset:
    """A prepared folder: its converter, statistics and splits."""

    def __init__(self, result: PrepareResult):
        self.result = result
        self.converter = converter_from_spec(result.spec)

    @classmethod
    def open(cls, folder: str | os.PathLike) -> PreparedDataset:
        """A folder written by ``midi prepare`` or ``prepare_dataset``."""
        return cls(open_prepared(folder))

    def split(self, name: str, transpose: int = 0) -> WindowDataset:
        """One of "train", "validation", "test". Items are int64 tensors of the converter's window shape
        ([seq_len, n_tracks] for melody, drums, trio and notes). With fewer than 10 usable files every file is in
        train and validation and test are empty datasets (see ``result.note``)."""
        roll = self.converter.name == "pianoroll"
        if transpose and not (self.converter.pitch_tracks or roll):
            raise UserError(f"transposition needs pitches; the {self.converter.name} converter has none")
        path = self.result.split_path(name)
        if not path.exists():
            raise UserError(f"{path}: missing; prepare {self.result.output_dir} again")
        return WindowDataset(path, self.converter.pitch_tracks, transpose,
                             getattr(self.converter, "chord_tracks", ()), roll)


def prepare_dataset(converter: Converter, input_dir: str | os.PathLike, output_dir: str | os.PathLike,
                    workers: int | None = None, progress: bool = True) -> PreparedDataset:
    """Prepare (or bring up to date) ``output_dir`` from the MIDI files under ``input_dir``."""
    return PreparedDataset(prepare(converter, input_dir, output_dir, workers=workers, progress=progress))
