"""Content-hash cache of per-file preprocessing results, shared by the WAV and the MIDI pipelines.

A list of source files is reconciled against a manifest on every run: unchanged files are reused, new or changed
files are processed, removed files are dropped, and entries whose arrays are missing or damaged are rebuilt, so a
user never deletes the cache by hand. Each file's result is a set of named numpy arrays, appended to shard files
under items/ and memory-mapped on load; the manifest keys them by the file's content hash and the processing
parameters. Files that fail are recorded with their reason, reported on every run, and retried only when they
change. A file's recorded hash is always that of the bytes that were processed: it is hashed just before processing
and recorded only if its stat is the same afterwards. One run at a time reconciles a cache (others wait for it).
This module never imports torch: preprocessing stays light.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from engine.atomic import atomic_path, write_json
from engine.errors import SourceError
from engine.lock import exclusive_lock

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 2  # 2: ctime and time of the look recorded; version 1 could pair arrays with a later hash
ITEMS_DIR = "items"
LOCK_NAME = ".cache.lock"
_SAVE_INTERVAL_S = 5.0
# A file whose mtime or ctime is this close to the moment its stat was taken may be rewritten within the same
# timestamp tick, leaving the stat unchanged: it is "racily clean" and is verified by content on the next run.
# 2 s covers the coarsest common granularity (FAT) and small clock differences.
_RACY_NS = 2_000_000_000
CHANGED_WHILE_PROCESSED = "changed while it was being processed (still being copied?); it is retried on the next run"

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


def _stat_key(st: os.stat_result) -> tuple[int, int, int]:
    """What a file's stat must keep for its content to be trusted unchanged; ctime catches `cp -p` and `touch -d`."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


@dataclass
class Entry:
    """One source file in the manifest: its identity, where its arrays are, or why it was skipped."""

    rel: str
    size: int
    mtime_ns: int
    ctime_ns: int
    checked_ns: int  # wall-clock time just before the stat above was taken and the file hashed
    digest: str
    arrays: dict[str, dict] = field(default_factory=dict)  # name -> {"file", "shape", "dtype"}
    meta: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def stat_key(self) -> tuple[int, int, int]:
        return self.size, self.mtime_ns, self.ctime_ns

    @property
    def racy(self) -> bool:
        """True when the file changed so shortly before it was hashed that a later write could keep its stat."""
        return max(self.mtime_ns, self.ctime_ns) >= self.checked_ns - _RACY_NS


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


def _run_process(process: ProcessFn, path: Path, params: dict) -> tuple[dict[str, np.ndarray], dict[str, Any]] | str:
    """``process`` on one file, or the reason it failed as text."""
    try:
        return process(path, params)
    except SourceError as e:
        return str(e)
    except Exception as e:  # a corrupt file may break a parser in any way; the batch must go on
        return f"{type(e).__name__}: {e}"


def _process_chunk(process: ProcessFn, paths: list[Path], params: dict, items_dir: Path, shard_name: str) -> list:
    """Hash and process a chunk of files, appending their arrays to one shard file as they come.

    Returns per file either (checked_ns, stat key, digest, (array records, meta) or the reason it failed), or only
    a reason when it cannot be recorded at all (unreadable, or changed while it was processed). Each file is
    stat'ed and hashed right before processing and stat'ed again after, so a recorded digest is always that of the
    processed bytes. The shard appears under its final name only when complete, so a manifest entry never names
    missing bytes.
    """
    outcomes: list = []
    with atomic_path(items_dir / shard_name) as tmp, open(tmp, "wb") as shard:
        for path in paths:
            try:
                checked_ns = time.time_ns()
                key, digest = _stat_key(path.stat()), file_digest(path)
            except OSError as e:
                outcomes.append(f"cannot be read ({e.strerror or type(e).__name__})")
                continue
            outcome = _run_process(process, path, params)
            try:
                changed = _stat_key(path.stat()) != key
            except OSError:
                changed = True
            if changed:
                outcomes.append(CHANGED_WHILE_PROCESSED)
                continue
            if not isinstance(outcome, str):
                arrays, meta = outcome
                records = {}
                for name, array in arrays.items():
                    array = np.ascontiguousarray(array)
                    records[name] = {"file": shard_name, "offset": shard.tell(), "shape": list(array.shape),
                                     "dtype": array.dtype.str}
                    shard.write(array.data)
                outcome = (records, meta)
            outcomes.append((checked_ns, key, digest, outcome))
    return outcomes


def _chunks(todo: list[tuple[str, Path]], max_files: int, max_bytes: int) -> list[list]:
    """Consecutive groups of at most ``max_files`` files and about ``max_bytes`` of source data each."""
    chunks: list[list] = []
    size = 0
    for item in todo:
        if not chunks or len(chunks[-1]) >= max_files or size >= max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        with contextlib.suppress(OSError):  # an unreadable file is reported by the worker that meets it
            size += item[1].stat().st_size
    return chunks


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

    def _entry_intact(self, entry: Entry, shard_sizes: dict[str, int]) -> bool:
        """True when every array of ``entry`` lies inside its shard file (catches missing or truncated shards)."""
        for r in entry.arrays.values():
            if r["file"] not in shard_sizes:
                path = self.items_dir / r["file"]
                shard_sizes[r["file"]] = path.stat().st_size if path.is_file() else -1
            end = r["offset"] + int(np.prod(r["shape"], dtype=np.int64)) * np.dtype(r["dtype"]).itemsize
            if shard_sizes[r["file"]] < end:
                return False
        return True

    def _remove_garbage(self) -> None:
        """Delete files in ``items/`` that no manifest entry names (left by removed files or interrupted runs).

        Runs under the cache lock after this run's writers finished, so temporary files there are a killed run's.
        """
        if not self.items_dir.exists():
            return
        live = {r["file"] for e in self.entries.values() for r in e.arrays.values()}
        for path in self.items_dir.iterdir():
            if path.name not in live:
                path.unlink(missing_ok=True)

    def _unchanged(self, entry: Entry, path: Path) -> bool:
        """True when ``path`` still holds the bytes ``entry`` was made from; then its recorded stat is refreshed."""
        checked_ns = time.time_ns()
        try:
            key = _stat_key(path.stat())
            if key == entry.stat_key and not entry.racy:
                return True  # same size and times, last seen safely after it changed: trust the hash, as git does
            if file_digest(path) != entry.digest:
                return False
        except OSError:
            return False  # processing it again reports why it cannot be read
        entry.size, entry.mtime_ns, entry.ctime_ns = key
        entry.checked_ns = checked_ns
        return True

    # ---------------------------------------------------------------------------------------------- reconcile
    def reconcile(self, sources: Sequence[Path], root: Path, workers: int = 1, progress: bool = True,
                  desc: str = "preprocessing") -> ReconcileReport:
        """Bring the cache in line with ``sources`` (paths under ``root``) and return what was done.

        Holds the cache's lock throughout: a second run on the same cache waits, then finds the work done.
        """
        with exclusive_lock(self.cache_dir / LOCK_NAME, f"the cache in {self.cache_dir}", wait=True):
            return self._reconcile(sources, Path(root), workers, progress, desc)

    def _reconcile(self, sources: Sequence[Path], root: Path, workers: int, progress: bool,
                   desc: str) -> ReconcileReport:
        report = ReconcileReport(rebuilt_manifest=self._load_manifest())
        self.items_dir.mkdir(parents=True, exist_ok=True)
        current = {p.relative_to(root).as_posix(): p for p in sorted(sources)}
        report.removed = sorted(set(self.entries) - set(current))
        for rel in report.removed:
            del self.entries[rel]

        todo: list[tuple[str, Path]] = []
        shard_sizes: dict[str, int] = {}
        for rel, path in current.items():
            old = self.entries.get(rel)
            if old is not None and self._unchanged(old, path) and (not old.ok or self._entry_intact(old, shard_sizes)):
                if old.ok:
                    report.reused.append(rel)
                else:
                    report.skipped.append((rel, old.error))
                continue
            todo.append((rel, path))  # new, changed or damaged: hashed by the worker that processes it

        if todo:
            self._process_all(todo, workers, progress, desc, report)
        self.save_manifest()
        self._remove_garbage()
        return report

    def _process_all(self, todo: list, workers: int, progress: bool, desc: str, report: ReconcileReport) -> None:
        last_save, save_cost = time.monotonic(), 0.0

        def record(rel: str, result: tuple | str) -> None:
            nonlocal last_save, save_cost
            if isinstance(result, str):  # nothing trustworthy to record: the next run tries the file again
                self.entries.pop(rel, None)
                report.skipped.append((rel, result))
                return
            checked_ns, (size, mtime_ns, ctime_ns), digest, outcome = result
            entry = Entry(rel=rel, size=size, mtime_ns=mtime_ns, ctime_ns=ctime_ns, checked_ns=checked_ns,
                          digest=digest)
            if isinstance(outcome, str):
                entry.error = outcome
                report.skipped.append((rel, outcome))
            else:
                entry.arrays, entry.meta = outcome
                report.processed.append(rel)
            self.entries[rel] = entry
            # An interrupted run keeps what it finished; saving never takes more than ~5% of the time.
            if time.monotonic() - last_save > max(_SAVE_INTERVAL_S, 20 * save_cost):
                started = time.monotonic()
                self.save_manifest()
                last_save = time.monotonic()
                save_cost = last_save - started

        # Files are processed in chunks, each writing one shard: small files (MIDI) then cost one file write per
        # chunk instead of one each, and large ones (audio) get a chunk of their own so an interrupt loses little.
        chunks = _chunks(todo, max_files=max(1, min(64, len(todo) // (4 * max(workers, 1)))), max_bytes=4 << 20)
        shard_names = [f"{self.params_hash}-{uuid.uuid4().hex}.bin" for _ in chunks]
        bar = tqdm(total=len(todo), desc=desc, unit="file", disable=not progress, file=sys.stderr)

        def record_chunk(chunk: list, outcomes: list) -> None:
            for (rel, _), result in zip(chunk, outcomes):
                record(rel, result)
            bar.update(len(chunk))

        if workers <= 1 or len(chunks) == 1:
            for chunk, shard_name in zip(chunks, shard_names):
                record_chunk(chunk, _process_chunk(self.process, [path for _, path in chunk],
                                                   self.params, self.items_dir, shard_name))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                pending: dict = {}  # a few chunks in flight at a time: memory does not grow with the file count
                jobs = iter(zip(chunks, shard_names))

                def submit_next() -> None:
                    job = next(jobs, None)
                    if job is not None:
                        chunk, shard_name = job
                        future = pool.submit(_process_chunk, self.process, [path for _, path in chunk],
                                             self.params, self.items_dir, shard_name)
                        pending[future] = chunk

                for _ in range(2 * workers):
                    submit_next()
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        record_chunk(pending.pop(future), future.result())
                        submit_next()
        bar.close()

    # ------------------------------------------------------------------------------------------------- access
    def usable(self) -> list[Entry]:
        """Entries with arrays, in a stable order (by relative path)."""
        return [e for _, e in sorted(self.entries.items()) if e.ok]

    def load(self, entry: Entry, name: str, mmap: bool = True) -> np.ndarray:
        """One stored array of ``entry``, memory-mapped read-only unless ``mmap`` is False."""
        r = entry.arrays[name]
        shape, dtype = tuple(r["shape"]), np.dtype(r["dtype"])
        count = int(np.prod(shape, dtype=np.int64))
        path = self.items_dir / r["file"]
        if mmap and count > 0:
            return np.memmap(path, dtype=dtype, mode="r", offset=r["offset"], shape=shape)
        return np.fromfile(path, dtype=dtype, count=count, offset=r["offset"]).reshape(shape)
