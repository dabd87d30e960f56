"""Content-hash cache of per-file preprocessing results, shared by the WAV and the MIDI pipelines.

A list of source files is reconciled against a manifest on every run: unchanged files are reused, new or changed
files are processed, removed files are dropped, and entries whose arrays are missing or damaged are rebuilt, so a
user never deletes the cache by hand. Each file's result is a set of named numpy arrays stored as .npy files
(memory-mappable) under a key made of the file's content hash and the processing parameters. Files that fail are
recorded with their reason, reported on every run, and retried only when they change. This module never imports
torch: preprocessing stays light.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from engine.atomic import write_json, write_npy
from engine.errors import SourceError

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
ITEMS_DIR = "items"
_SAVE_INTERVAL_S = 5.0

# process(path, params) -> (arrays, meta): named arrays to store and a JSON-able dict about the file.
ProcessFn = Callable[[Path, dict], "tuple[dict[str, np.ndarray], dict[str, Any]]"]


def file_digest(path: Path) -> str:
    """BLAKE2b hex digest of a file's bytes, read in chunks so memory stays flat."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def params_digest(params: dict) -> str:
    """Stable digest of the processing parameters: any change invalidates every cached item."""
    return hashlib.blake2b(json.dumps(params, sort_keys=True).encode(), digest_size=8).hexdigest()


@dataclass
class Entry:
    """One source file in the manifest: its identity, where its arrays are, or why it was skipped."""

    rel: str
    size: int
    mtime_ns: int
    digest: str
    arrays: dict[str, dict] = field(default_factory=dict)  # name -> {"file", "shape", "dtype"}
    meta: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ReconcileReport:
    """What one reconciliation did; ``skipped`` pairs each unusable file with its reason."""

    reused: list[str] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    rebuilt_manifest: str | None = None

    def summary(self) -> str:
        parts = [f"{len(self.reused)} reused", f"{len(self.processed)} processed"]
        if self.removed:
            parts.append(f"{len(self.removed)} removed")
        parts.append(f"{len(self.skipped)} skipped")
        return ", ".join(parts)


def _npy_matches(path: Path, shape: Sequence[int], dtype: str) -> bool:
    """True when ``path`` is a complete .npy file of the recorded shape and dtype (checks header and size)."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            file_shape, _, file_dtype = read_header(f)
            data_start = f.tell()
        expected = data_start + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        return (tuple(file_shape) == tuple(shape) and file_dtype == np.dtype(dtype)
                and path.stat().st_size == expected)
    except (OSError, ValueError):
        return False


def _process_and_store(process: ProcessFn, path: Path, params: dict, items_dir: Path,
                       key: str) -> tuple[dict[str, dict], dict[str, Any]] | str:
    """Run ``process`` on one file and write its arrays; return (array records, meta) or the reason it failed."""
    try:
        arrays, meta = process(path, params)
    except SourceError as e:
        return str(e)
    except Exception as e:  # a corrupt file may break a parser in any way; the batch must go on
        return f"{type(e).__name__}: {e}"
    records = {}
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        file_name = f"{key}.{name}.npy"
        write_npy(items_dir / file_name, array)
        records[name] = {"file": file_name, "shape": list(array.shape), "dtype": array.dtype.str}
    return records, meta


class SourceCache:
    """A folder holding the manifest and the arrays of every processed source file.

    ``params`` are the processing parameters (they must fully determine the output); ``process`` turns one file
    into arrays and must be a picklable module-level function when ``workers > 1``.
    """

    def __init__(self, cache_dir: str | os.PathLike, params: dict, process: ProcessFn):
        self.cache_dir = Path(cache_dir)
        self.items_dir = self.cache_dir / ITEMS_DIR
        self.params = params
        self.params_hash = params_digest(params)
        self.process = process
        self.entries: dict[str, Entry] = {}

    # ----------------------------------------------------------------------------------------------- manifest
    @property
    def manifest_path(self) -> Path:
        return self.cache_dir / MANIFEST_NAME

    def _load_manifest(self) -> str | None:
        """Read the manifest into ``self.entries``; return why it had to be discarded, or None."""
        self.entries = {}
        if not self.manifest_path.exists():
            return None
        try:
            data = json.loads(self.manifest_path.read_text())
            if data.get("version") != MANIFEST_VERSION:
                return "manifest version changed"
            if data.get("params_hash") != self.params_hash:
                return "preprocessing parameters changed"
            self.entries = {rel: Entry(rel=rel, **fields) for rel, fields in data["entries"].items()}
        except (OSError, ValueError, KeyError, TypeError) as e:
            self.entries = {}
            return f"manifest unreadable ({type(e).__name__})"
        return None

    def save_manifest(self) -> None:
        """Write the manifest atomically; arrays are always written before the entry that names them."""
        entries = {rel: {k: v for k, v in vars(e).items() if k != "rel"} for rel, e in sorted(self.entries.items())}
        write_json(self.manifest_path, {"version": MANIFEST_VERSION, "params": self.params,
                                        "params_hash": self.params_hash, "entries": entries})

    def _entry_intact(self, entry: Entry) -> bool:
        return all(_npy_matches(self.items_dir / r["file"], r["shape"], r["dtype"]) for r in entry.arrays.values())

    def _remove_garbage(self) -> None:
        """Delete array files that no manifest entry names (left by removed files or interrupted runs)."""
        if not self.items_dir.exists():
            return
        live = {r["file"] for e in self.entries.values() for r in e.arrays.values()}
        for path in self.items_dir.iterdir():
            if path.name not in live and not path.name.startswith("."):  # dot files: another writer's temps
                path.unlink(missing_ok=True)

    # ---------------------------------------------------------------------------------------------- reconcile
    def reconcile(self, sources: Sequence[Path], root: Path, workers: int = 1, progress: bool = True,
                  desc: str = "preprocessing") -> ReconcileReport:
        """Bring the cache in line with ``sources`` (paths under ``root``) and return what was done."""
        report = ReconcileReport(rebuilt_manifest=self._load_manifest())
        self.items_dir.mkdir(parents=True, exist_ok=True)
        root = Path(root)
        current = {p.relative_to(root).as_posix(): p for p in sorted(sources)}
        report.removed = sorted(set(self.entries) - set(current))
        for rel in report.removed:
            del self.entries[rel]

        todo: list[tuple[str, Path, os.stat_result, str]] = []
        for rel, path in current.items():
            st = path.stat()
            old = self.entries.get(rel)
            if old is not None and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
                digest = old.digest  # unchanged size and time: trust the recorded content hash, as git does
            else:
                digest = file_digest(path)
            if old is not None and old.digest == digest and (not old.ok or self._entry_intact(old)):
                old.size, old.mtime_ns = st.st_size, st.st_mtime_ns
                if old.ok:
                    report.reused.append(rel)
                else:
                    report.skipped.append((rel, old.error))
                continue
            todo.append((rel, path, st, digest))

        if todo:
            self._process_all(todo, workers, progress, desc, report)
        self.save_manifest()
        self._remove_garbage()
        return report

    def _process_all(self, todo: list, workers: int, progress: bool, desc: str, report: ReconcileReport) -> None:
        last_save = time.monotonic()

        def record(rel: str, st: os.stat_result, digest: str, outcome: Any) -> None:
            nonlocal last_save
            entry = Entry(rel=rel, size=st.st_size, mtime_ns=st.st_mtime_ns, digest=digest)
            if isinstance(outcome, str):
                entry.error = outcome
                report.skipped.append((rel, outcome))
            else:
                entry.arrays, entry.meta = outcome
                report.processed.append(rel)
            self.entries[rel] = entry
            if time.monotonic() - last_save > _SAVE_INTERVAL_S:  # an interrupted run keeps what it finished
                self.save_manifest()
                last_save = time.monotonic()

        bar = tqdm(total=len(todo), desc=desc, unit="file", disable=not progress, file=sys.stderr)
        keys = [f"{digest}-{self.params_hash}" for _, _, _, digest in todo]
        if workers <= 1 or len(todo) == 1:
            for (rel, path, st, digest), key in zip(todo, keys):
                record(rel, st, digest, _process_and_store(self.process, path, self.params, self.items_dir, key))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_process_and_store, self.process, path, self.params, self.items_dir, key)
                           for (_, path, _, _), key in zip(todo, keys)]
                for (rel, _, st, digest), future in zip(todo, futures):
                    record(rel, st, digest, future.result())
                    bar.update()
        bar.close()

    # ------------------------------------------------------------------------------------------------- access
    def usable(self) -> list[Entry]:
        """Entries with arrays, in a stable order (by relative path)."""
        return [e for _, e in sorted(self.entries.items()) if e.ok]

    def load(self, entry: Entry, name: str, mmap: bool = True) -> np.ndarray:
        """One stored array of ``entry``, memory-mapped read-only unless ``mmap`` is False."""
        return np.load(self.items_dir / entry.arrays[name]["file"], mmap_mode="r" if mmap else None)
