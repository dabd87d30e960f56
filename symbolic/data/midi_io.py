"""Finding and reading MIDI files with symusic.

Every read error becomes a ``SourceError`` whose message starts with a short reason key ("corrupt: ...") and, from
``read_score``, names the file, so a batch job can skip the file, group its reason and go on.
"""
from __future__ import annotations

import os
from pathlib import Path

import symusic

from engine.errors import SourceError, UserError

MIDI_SUFFIXES = (".mid", ".midi", ".kar")


def find_midi_files(root: str | os.PathLike) -> list[Path]:
    """Every MIDI file (.mid .midi .kar in any letter case) under ``root``, recursively, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder of MIDI files")
    paths = (os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names
             if os.path.splitext(name)[1].lower() in MIDI_SUFFIXES)
    return [Path(path) for path in sorted(paths) if os.path.isfile(path)]


def load_score(path: str | os.PathLike) -> symusic.Score:
    """Parse one MIDI file with symusic (bytes read here: faster than symusic's own path handling).

    A SourceError gives the reason without the path ("corrupt: empty file (0 bytes)"): a batch job names the file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"unreadable: {e.strerror or e}") from e
    if not data:
        raise SourceError("corrupt: empty file (0 bytes)")
    try:
        return symusic.Score.from_midi(data)
    except RuntimeError as e:  # symusic reports every malformed file as a RuntimeError
        detail = str(e).removeprefix("MiniMidi: ").removesuffix(": iostream error")
        raise SourceError(f"corrupt: {detail}") from e


def read_score(path: str | os.PathLike) -> symusic.Score:
    """``load_score`` whose SourceError names the file after the reason key ("corrupt: PATH: detail")."""
    try:
        return load_score(path)
    except SourceError as e:
        key, detail = str(e).split(": ", 1)
        raise SourceError(f"{key}: {path}: {detail}") from e
