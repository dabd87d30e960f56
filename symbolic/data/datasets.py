"""Torch datasets over prepared MIDI windows, for the trainers of the symbolic models.

``prepare_dataset`` converts a folder (see symbolic.data.prepare); ``load_or_prepare`` takes what a training command is
given, a MIDI folder (prepared on the fly into a cache) or an already prepared folder; ``PreparedDataset.split``
serves one split as int64 tensors, optionally transposed at random for melody-type tracks.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.errors import UserError
from symbolic.data.converters import Converter, converter_from_spec
from symbolic.data.converters.events import MELODY_DEPTH, MELODY_OFF
from symbolic.data.prepare import PREPARED_NAME, PrepareResult, cache_params, open_prepared, prepare

FIRST_PITCH_CODE = MELODY_OFF + 1


class WindowDataset(Dataset):
    """The windows of one split as int64 tensors; the array is memory-mapped lazily (cheap to send to workers).

    With ``transpose`` = k > 0 each item is shifted by a random number of semitones in [-k, k] on the converter's
    melody-type tracks, drawn among the shifts that keep every note of the window within the 88 pitches; drum
    tracks are never shifted.
    """

    def __init__(self, path: Path, pitch_tracks: tuple[int, ...], transpose: int = 0):
        self.path = path
        self.pitch_tracks = list(pitch_tracks)
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
            window = self._transposed(window)
        return window

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
        if transpose and not self.converter.pitch_tracks:
            raise UserError(f"transposition needs melody-type tracks; the {self.converter.name} converter has none")
        path = self.result.split_path(name)
        if not path.exists():
            raise UserError(f"{path}: missing; prepare {self.result.output_dir} again")
        return WindowDataset(path, self.converter.pitch_tracks, transpose)


def prepare_dataset(converter: Converter, input_dir: str | os.PathLike, output_dir: str | os.PathLike,
                    workers: int | None = None, progress: bool = True) -> PreparedDataset:
    """Prepare (or bring up to date) ``output_dir`` from the MIDI files under ``input_dir``."""
    return PreparedDataset(prepare(converter, input_dir, output_dir, workers=workers, progress=progress))


def load_or_prepare(converter: Converter, examples_path: str | os.PathLike, cache_dir: str | os.PathLike,
                    workers: int | None = None, progress: bool = True) -> PreparedDataset:
    """A prepared folder (its converter must match; prepared by an older converter version, it is prepared again
    from its MIDI folder), or a MIDI folder prepared into ``cache_dir``. UserError when no file gives a window."""
    examples_path = Path(examples_path)
    if (examples_path / PREPARED_NAME).exists():
        dataset = PreparedDataset.open(examples_path)
        if dataset.result.spec != converter.spec():
            raise UserError(f"{examples_path} was prepared with {dataset.result.spec}, not {converter.spec()}; "
                            "prepare it again with this converter or pass the MIDI folder")
        if dataset.result.params != cache_params(converter):
            return _prepare_again(converter, dataset.result, workers, progress)
        dataset.result.check_usable()
        return dataset
    key = hashlib.blake2b(f"{examples_path.resolve()}|{sorted(converter.spec().items())}".encode(),
                          digest_size=6).hexdigest()
    return prepare_dataset(converter, examples_path, Path(cache_dir) / f"{converter.name}-{key}", workers, progress)


def _prepare_again(converter: Converter, stale: PrepareResult, workers: int | None,
                   progress: bool) -> PreparedDataset:
    """A folder prepared by an older converter or format, rebuilt in place from the MIDI folder it came from."""
    if stale.input_dir is None or not stale.input_dir.is_dir():
        raise UserError(f"{stale.output_dir} was prepared by an older version of the {converter.name} converter "
                        f"and its MIDI folder {stale.input_dir or '(not recorded)'} is gone; run `music-composer "
                        f"midi prepare --input MIDI_FOLDER --output {stale.output_dir}` again")
    return prepare_dataset(converter, stale.input_dir, stale.output_dir, workers, progress)
