"""SourceCache: reuse, add/change/remove reconciliation, damaged caches, bad files, parallel workers, races,
per-file time and size limits."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import engine.cache
from engine.cache import CHANGED_WHILE_PROCESSED, FIELDS, SourceCache
from engine.errors import SourceError

ROOT = Path(__file__).resolve().parents[2]
CALLS: list[str] = []
REWRITES: dict[str, str] = {}  # file name -> the text it gets while it is being processed


def parse_numbers(path: Path, params: dict) -> tuple[dict, dict]:
    """Toy processor: a text file of integers -> their array times ``scale``."""
    CALLS.append(path.name)
    text = path.read_text().strip()
    if not text:
        raise SourceError("empty file")
    values = np.array([int(v) for v in text.split()], dtype=np.float32) * params["scale"]
    return {"values": values}, {"n": len(values)}


def parse_then_rewrite(path: Path, params: dict) -> tuple[dict, dict]:
    """parse_numbers on a file that is still being copied: it gets its final content before processing ends."""
    try:
        return parse_numbers(path, params)
    finally:
        if path.name in REWRITES:
            path.write_text(REWRITES.pop(path.name))


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
    assert names == {cache.entries[r].arrays["values"].file for r in ("a.txt", "c.txt")}  # garbage removed


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
    shard = cache.items_dir / last.file
    shard.write_bytes(shard.read_bytes()[:-4])  # an interrupted write cuts the shard's last array short
    damaged = sorted(rel for rel, e in cache.entries.items() if e.arrays["values"].file == last.file
                     and e.arrays["values"].offset >= last.offset)
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
    reloaded = SourceCache(tmp_path / "cache", {"scale": 1.0}, parse_numbers)
    assert reloaded.load_manifest() is None and reloaded.entries["5.txt"].meta == {"n": 6}


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


@pytest.mark.parametrize("first, final", [("1 2", "1 2 3 4"), ("1 2", "3 4"), ("1 x", "1 2 3")],
                         ids=["grows", "same size", "corrupt at first"])
def test_file_rewritten_while_processed_is_processed_again(tmp_path, first, final):
    make_sources(tmp_path / "src", {"a.txt": "1", "late.txt": first})
    REWRITES["late.txt"] = final
    cache = SourceCache(tmp_path / "cache", {"scale": 1.0}, parse_then_rewrite)
    report = cache.reconcile(sorted((tmp_path / "src").glob("*.txt")), tmp_path / "src", progress=False)
    if len(first) != len(final):  # a same-size rewrite within the timestamp tick of the look keeps the stat
        assert dict(report.skipped)["late.txt"] == CHANGED_WHILE_PROCESSED and "late.txt" not in cache.entries
    cache, report = reconcile(tmp_path)
    assert report.processed == ["late.txt"] and report.reused == ["a.txt"]
    assert cache.load(cache.entries["late.txt"], "values").tolist() == [int(v) for v in final.split()]
    _, report = reconcile(tmp_path)
    assert sorted(report.reused) == ["a.txt", "late.txt"] and CALLS == []


def test_rewrite_keeping_size_and_mtime_is_detected(tmp_path):
    make_sources(tmp_path / "src", {"a.txt": "1 2"})
    reconcile(tmp_path)
    path = tmp_path / "src" / "a.txt"
    before = path.stat()
    path.write_text("3 4")  # what `cp -p` or `rsync -a` of another take of the same length does
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    cache, report = reconcile(tmp_path)
    assert report.processed == ["a.txt"] and cache.load(cache.entries["a.txt"], "values").tolist() == [3, 4]


def test_racily_clean_entry_is_verified_by_content_and_an_old_one_trusted(tmp_path, monkeypatch):
    make_sources(tmp_path / "src", {"old.txt": "1 2", "racy.txt": "5 6"})
    cache, _ = reconcile(tmp_path)
    racy = tmp_path / "src" / "racy.txt"
    before = racy.stat()
    racy.write_text("3 4")
    os.utime(racy, ns=(before.st_atime_ns, before.st_mtime_ns))
    # As if the rewrite fell in the timestamp tick the first run looked in: the whole stat (ctime too) unchanged.
    manifest = json.loads(cache.manifest_path.read_text())
    rows = {row[0]: row for row in manifest["entries"]}
    ctime, checked, mtime = (FIELDS.index(name) for name in ("ctime_ns", "checked_ns", "mtime_ns"))
    rows["racy.txt"][ctime], rows["racy.txt"][checked] = racy.stat().st_ctime_ns, before.st_mtime_ns
    old = rows["old.txt"]
    old[checked] = max(old[mtime], old[ctime]) + 3_000_000_000  # looked at well after it changed
    cache.manifest_path.write_text(json.dumps(manifest))
    hashed = []
    real_digest = engine.cache.file_digest
    monkeypatch.setattr(engine.cache, "file_digest", lambda path: hashed.append(Path(path).name) or real_digest(path))
    cache, report = reconcile(tmp_path)
    assert report.processed == ["racy.txt"] and report.reused == ["old.txt"] and "old.txt" not in hashed
    assert cache.load(cache.entries["racy.txt"], "values").tolist() == [3, 4]


def test_missing_source_is_skipped_with_its_reason(tmp_path):
    make_sources(tmp_path / "src", {"a.txt": "1"})
    cache = SourceCache(tmp_path / "cache", {"scale": 1.0}, parse_numbers)
    report = cache.reconcile([tmp_path / "src" / "a.txt", tmp_path / "src" / "gone.txt"], tmp_path / "src",
                             progress=False)
    assert report.processed == ["a.txt"]
    assert report.skipped == [("gone.txt", "cannot be read (No such file or directory)")]


def test_temporary_files_of_a_killed_run_are_removed(tmp_path):
    make_sources(tmp_path / "src", {"a.txt": "1"})
    cache, _ = reconcile(tmp_path)
    leftover = cache.items_dir / ".0123-abcd.bin.x1y2.tmp"
    leftover.write_bytes(b"half a shard")
    _, report = reconcile(tmp_path)
    assert report.reused == ["a.txt"] and not leftover.exists()


def parse_or_stall(path: Path, params: dict) -> tuple[dict, dict]:
    """parse_numbers, but a file reading "sleep S" stalls S seconds deaf to SIGTERM and SIGINT, as a converter stuck
    in C code is, and one reading "crash" ends its process."""
    text = path.read_text()
    if text.startswith("sleep"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        time.sleep(float(text.split()[1]))
        return {"values": np.zeros(1, dtype=np.float32)}, {}
    if text == "crash":
        os._exit(3)
    return parse_numbers(path, params)


def test_file_over_the_time_limit_is_stopped_named_and_the_rest_prepared(tmp_path):
    files = {f"{i:02d}.txt": f"{i}" for i in range(12)}
    files["04.txt"] = "sleep 60"  # the middle of a chunk of three (12 files, one worker): 03 before it, 05 after
    make_sources(tmp_path / "src", files)
    cache = SourceCache(tmp_path / "cache", {"scale": 1.0}, parse_or_stall)
    sources = sorted((tmp_path / "src").glob("*.txt"))
    started = time.monotonic()
    report = cache.reconcile(sources, tmp_path / "src", progress=False, time_limit=0.3)
    assert time.monotonic() - started < 20
    assert report.skipped == [("04.txt", "timeout: took longer than 0.3 s to process")]
    assert sorted(report.processed) == sorted(set(files) - {"04.txt"})
    assert all(cache.load(cache.entries[rel], "values").tolist() == [int(rel[:2])] for rel in report.processed)
    again = SourceCache(tmp_path / "cache", {"scale": 1.0}, parse_or_stall)
    started = time.monotonic()
    report = again.reconcile(sources, tmp_path / "src", progress=False, time_limit=0.3)
    assert time.monotonic() - started < 5  # recorded as failed: not tried again under the same limit
    assert report.skipped == [("04.txt", "timeout: took longer than 0.3 s to process")] and len(report.reused) == 11
    (tmp_path / "src" / "04.txt").write_text("sleep 0.5")
    report = again.reconcile(sources, tmp_path / "src", progress=False, time_limit=0.3)
    assert [rel for rel, _ in report.skipped] == ["04.txt"]
    report = again.reconcile(sources, tmp_path / "src", progress=False, time_limit=5)  # a larger limit retries it
    assert report.processed == ["04.txt"] and report.skipped == []


def test_file_over_the_size_limit_is_skipped_unread(tmp_path):
    make_sources(tmp_path / "src", {"a.txt": "1 2", "big.txt": "1 2 3 4 5 6 7 8 9", "b.txt": "3"})
    CALLS.clear()
    cache = SourceCache(tmp_path / "cache", {"scale": 1.0}, parse_numbers)
    report = cache.reconcile(sorted((tmp_path / "src").glob("*.txt")), tmp_path / "src", progress=False,
                             size_limit=10)
    assert report.skipped == [("big.txt", "too large: 0.0 MB, over the 1e-05 MB limit")]
    assert sorted(report.processed) == ["a.txt", "b.txt"] and "big.txt" not in CALLS + list(cache.entries)


def test_file_whose_worker_dies_is_named_and_the_rest_prepared(tmp_path):
    make_sources(tmp_path / "src", {"a.txt": "1", "b.txt": "crash", "c.txt": "3"})
    cache = SourceCache(tmp_path / "cache", {"scale": 1.0}, parse_or_stall)
    report = cache.reconcile(sorted((tmp_path / "src").glob("*.txt")), tmp_path / "src", workers=2, progress=False)
    assert report.skipped == [("b.txt", "crashed: its worker process died (exit code 3)")]
    assert sorted(report.processed) == ["a.txt", "c.txt"]


RECONCILE = """
import sys, time
from pathlib import Path
import numpy as np
from engine.cache import SourceCache

work, role = Path(sys.argv[1]), sys.argv[2]

def slow_parse(path, params):
    if role == "first" and not (work / "started").exists():
        (work / "started").touch()
        deadline = time.monotonic() + 60
        while not (work / "second-ready").exists() and time.monotonic() < deadline:  # the second run is starting
            time.sleep(0.01)
    time.sleep(0.05)
    return {"values": np.array([int(v) for v in path.read_text().split()], dtype=np.float32)}, {}

cache = SourceCache(work / "cache", {"scale": 1.0}, slow_parse)
if role == "second":
    (work / "second-ready").touch()
report = cache.reconcile(sorted((work / "src").glob("*.txt")), work / "src", progress=False)
for entry in cache.usable():
    assert cache.load(entry, "values").tolist() == [int(entry.rel[:2])] * 3, entry.rel
print(report.summary())
"""


def test_two_runs_on_one_cache_wait_for_each_other(tmp_path):
    make_sources(tmp_path / "src", {f"{i:02d}.txt": f"{i} {i} {i}" for i in range(20)})

    def start(role: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", RECONCILE, str(tmp_path), role], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})

    first = start("first")
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    second = start("second")
    try:
        (out1, err1), (out2, err2) = first.communicate(timeout=120), second.communicate(timeout=120)
    finally:
        first.kill()
        second.kill()
    assert (first.returncode, second.returncode) == (0, 0), err1 + err2
    assert out1.strip() == "0 reused, 20 processed, 0 skipped" and out2.strip() == "20 reused, 0 processed, 0 skipped"
    assert f"waiting for process {first.pid}, which is using the cache in {tmp_path / 'cache'}" in err2
    cache, report = reconcile(tmp_path)
    assert len(report.reused) == 20 and CALLS == []  # intact: nothing had to be rebuilt
    assert all(cache.load(e, "values").tolist() == [int(e.rel[:2])] * 3 for e in cache.usable())
