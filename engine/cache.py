"""Content-hash cache of per-file preprocessing results, shared by the WAV and the MIDI pipelines.

A list of source files is reconciled against a manifest on every run: unchanged files are reused, new or changed
files are processed, removed files are dropped, and entries whose arrays are missing or damaged are rebuilt, so a
user never deletes the cache by hand. Each file's result is a set of named numpy arrays, appended to shard files
under items/ and memory-mapped on load; the manifest keys them by the file's content hash and the processing
parameters. Files that fail are recorded with their reason, reported on every run, and retried only when they
change. A file's recorded hash is always that of the bytes that were processed: it is hashed just before processing
and recorded only if its stat is the same afterwards. One run at a time reconciles a cache (others wait for it).
Per-file limits keep one bad file from stalling a folder of many thousand: a file over the size limit is skipped
unread, and one whose processing outlasts the time limit has its worker process killed (a parser stuck in C code
ignores Python's signals) and is recorded as failed, the rest of its chunk going to a fresh worker.
The manifest is compact (lists, a table of shard names, shared metadata) and streamed to disk, so a folder of
50,000 files loads in a fraction of a second and holds a few hundred bytes per file in memory.
This module never imports torch: preprocessing stays light.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import math
import multiprocessing
import os
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from tqdm import tqdm

from engine.atomic import atomic_path, write_json
from engine.errors import SourceError
from engine.lock import exclusive_lock

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 3  # 3: compact rows; 2: ctime and time of the look recorded; 1 could pair arrays with a later hash
FIELDS = ("rel", "size", "mtime_ns", "ctime_ns", "checked_ns", "digest", "arrays", "meta", "error")  # one row
ITEMS_DIR = "items"
LOCK_NAME = ".cache.lock"
_SAVE_INTERVAL_S = 5.0
# A file whose mtime or ctime is this close to the moment its stat was taken may be rewritten within the same
# timestamp tick, leaving the stat unchanged: it is "racily clean" and is verified by content on the next run.
# 2 s covers the coarsest common granularity (FAT) and small clock differences.
_RACY_NS = 2_000_000_000
CHANGED_WHILE_PROCESSED = "changed while it was being processed (still being copied?); it is retried on the next run"
CHUNK_FILES = 64  # files per shard (and per job of a worker) at most

# process(path, params) -> (arrays, meta): named arrays to store and a JSON-able dict about the file.
ProcessFn = Callable[[Path, dict], "tuple[dict[str, np.ndarray], dict[str, Any]]"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: building or walking tens of thousands of entries (no cycles among
    them) would otherwise trigger full collections that rescan every one, a fifth of an unchanged rerun's time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def file_digest(path: str | os.PathLike) -> str:
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


class ArrayRecord(NamedTuple):
    """Where one stored array lies: its shard file under items/, byte offset, shape and dtype (numpy's ``str``).

    A tuple, not a dict: a manifest of many thousand files holds one per file."""

    file: str
    offset: int
    shape: tuple[int, ...]
    dtype: str

    @property
    def end(self) -> int:
        """The byte just past the array in its shard."""
        return self.offset + math.prod(self.shape) * _itemsize(self.dtype)  # math.prod: 10x np.prod here


@functools.cache
def _itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize


@dataclass(slots=True)
class Entry:
    """One source file in the manifest: its identity, where its arrays are, or why it was skipped (``meta`` may be
    shared between entries: never change it in place)."""

    rel: str
    size: int
    mtime_ns: int
    ctime_ns: int
    checked_ns: int  # wall-clock time just before the stat above was taken and the file hashed
    digest: str
    arrays: dict[str, ArrayRecord] = field(default_factory=dict)
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


def _process_chunk(process: ProcessFn, paths: list[str], params: dict, items_dir: Path, shard_name: str,
                   on_file: Callable[[int, tuple], None] | None = None) -> list:
    """Hash and process a chunk of files, appending their arrays to one shard file as they come.

    Returns per file either (checked_ns, stat key, digest, (array records, meta) or the reason it failed), or only
    a reason when it cannot be recorded at all (unreadable, or changed while it was processed). Each file is
    stat'ed and hashed right before processing and stat'ed again after, so a recorded digest is always that of the
    processed bytes; ``on_file(index, (checked_ns, stat key, digest))`` is told just before a file is processed.
    The shard appears under its final name only when complete, so a manifest entry never names missing bytes.
    """
    outcomes: list = []
    with atomic_path(items_dir / shard_name) as tmp, open(tmp, "wb") as shard:
        for index, path in enumerate(paths):
            try:
                checked_ns = time.time_ns()
                key, digest = _stat_key(os.stat(path)), file_digest(path)
            except OSError as e:
                outcomes.append(f"cannot be read ({e.strerror or type(e).__name__})")
                continue
            if on_file is not None:
                on_file(index, (checked_ns, key, digest))
            outcome = _run_process(process, Path(path), params)
            try:
                changed = _stat_key(os.stat(path)) != key
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
                    records[name] = ArrayRecord(shard_name, shard.tell(), array.shape, array.dtype.str)
                    shard.write(array.data)
                outcome = (records, meta)
            outcomes.append((checked_ns, key, digest, outcome))
    return outcomes


def _chunks(todo: list[tuple[str, str, int]], max_files: int, max_bytes: int) -> list[list]:
    """Consecutive groups of at most ``max_files`` files and about ``max_bytes`` of source data each."""
    chunks: list[list] = []
    size = 0
    for item in todo:
        if not chunks or len(chunks[-1]) >= max_files or size >= max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item[2]
    return chunks


def _worker_main(conn, process: ProcessFn, params: dict, items_dir: Path) -> None:
    """A worker process: takes (shard name, paths) jobs until None, says which file it starts, returns outcomes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    while (job := conn.recv()) is not None:
        shard_name, paths = job
        outcomes = _process_chunk(process, paths, params, items_dir, shard_name,
                                  on_file=lambda index, look: conn.send(("start", index, look)))
        conn.send(("done", outcomes))


class _Worker:
    """One worker process, the chunk it holds and the file of it that it is processing, with when it started."""

    def __init__(self, process: ProcessFn, params: dict, items_dir: Path):
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_worker_main, args=(child, process, params, items_dir),
                                               daemon=True)
        self.process.start()
        child.close()
        self.job: tuple[list, str] | None = None  # (chunk, shard name)
        self.file: tuple[int, tuple, float] | None = None  # (index in the chunk, look, monotonic start)

    def give(self, job: tuple[list, str]) -> None:
        chunk, shard_name = job
        self.job, self.file = job, None
        self.conn.send((shard_name, [path for _, path, _ in chunk]))

    def stop(self, kill: bool = False) -> None:
        """End the process: asked to finish (it is idle), or killed (stuck, or the run is interrupted)."""
        if not kill:
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


class SourceCache:
    """A folder holding the manifest and the arrays of every processed source file.

    ``params`` are the processing parameters (they must fully determine the output); ``process`` turns one file
    into arrays and must be a picklable module-level function when it runs in worker processes (``workers > 1`` or
    a ``time_limit``).
    """

    def __init__(self, cache_dir: str | os.PathLike, params: dict, process: ProcessFn):
        self.cache_dir = Path(cache_dir)
        self.items_dir = self.cache_dir / ITEMS_DIR
        self.params = params
        self.params_hash = params_digest(params)
        self.process = process
        self.entries: dict[str, Entry] = {}
        self._dirty = False  # entries differ from the manifest on disk

    # ----------------------------------------------------------------------------------------------- manifest
    @property
    def manifest_path(self) -> Path:
        return self.cache_dir / MANIFEST_NAME

    def load_manifest(self) -> str | None:
        """Read the manifest into ``self.entries``; return why it had to be discarded, or None."""
        self.entries, self._dirty = {}, False
        if not self.manifest_path.exists():
            return None
        try:
            with gc_paused():
                return self._read_manifest()
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
            self.entries = {}
            return f"manifest unreadable ({type(e).__name__})"

    def _read_manifest(self) -> str | None:
        """``load_manifest``'s reading: fills ``self.entries``, or says why the manifest is discarded."""
        data = json.loads(self.manifest_path.read_bytes())
        if data.get("version") != MANIFEST_VERSION:
            return "manifest version changed"
        if data.get("params_hash") != self.params_hash:
            return "preprocessing parameters changed"
        shards, metas = [sys.intern(name) for name in data["shards"]], data["metas"]
        for rel, size, mtime_ns, ctime_ns, checked_ns, digest, arrays, meta, error in data["entries"]:
            arrays = {name: ArrayRecord(shards[shard], offset, tuple(shape), sys.intern(dtype))
                      for name, (shard, offset, shape, dtype) in arrays.items()}
            self.entries[rel] = Entry(rel, size, mtime_ns, ctime_ns, checked_ns, digest, arrays, metas[meta], error)
        return None

    def save_manifest(self) -> None:
        """Write the manifest atomically, one row per line, streamed; arrays are always written before the entry that
        names them. Shard names and metadata are stored once and referred to by their index."""
        shards: dict[str, int] = {}
        metas: dict[str, int] = {}
        with atomic_path(self.manifest_path) as tmp, open(tmp, "w") as f:
            f.write(json.dumps({"version": MANIFEST_VERSION, "params": self.params, "params_hash": self.params_hash,
                                "fields": FIELDS})[:-1] + ',\n"entries": [')
            for i, (rel, e) in enumerate(sorted(self.entries.items())):
                arrays = {name: [shards.setdefault(r.file, len(shards)), r.offset, r.shape, r.dtype]
                          for name, r in e.arrays.items()}
                meta = metas.setdefault(json.dumps(e.meta, sort_keys=True), len(metas))
                f.write(("\n" if i == 0 else ",\n") + json.dumps(
                    [rel, e.size, e.mtime_ns, e.ctime_ns, e.checked_ns, e.digest, arrays, meta, e.error]))
            f.write('],\n"shards": ' + json.dumps(list(shards)) + ',\n"metas": [' + ",\n".join(metas) + "]}\n")
        self._dirty = False

    def _entry_intact(self, entry: Entry, shard_sizes: dict[str, int]) -> bool:
        """True when every array of ``entry`` lies inside its shard file (catches missing or truncated shards)."""
        for r in entry.arrays.values():
            if r.file not in shard_sizes:
                path = self.items_dir / r.file
                shard_sizes[r.file] = path.stat().st_size if path.is_file() else -1
            if shard_sizes[r.file] < r.end:
                return False
        return True

    def _remove_garbage(self) -> None:
        """Delete files in ``items/`` that no manifest entry names (left by removed files or interrupted runs).

        Runs under the cache lock after this run's writers finished, so temporary files there are a killed run's.
        """
        if not self.items_dir.exists():
            return
        live = {r.file for e in self.entries.values() for r in e.arrays.values()}
        for path in self.items_dir.iterdir():
            if path.name not in live:
                path.unlink(missing_ok=True)

    def _unchanged(self, entry: Entry, path: str, st: os.stat_result, checked_ns: int) -> bool:
        """True when ``path`` (its stat ``st`` taken just after ``checked_ns``) still holds the bytes ``entry`` was
        made from; then its recorded stat is refreshed."""
        key = _stat_key(st)
        if key == entry.stat_key and not entry.racy:
            return True  # same size and times, last seen safely after it changed: trust the hash, as git does
        try:
            if file_digest(path) != entry.digest:
                return False
        except OSError:
            return False  # processing it again reports why it cannot be read
        entry.size, entry.mtime_ns, entry.ctime_ns = key
        entry.checked_ns = checked_ns
        self._dirty = True
        return True

    # ---------------------------------------------------------------------------------------------- reconcile
    def reconcile(self, sources: Sequence[str | os.PathLike], root: str | os.PathLike, workers: int = 1,
                  progress: bool = True, desc: str = "preprocessing", time_limit: float | None = None,
                  size_limit: int | None = None) -> ReconcileReport:
        """Bring the cache in line with ``sources`` (paths under ``root``; strings cost less memory than Paths for
        a folder of many thousand files) and return what was done.

        A file over ``size_limit`` bytes is skipped unread; one whose processing takes over ``time_limit`` seconds
        is stopped and recorded as failed (retried when it changes, or under a larger limit). Holds the cache's
        lock throughout: a second run on the same cache waits, then finds the work done.
        """
        with exclusive_lock(self.cache_dir / LOCK_NAME, f"the cache in {self.cache_dir}", wait=True), gc_paused():
            return self._reconcile(sources, Path(root), workers, progress, desc, time_limit, size_limit)

    def _reconcile(self, sources: Sequence[str | os.PathLike], root: Path, workers: int, progress: bool, desc: str,
                   time_limit: float | None, size_limit: int | None) -> ReconcileReport:
        report = ReconcileReport(rebuilt_manifest=self.load_manifest())
        self._dirty = report.rebuilt_manifest is not None
        self.items_dir.mkdir(parents=True, exist_ok=True)
        prefix = len(os.path.join(str(root), ""))
        # Two parallel lists, not (rel, path) pairs: 64 bytes less per file, for folders of a hundred thousand.
        paths = sorted(map(os.fspath, sources), key=lambda path: path[prefix:].replace(os.sep, "/"))
        rels = [path[prefix:].replace(os.sep, "/") for path in paths]
        if self.entries:  # files gone since the last run
            report.removed = sorted(self.entries.keys() - set(rels))
        for rel in report.removed:
            del self.entries[rel]

        todo: list[tuple[str, str, int]] = []
        shard_sizes: dict[str, int] = {}
        for rel, path in zip(rels, paths):
            old = self.entries.get(rel)
            checked_ns = time.time_ns()
            try:
                st = os.stat(path)
            except OSError:
                todo.append((rel, path, 0))  # processing it reports why it cannot be read
                continue
            if size_limit is not None and st.st_size > size_limit:
                report.skipped.append((rel, f"too large: {st.st_size / 1e6:.1f} MB, over the {size_limit / 1e6:g} MB"
                                            f" limit"))
                if self.entries.pop(rel, None) is not None:
                    self._dirty = True
                continue
            if (old is not None and self._unchanged(old, path, st, checked_ns) and not _outgrown(old, time_limit)
                    and (not old.ok or self._entry_intact(old, shard_sizes))):
                if old.ok:
                    report.reused.append(rel)
                else:
                    report.skipped.append((rel, old.error))
                continue
            todo.append((rel, path, st.st_size))  # new, changed or damaged: hashed by the worker that processes it

        if todo:
            self._dirty = True
            self._process_all(todo, workers, progress, desc, report, time_limit)
        if self._dirty or report.removed:
            self.save_manifest()
        self._remove_garbage()
        return report

    def _process_all(self, todo: list, workers: int, progress: bool, desc: str, report: ReconcileReport,
                     time_limit: float | None) -> None:
        last_save, save_cost = time.monotonic(), 0.0
        metas: dict[str, dict] = {}  # equal metadata is one shared dict: memory stays small for many files

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
                arrays, meta = outcome
                entry.arrays = {name: r._replace(file=sys.intern(r.file), dtype=sys.intern(r.dtype))
                                for name, r in arrays.items()}
                entry.meta = metas.setdefault(json.dumps(meta, sort_keys=True), meta)
                report.processed.append(rel)
            if rel in timed_out:
                entry.meta = {"time_limit": time_limit}
            self.entries[rel] = entry
            self._dirty = True
            # An interrupted run keeps what it finished; saving never takes more than ~5% of the time.
            if time.monotonic() - last_save > max(_SAVE_INTERVAL_S, 20 * save_cost):
                started = time.monotonic()
                self.save_manifest()
                last_save = time.monotonic()
                save_cost = last_save - started

        # Files are processed in chunks, each writing one shard: small files (MIDI) then cost one file write per
        # chunk instead of one each, and large ones (audio) get a chunk of their own so an interrupt loses little.
        chunks = _chunks(todo, max_files=max(1, min(CHUNK_FILES, len(todo) // (4 * max(workers, 1)))),
                         max_bytes=4 << 20)
        bar = tqdm(total=len(todo), desc=desc, unit="file", disable=not progress, file=sys.stderr)
        timed_out: set[str] = set()

        def record_chunk(chunk: list, outcomes: list) -> None:
            for (rel, _, _), result in zip(chunk, outcomes):
                record(rel, result)
            bar.update(len(chunk))

        try:
            if workers <= 1 and time_limit is None:
                for chunk in chunks:
                    record_chunk(chunk, _process_chunk(self.process, [path for _, path, _ in chunk], self.params,
                                                       self.items_dir, self._shard_name()))
            else:
                self._process_in_workers(chunks, max(workers, 1), time_limit, record_chunk, timed_out)
        finally:
            bar.close()

    def _shard_name(self) -> str:
        return f"{self.params_hash}-{uuid.uuid4().hex}.bin"

    def _process_in_workers(self, chunks: list[list], workers: int, time_limit: float | None,
                            record_chunk: Callable[[list, list], None], timed_out: set[str]) -> None:
        """Chunks through worker processes. A file that outlasts ``time_limit`` (or whose worker dies) has its
        worker killed and is recorded as failed with the look its worker reported; the other files of its chunk
        go to a fresh worker (the killed worker's shard is never completed, so those before it are redone)."""
        queue = deque(chunks)
        pool = [_Worker(self.process, self.params, self.items_dir) for _ in range(min(workers, len(chunks)))]
        try:
            while queue or any(w.job for w in pool):
                for worker in pool:
                    if worker.job is None and queue:
                        worker.give((queue.popleft(), self._shard_name()))
                busy = [w for w in pool if w.job]
                now = time.monotonic()
                started = [w.file[2] for w in busy if w.file]
                timeout = None if time_limit is None or not started else max(0.0, min(started) + time_limit - now)
                for conn in wait([w.conn for w in busy], timeout):
                    worker = next(w for w in busy if w.conn is conn)
                    if not self._receive(worker, record_chunk):  # it died (a crash in C code, killed for memory)
                        self._replace(pool, worker, queue, record_chunk, timed_out, None)
                now = time.monotonic()
                for worker in busy:  # what it said since is read first: it may have moved on to the next file
                    if (time_limit is not None and worker.file and now - worker.file[2] > time_limit
                            and self._receive(worker, record_chunk) and worker.file
                            and now - worker.file[2] > time_limit):
                        self._replace(pool, worker, queue, record_chunk, timed_out, time_limit)
            for worker in pool:
                worker.stop()
        finally:
            for worker in pool:
                if worker.process.is_alive():
                    worker.stop(kill=True)

    @staticmethod
    def _receive(worker: _Worker, record_chunk: Callable[[list, list], None]) -> bool:
        """Take every message ``worker`` has sent (a file started, its chunk done); False when it has died."""
        try:
            while worker.job and worker.conn.poll():
                message = worker.conn.recv()
                if message[0] == "start":
                    worker.file = (message[1], message[2], time.monotonic())
                else:
                    chunk, _ = worker.job
                    worker.job = worker.file = None
                    record_chunk(chunk, message[1])
        except (EOFError, OSError):
            return False
        return True

    def _replace(self, pool: list[_Worker], worker: _Worker, queue: deque, record_chunk: Callable,
                 timed_out: set[str], time_limit: float | None) -> None:
        """Kill ``worker``, record the file it was on as failed (timed out, or its process died), queue the rest of
        its chunk first and start a fresh worker in its place."""
        worker.stop(kill=True)
        chunk, _ = worker.job
        pool[pool.index(worker)] = _Worker(self.process, self.params, self.items_dir)
        if worker.file is None:  # died before starting any file (while hashing): retry the chunk but its first
            index, result = 0, f"its worker process died (exit code {worker.process.exitcode})"
        else:
            index, look, _ = worker.file
            reason = (f"timeout: took longer than {time_limit:g} s to process" if time_limit is not None
                      else f"crashed: its worker process died (exit code {worker.process.exitcode})")
            result = (*look, reason)
            if time_limit is not None:
                timed_out.add(chunk[index][0])
        worker.job = worker.file = None
        record_chunk([chunk[index]], [result])
        if rest := chunk[:index] + chunk[index + 1:]:
            queue.appendleft(rest)


    # ------------------------------------------------------------------------------------------------- access
    def usable(self) -> list[Entry]:
        """Entries with arrays, in a stable order (by relative path)."""
        return [e for _, e in sorted(self.entries.items()) if e.ok]

    def load(self, entry: Entry, name: str, mmap: bool = True) -> np.ndarray:
        """One stored array of ``entry``, memory-mapped read-only unless ``mmap`` is False."""
        r = entry.arrays[name]
        count = math.prod(r.shape)
        path = self.items_dir / r.file
        if mmap and count > 0:
            return np.memmap(path, dtype=r.dtype, mode="r", offset=r.offset, shape=r.shape)
        return np.fromfile(path, dtype=r.dtype, count=count, offset=r.offset).reshape(r.shape)


def _outgrown(entry: Entry, time_limit: float | None) -> bool:
    """True when ``entry`` failed by timing out under a smaller limit than this run's: it is tried again."""
    limit = entry.meta.get("time_limit")
    return limit is not None and (time_limit is None or time_limit > limit)
