"""SourceCache: reuse, add/change/remove reconciliation, damaged caches, bad files, parallel workers."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.cache import SourceCache
from engine.errors import SourceError

CALLS: list[str] = []


def parse_numbers(path: Path, params: dict) -> tuple[dict, dict]:
    """Toy processor: a text file of integers -> their array times ``scale``."""
    CALLS.append(path.name)
    text = path.read_text().strip()
    if not text:
        raise SourceError("empty file")
    values = np.array([int(v) for v in text.split()], dtype=np.float32) * params["scale"]
    return {"values": values}, {"n": len(values)}


def make_sources(folder: Path, files: dict[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return sorted(folder.glob("*.txt"))


def reconcile(tmp_path: Path, scale: float = 1.0, workers: int = 1):
    CALLS.clear()
    cache = SourceCache(tmp_path / "cache", {"scale": scale}, parse_numbers)
    report = cache.reconcile(sorted((tmp_path / "src").glob("*.txt")), tmp_path / "src", workers=workers,
                             progress=False)
    return cache, report


def test_first_run_processes_and_second_run_reuses(tmp_path):
    make_sources(tmp_path / "src", {"a.txt": "1 2 3", "b.txt": "4 5"})
    cache, report = reconcile(tmp_path)
    assert sorted(report.processed) == ["a.txt", "b.txt"] and CALLS
    assert cache.load(cache.entries["a.txt"], "values").tolist() == [1, 2, 3]
    cache, report = reconcile(tmp_path)
    assert sorted(report.reused) == ["a.txt", "b.txt"] and report.processed == [] and CALLS == []


def test_add_change_remove_are_reconciled(tmp_path):
    make_sources(tmp_path / "src", {"a.txt": "1 2 3", "b.txt": "4 5"})
    reconcile(tmp_path)
    (tmp_path / "src" / "b.txt").unlink()
    (tmp_path / "src" / "a.txt").write_text("7 8 9 10")
    (tmp_path / "src" / "c.txt").write_text("6")
    cache, report = reconcile(tmp_path)
    assert sorted(report.processed) == ["a.txt", "c.txt"] and report.removed == ["b.txt"]
    assert sorted(cache.entries) == ["a.txt", "c.txt"]
    assert cache.load(cache.entries["a.txt"], "values").tolist() == [7, 8, 9, 10]
    names = {p.name for p in cache.items_dir.iterdir()}
    assert names == {cache.entries[r].arrays["values"]["file"] for r in ("a.txt", "c.txt")}  # garbage removed


def test_touched_but_unchanged_file_is_not_reprocessed(tmp_path):
    make_sources(tmp_path / "src", {"a.txt": "1 2"})
    reconcile(tmp_path)
    os.utime(tmp_path / "src" / "a.txt", ns=(1, 1))
    _, report = reconcile(tmp_path)
    assert report.reused == ["a.txt"] and CALLS == []


def test_parameter_change_rebuilds(tmp_path):
    make_sources(tmp_path / "src", {"a.txt": "1 2"})
    reconcile(tmp_path)
    cache, report = reconcile(tmp_path, scale=2.0)
    assert report.processed == ["a.txt"] and "parameters changed" in report.rebuilt_manifest
    assert cache.load(cache.entries["a.txt"], "values").tolist() == [2, 4]


def test_truncated_shard_and_corrupt_manifest_are_rebuilt(tmp_path):
    make_sources(tmp_path / "src", {f"{i}.txt": "1 2 3" for i in range(8)})
    cache, _ = reconcile(tmp_path)
    last = cache.entries["7.txt"].arrays["values"]
    shard = cache.items_dir / last["file"]
    shard.write_bytes(shard.read_bytes()[:-4])  # an interrupted write cuts the shard's last array short
    damaged = sorted(rel for rel, e in cache.entries.items() if e.arrays["values"]["file"] == last["file"]
                     and e.arrays["values"]["offset"] >= last["offset"])
    cache, report = reconcile(tmp_path)
    assert report.processed == damaged == ["7.txt"] and len(report.reused) == 7
    assert cache.load(cache.entries["7.txt"], "values").tolist() == [1, 2, 3]
    make_sources(tmp_path / "src", {"a.txt": "1 2 3", "b.txt": "4 5"})
    for path in (tmp_path / "src").glob("[0-9].txt"):
        path.unlink()
    cache.manifest_path.write_text('{"version": 1, "entr')
    _, report = reconcile(tmp_path)
    assert sorted(report.processed) == ["a.txt", "b.txt"] and "unreadable" in report.rebuilt_manifest


def test_bad_file_is_skipped_with_reason_and_not_retried_until_changed(tmp_path):
    make_sources(tmp_path / "src", {"a.txt": "1", "empty.txt": "", "junk.txt": "x y"})
    cache, report = reconcile(tmp_path)
    reasons = dict(report.skipped)
    assert reasons["empty.txt"] == "empty file" and "ValueError" in reasons["junk.txt"]
    assert [e.rel for e in cache.usable()] == ["a.txt"]
    _, report = reconcile(tmp_path)
    assert dict(report.skipped)["empty.txt"] == "empty file" and CALLS == []
    (tmp_path / "src" / "empty.txt").write_text("3")
    _, report = reconcile(tmp_path)
    assert report.processed == ["empty.txt"] and [r for r, _ in report.skipped] == ["junk.txt"]


def test_parallel_workers_match_serial(tmp_path):
    make_sources(tmp_path / "src", {f"{i}.txt": " ".join(map(str, range(i + 1))) for i in range(6)})
    cache, report = reconcile(tmp_path, workers=2)
    assert len(report.processed) == 6
    assert cache.load(cache.entries["5.txt"], "values").tolist() == list(range(6))
    manifest = json.loads(cache.manifest_path.read_text())
    assert manifest["entries"]["5.txt"]["meta"] == {"n": 6}


def test_manifest_never_names_missing_arrays_after_interrupt(tmp_path, monkeypatch):
    make_sources(tmp_path / "src", {"a.txt": "1", "b.txt": "2"})

    def explode(path, params):
        if path.name == "b.txt":
            raise KeyboardInterrupt
        return parse_numbers(path, params)

    cache = SourceCache(tmp_path / "cache", {"scale": 1.0}, explode)
    monkeypatch.setattr("engine.cache._SAVE_INTERVAL_S", 0.0)
    with pytest.raises(KeyboardInterrupt):
        cache.reconcile(sorted((tmp_path / "src").glob("*.txt")), tmp_path / "src", progress=False)
    _, report = reconcile(tmp_path)
    assert report.reused == ["a.txt"] and report.processed == ["b.txt"]
