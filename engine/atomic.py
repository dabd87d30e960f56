"""Atomic, durable file writes: write a temporary file in the same folder, fsync it, rename it over the target.

The fsync before the rename makes sure a power cut never leaves the target renamed but empty; the fsync of the
folder after it makes the rename itself survive one.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_path(path: str | os.PathLike, directory: bool = False) -> None:
    """Flush ``path`` to disk: a file's data, or the names a folder holds (folders cannot be opened, nor need
    this, on Windows)."""
    if directory and not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target``, on error it is removed.

    The caller writes the temporary file and closes it inside the block; the target then holds either the old
    content or the complete new one, also after a crash or a power cut.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        fsync_path(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes owner-only files; give the usual permissions
        os.replace(tmp_path, target)
        fsync_path(target.parent, directory=True)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(target: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as compact JSON (the fast encoder: manifests can hold many thousand entries), atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True))
