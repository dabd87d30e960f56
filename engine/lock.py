"""Exclusive locks between processes on one machine: a cache or a run dir used by one run at a time.

A lock is an ``flock`` on a small file that records the holder's PID. The kernel releases it when the holder exits,
however it exits, so a crashed run never leaves a stale lock behind; the file itself stays (deleting it would let
two runs lock two different files of the same name). This module never imports torch.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from engine.errors import UserError


def _holder(fd: int) -> str:
    """The PID the current holder wrote into the lock file, as text ("another process" if unreadable)."""
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return f"process {text}" if text.isdigit() else "another process"


@contextlib.contextmanager
def exclusive_lock(lock_path: str | os.PathLike, what: str, wait: bool = False,
                   hint: str = "wait for it to finish, or pass --wait") -> Iterator[None]:
    """Hold the lock at ``lock_path`` for the block; ``what`` names the locked thing in messages.

    If another process holds it: with ``wait``, say so on stderr and block until it is free; otherwise raise a
    UserError naming the holder's PID and ``hint``.
    """
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                raise UserError(f"{what} is in use by {holder}; {hint}") from None
            print(f"waiting for {holder}, which is using {what} ...", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
