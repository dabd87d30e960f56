"""The metrics log appends rows (the CSV is rebuilt only for a new column), is made durable when the trainer
checkpoints, and is cut back to the checkpoint's step on resume."""
import contextlib
import csv
import io
import json
import os

from engine import metrics_log
from engine.metrics_log import MetricsLogger


def row(step: int, val_every: int = 4, grad_norm_from: int = 7) -> dict:
    """A training row; every ``val_every`` steps with validation, from ``grad_norm_from`` on with a new column."""
    r = {"step": step, "epoch": 1 + step // 5, "lr": 0.5 ** step, "train/loss": 1.0 / step}
    if step >= grad_norm_from:
        r["train/grad_norm"] = float(step)
    if step % val_every == 0:
        r.update({"val/loss": 2.0 / step, "val/mse": 3.0 / step})
    return r


def rewritten(rows: list[dict]) -> tuple[bytes, bytes]:
    """Both files as a full rewrite from all rows makes them: the CSV has the union of the columns, in order."""
    columns = list(dict.fromkeys(key for r in rows for key in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return "".join(json.dumps(r) + "\n" for r in rows).encode(), buffer.getvalue().encode()


def on_disk(run_dir) -> tuple[bytes, bytes]:
    return (run_dir / "metrics.jsonl").read_bytes(), (run_dir / "metrics.csv").read_bytes()


def test_appended_logs_equal_a_full_rewrite_also_after_a_resume_that_drops_the_tail(tmp_path):
    rows = [row(step) for step in range(1, 11)]
    log = MetricsLogger(tmp_path, tensorboard=False)
    for n, r in enumerate(rows, 1):
        log.log(r)
        assert on_disk(tmp_path) == rewritten(rows[:n])
    log.close()
    resumed = MetricsLogger(tmp_path, resume_step=6, tensorboard=False)  # the last val row and grad_norm dropped
    assert resumed.rows == rows[:6] and on_disk(tmp_path) == rewritten(rows[:6])
    more = [row(step, val_every=3, grad_norm_from=9) for step in range(7, 12)]
    for n, r in enumerate(more, 1):
        resumed.log(r)
        assert on_disk(tmp_path) == rewritten(rows[:6] + more[:n])


def test_rows_are_neither_synced_nor_rewritten_one_by_one(tmp_path, monkeypatch):
    fsyncs, rewrites = [], []
    real_fsync, real_atomic_path = os.fsync, metrics_log.atomic_path

    @contextlib.contextmanager
    def counted_atomic_path(target):
        rewrites.append(target)
        with real_atomic_path(target) as tmp:
            yield tmp

    monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(fd) or real_fsync(fd))
    monkeypatch.setattr(metrics_log, "atomic_path", counted_atomic_path)
    log = MetricsLogger(tmp_path, tensorboard=False)
    for step in range(1, 201):
        log.log(row(step, val_every=50, grad_norm_from=1000))
    assert len(rewrites) == 2  # the CSV's header: written with the first row, widened by the first val row
    assert len(fsyncs) == 4  # those two atomic rewrites, nothing per row
    log.sync()
    assert len(fsyncs) == 7  # both files and their folder
    assert on_disk(tmp_path) == rewritten(log.rows)


def test_a_line_torn_by_a_crash_ends_the_history_kept_on_resume(tmp_path):
    log = MetricsLogger(tmp_path, tensorboard=False)
    for step in range(1, 4):
        log.log(row(step))
    log.close()
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "epo')
    resumed = MetricsLogger(tmp_path, resume_step=10, tensorboard=False)
    assert resumed.rows == [row(step) for step in range(1, 4)]
    assert on_disk(tmp_path) == rewritten(resumed.rows)
