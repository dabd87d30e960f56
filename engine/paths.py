"""Checks made before any work starts that a run can write where it will: a folder flag must not name a file, and
the nearest existing ancestor of every output must be a writable folder. This module never imports torch."""
from __future__ import annotations

import os
from pathlib import Path

from engine.errors import UserError


def why_not_writable(path: Path) -> str | None:
    """Why files cannot be created at or under ``path``, or None: its nearest existing ancestor must be a
    writable folder (a path under a regular file fails for root too, unlike a read-only mode)."""
    existing = path
    while not os.path.lexists(existing) and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def check_writable(path: Path, what: str) -> None:
    """Raise a UserError naming ``what`` (the flag and its value) unless files can be written at ``path``."""
    problem = why_not_writable(path)
    if problem:
        raise UserError(f"cannot write {what}: {problem}")


def check_folder_or_absent(path: Path, flag: str) -> None:
    """A folder flag must not name an existing file (a missing folder is created)."""
    if os.path.lexists(path) and not path.is_dir():
        raise UserError(f"{flag} {path} is a file, not a folder; give a folder")


def check_writable_folder(folder: Path, flag: str) -> None:
    """An output folder flag: not a file, and a folder this process can create or write in."""
    check_folder_or_absent(folder, flag)
    check_writable(folder, f"{flag} {folder}")
