"""Preparing a MIDI dataset: every file of a folder through the shared content-hash cache, then packed splits.

Layout of a prepared folder: ``manifest.json`` and ``items/`` (engine.cache: one array of windows per file,
reconciled against the input folder on every run), ``splits/{train,validation,test}.npy`` (all windows of a split
in one memory-mappable array, rebuilt atomically only when the assignment of files to splits changes) and
``prepared.json`` (the converter spec and cache parameters, window counts, conversion counters, the reason every
skipped file was skipped and which of them could not be read). A file goes to a split by a hash of its relative
path (symbolic.data.splits), so the windows of one song never straddle splits. Files that cannot be read
(corrupt, not MIDI) are named in the summary; files skipped for their content (meter, too short, ...) are counted.
This module never imports torch.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_path, write_json
from engine.cache import Entry, ReconcileReport, SourceCache, gc_paused, params_digest
from engine.errors import UserError
from symbolic.data.converters import Converter, converter_from_spec
from symbolic.data.midi_io import load_score, midi_file_paths
from symbolic.data.splits import SPLITS, split_of
from symbolic.defaults import FILE_SIZE_LIMIT_MB, FILE_TIME_LIMIT_S

FORMAT_VERSION = 2  # bump when the cached items' layout changes (2: content skips are items), rebuilding every one
MIN_FILES_FOR_HELD_OUT = 10  # below this many usable files every file trains; validation and test stay empty
MAX_NAMED = 20  # unreadable files named in the summary; the rest are counted (all are in prepared.json)
PREPARED_NAME = "prepared.json"
SPLITS_DIR = "splits"


def cache_params(converter: Converter) -> dict[str, Any]:
    """The cache parameters: the converter spec, its version and the format version fully determine every item."""
    return {"format": FORMAT_VERSION, "converter": converter.spec(), "converter_version": converter.version}


_CONVERTERS: list[tuple[dict, Converter]] = []  # (spec, converter) built in this process, the latest first


def _converter(spec: dict) -> Converter:
    """The converter of ``spec``, built once per process (compared by value: cheaper than a key per file)."""
    for known, converter in _CONVERTERS:
        if known == spec:
            return converter
    _CONVERTERS.insert(0, (copy.deepcopy(spec), converter_from_spec(spec)))
    del _CONVERTERS[8:]
    return _CONVERTERS[0][1]


def process_file(path: Path, params: dict) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One MIDI file to its windows (worker side). A file that cannot be read raises SourceError; one that gives no
    window is an item without windows whose ``skip`` says why, so the summary can tell the two apart."""
    converter = _converter(params["converter"])
    result = converter.encode(load_score(path), str(path))
    meta = {"stats": {k: v for k, v in result.stats.items() if v}}
    if result.reason:
        meta["skip"] = result.reason
    return {"windows": result.windows}, meta


def reason_key(reason: str) -> str:
    """The grouping key of a skip reason: the text before its first colon ("corrupt", "meter", ...)."""
    return reason.split(":", 1)[0]


@dataclass
class PrepareResult:
    """A prepared folder: where each split's windows are, how many, and what was skipped and why."""

    output_dir: Path
    spec: dict[str, Any]
    files_found: int
    windows: dict[str, int]
    files: dict[str, int]
    skipped: dict[str, str]  # every skipped file (relative path) -> reason
    stats: dict[str, int]
    unreadable: list[str] = field(default_factory=list)  # the skipped files that could not be read, sorted
    input_dir: Path | None = None
    params: dict[str, Any] | None = None  # the cache parameters it was prepared with (None: before they were kept)
    note: str | None = None
    report: ReconcileReport | None = field(default=None, repr=False)
    # Per split, [relative path, windows] of each file in the order of its packed array (None: prepared before
    # this was kept).
    sources: dict[str, list[list]] | None = None

    def split_path(self, name: str) -> Path:
        """The packed array of one split."""
        if name not in SPLITS:
            raise UserError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return self.output_dir / SPLITS_DIR / f"{name}.npy"

    def window_sources(self, name: str) -> list[str]:
        """The relative path of the file each window of split ``name`` came from, in the packed order."""
        if self.sources is None:
            raise UserError(f"{self.output_dir} was prepared before the file of each window was recorded; run "
                            f"`music-composer midi prepare` on it again")
        return [rel for rel, count in self.sources[name] for _ in range(count)]

    def source_path(self, rel: str) -> Path | str:
        """Where a file of the input folder is, to name it to the user."""
        return self.input_dir / rel if self.input_dir else rel

    def unreadable_lines(self) -> list[str]:
        """Each unreadable file (up to ``MAX_NAMED``) with its reason, as the audio side names its skipped files."""
        lines = [f"skipped {self.source_path(rel)}: {self.skipped[rel]}" for rel in self.unreadable[:MAX_NAMED]]
        if len(self.unreadable) > MAX_NAMED:
            lines.append(f"and {len(self.unreadable) - MAX_NAMED} more unreadable files")
        return lines

    def summary(self) -> list[str]:
        """Lines for the end of a run: files read and used, one count per skip reason, windows per split."""
        used = sum(self.files.values())
        cache = f" (cache: {self.report.summary()})" if self.report else ""
        lines = [f"{self.files_found} MIDI files read: {used} used, {len(self.skipped)} skipped{cache}"]
        for key, count in Counter(reason_key(r) for r in self.skipped.values()).most_common():
            lines.append(f"  skipped ({key}): {count}")
        lines.append(f"{self.spec['kind']} windows: " + ", ".join(f"{s} {self.windows[s]}" for s in SPLITS)
                     + " (files: " + ", ".join(f"{s} {self.files[s]}" for s in SPLITS) + ")")
        if self.note:
            lines.append(self.note)
        if self.skipped:
            lines.append(f"reason for every skipped file: {self.output_dir / PREPARED_NAME}")
        return lines

    def check_usable(self) -> None:
        """Raise a UserError naming the folder and the commonest skip reasons when no file gave a window."""
        if sum(self.files.values()):
            return
        by_key: dict[str, list[str]] = {}
        for rel, reason in self.skipped.items():
            by_key.setdefault(reason_key(reason), []).append(rel)
        commonest = sorted(by_key.items(), key=lambda item: -len(item[1]))[:3]
        reasons = ", ".join(f"{key} ({len(rels)}, e.g. {rels[0]})" for key, rels in commonest)
        raise UserError(f"{self.input_dir or self.output_dir}: none of the {self.files_found} MIDI files gave a "
                        f"{self.spec['kind']} window; commonest reasons: {reasons or 'none recorded'}; "
                        f"every file's reason: {self.output_dir / PREPARED_NAME}")


def _assign_splits(entries: list[Entry]) -> tuple[dict[str, list[Entry]], str | None]:
    """Usable entries by split; with too few files all of them train (and a note says so)."""
    if len(entries) < MIN_FILES_FOR_HELD_OUT:
        note = (f"only {len(entries)} usable files (< {MIN_FILES_FOR_HELD_OUT}): all of them are in train; "
                "validation and test are empty") if entries else None
        return {"train": entries, "validation": [], "test": []}, note
    by_split = {name: [] for name in SPLITS}
    for entry in entries:
        by_split[split_of(entry.rel)].append(entry)
    return by_split, None


def _fingerprint(params: dict, by_split: dict[str, list[Entry]]) -> str:
    """Identity of the packed splits: which file content went to which split, under which parameters."""
    content = [params_digest(params)] + [[name, e.rel, e.digest] for name in SPLITS for e in by_split[name]]
    return hashlib.blake2b(json.dumps(content).encode(), digest_size=16).hexdigest()


def _write_split(cache: SourceCache, entries: list[Entry], target: Path, shape: tuple, dtype: np.dtype) -> None:
    """Concatenate the windows of ``entries`` into one .npy, streamed file by file (flat memory), atomically."""
    records = [e.arrays["windows"] for e in entries]
    if any(r.shape[1:] != shape or np.dtype(r.dtype) != dtype for r in records):
        raise ValueError(f"cached windows do not match the converter's {shape} {dtype}")
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": (sum(r.shape[0] for r in records), *shape)}
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        np.lib.format.write_array_header_2_0(f, header)
        for entry in entries:
            f.write(cache.load(entry, "windows", mmap=False).data)


def _packs_intact(result: PrepareResult, shape: tuple) -> bool:
    """True when every split array exists with the recorded number of windows."""
    try:
        return all(np.load(result.split_path(s), mmap_mode="r").shape == (result.windows[s], *shape) for s in SPLITS)
    except (OSError, ValueError):
        return False


def open_prepared(output_dir: str | os.PathLike) -> PrepareResult:
    """A folder written by ``prepare`` (UserError when it is not one)."""
    output_dir = Path(output_dir)
    try:
        data = json.loads((output_dir / PREPARED_NAME).read_text())
        input_dir = data.get("input_dir")
        return PrepareResult(output_dir=output_dir, spec=data["converter"], files_found=data["files_found"],
                             windows=data["windows"], files=data["files"], skipped=data["skipped"],
                             stats=data["stats"], unreadable=data.get("unreadable", []),
                             input_dir=Path(input_dir) if input_dir else None, params=data.get("params"),
                             note=data.get("note"), sources=data.get("sources"))
    except FileNotFoundError:
        raise UserError(f"{output_dir}: not a prepared MIDI dataset (no {PREPARED_NAME})") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{output_dir / PREPARED_NAME}: unreadable ({type(e).__name__}: {e}); prepare again") from e


@gc_paused()  # tens of thousands of entries are walked and none form cycles
def prepare(converter: Converter, input_dir: str | os.PathLike, output_dir: str | os.PathLike,
            workers: int | None = None, progress: bool = True, time_limit: float | None = FILE_TIME_LIMIT_S,
            size_limit_mb: float | None = FILE_SIZE_LIMIT_MB) -> PrepareResult:
    """Convert every MIDI file under ``input_dir`` into ``output_dir``, reusing what is already there.

    A file over ``size_limit_mb`` or taking over ``time_limit`` seconds to convert is skipped (None: no limit).
    Names the unreadable and the skipped-by-limit files on stderr; raises UserError (after writing
    ``prepared.json``, which holds every file's reason) when no file gives a window.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if output_dir.resolve() == input_dir.resolve():
        raise UserError(f"{output_dir}: the prepared dataset needs its own folder, not the MIDI folder")
    files = midi_file_paths(input_dir)
    if not files:
        raise UserError(f"{input_dir}: no MIDI files (.mid .midi .kar) found")
    params = cache_params(converter)
    cache = SourceCache(output_dir, params, process_file)
    workers = workers or os.cpu_count() or 1
    report = cache.reconcile(files, root=input_dir, workers=workers, progress=progress,
                             desc=f"preparing {converter.name} windows", time_limit=time_limit,
                             size_limit=None if size_limit_mb is None else round(size_limit_mb * 1e6))
    converted = cache.usable()
    usable = [e for e in converted if "skip" not in e.meta]
    unreadable = dict(report.skipped)  # the cache's failures: unreadable, over a limit, or changed meanwhile
    skipped = {e.rel: e.meta["skip"] for e in converted if "skip" in e.meta} | unreadable
    by_split, note = _assign_splits(usable)
    fingerprint = _fingerprint(params, by_split)
    stats = Counter()
    for entry in usable:
        stats.update(entry.meta["stats"])
    result = PrepareResult(output_dir=output_dir, spec=converter.spec(), files_found=len(files),
                           windows={s: sum(e.arrays["windows"].shape[0] for e in by_split[s]) for s in SPLITS},
                           files={s: len(by_split[s]) for s in SPLITS}, skipped=dict(sorted(skipped.items())),
                           stats=dict(sorted(stats.items())), unreadable=sorted(unreadable), input_dir=input_dir,
                           params=params, note=note, report=report,
                           sources={s: [[e.rel, e.arrays["windows"].shape[0]] for e in by_split[s]]
                                    for s in SPLITS})
    previous = _previous_fingerprint(output_dir)
    if previous != fingerprint or not _packs_intact(result, converter.window_shape):
        for name in SPLITS:
            _write_split(cache, by_split[name], result.split_path(name), converter.window_shape,
                         np.dtype(converter.dtype))
    write_json(output_dir / PREPARED_NAME, {
        "format": FORMAT_VERSION, "converter": result.spec, "params": params, "fingerprint": fingerprint,
        "input_dir": str(input_dir.resolve()), "files_found": result.files_found, "windows": result.windows,
        "files": result.files, "skipped": result.skipped, "unreadable": result.unreadable, "stats": result.stats,
        "note": note, "sources": result.sources})
    for line in result.unreadable_lines():  # on stderr, where the audio side names its skipped files
        print(line, file=sys.stderr)
    result.check_usable()
    return result


def _previous_fingerprint(output_dir: Path) -> str | None:
    """The fingerprint of the packs already in ``output_dir``, if any."""
    try:
        return json.loads((output_dir / PREPARED_NAME).read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def load_or_prepare(converter: Converter, examples_path: str | os.PathLike, cache_dir: str | os.PathLike,
                    workers: int | None = None, progress: bool = True) -> PrepareResult:
    """What a command is given as examples, prepared: a prepared folder (its converter must match; prepared by an
    older converter version, it is prepared again from its MIDI folder), or a MIDI folder prepared into a folder of
    ``cache_dir`` named by its path and converter. UserError when no file gives a window."""
    examples_path = Path(examples_path)
    if (examples_path / PREPARED_NAME).exists():
        result = open_prepared(examples_path)
        if result.spec != converter.spec():
            raise UserError(f"{examples_path} was prepared with {result.spec}, not {converter.spec()}; "
                            "prepare it again with this converter or pass the MIDI folder")
        if result.params != cache_params(converter):
            return _prepare_again(converter, result, workers, progress)
        result.check_usable()
        return result
    key = hashlib.blake2b(f"{examples_path.resolve()}|{sorted(converter.spec().items())}".encode(),
                          digest_size=6).hexdigest()
    return prepare(converter, examples_path, Path(cache_dir) / f"{converter.name}-{key}", workers, progress)


def _prepare_again(converter: Converter, stale: PrepareResult, workers: int | None,
                   progress: bool) -> PrepareResult:
    """A folder prepared by an older converter or format, rebuilt in place from the MIDI folder it came from."""
    if stale.input_dir is None or not stale.input_dir.is_dir():
        raise UserError(f"{stale.output_dir} was prepared by an older version of the {converter.name} converter "
                        f"and its MIDI folder {stale.input_dir or '(not recorded)'} is gone; run `music-composer "
                        f"midi prepare --input MIDI_FOLDER --output {stale.output_dir}` again")
    return prepare(converter, stale.input_dir, stale.output_dir, workers, progress)
