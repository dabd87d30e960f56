"""Training log: console lines, metrics.jsonl + metrics.csv in the run folder, and TensorBoard when installed."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from tqdm import tqdm

from engine.atomic import atomic_path, fsync_path


class MetricsLogger:
    """Appends rows of scalar metrics; each row carries ``step`` and ``epoch``. Only the main process logs.

    Rows are appended to both files; the CSV is rewritten (atomically) only when a row brings a column its header
    lacks. Nothing is flushed to disk per row: :meth:`sync` does that when the trainer checkpoints.
    """

    def __init__(self, run_dir: str | Path, resume_step: int = 0, tensorboard: bool = True, enabled: bool = True):
        self.enabled = enabled
        self.run_dir = Path(run_dir)
        self.jsonl = self.run_dir / "metrics.jsonl"
        self.csv = self.run_dir / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []  # the CSV's header: every key of the rows, in order of first appearance
        self.writer = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.jsonl.exists():  # keep history up to the checkpoint we resume from, drop the interrupted tail
            self.rows = [r for r in self._read_jsonl() if r.get("step", 0) <= resume_step]
            self._rewrite()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=resume_step + 1)
            except ImportError:  # tensorboard is optional
                self.writer = None

    def log(self, row: dict[str, Any], console: str | None = None) -> None:
        """Record one row; print ``console`` above the progress bars if given."""
        if not self.enabled:
            return
        if console:
            tqdm.write(console)
        self.rows.append(row)
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        if set(row) <= set(self.columns):
            with open(self.csv, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.columns).writerow(row)
        else:
            self._write_csv()
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, row["step"])
            self.writer.flush()

    def sync(self) -> None:
        """Make the rows logged so far durable (the trainer calls this when it writes a checkpoint)."""
        if not self.enabled:
            return
        for path in (self.jsonl, self.csv):
            if path.exists():
                fsync_path(path)
        fsync_path(self.run_dir, directory=True)  # a file created by appending is in the folder once this is synced

    def close(self) -> None:
        """Sync the logs and close TensorBoard's writer."""
        self.sync()
        if self.writer is not None:
            self.writer.close()

    def _read_jsonl(self) -> list[dict[str, Any]]:
        """The logged rows, up to a line torn by a crash (rows are synced only at checkpoints)."""
        rows = []
        for line in filter(str.strip, self.jsonl.read_text().splitlines()):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
        return rows

    def _rewrite(self) -> None:
        with atomic_path(self.jsonl) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.rows))
        self._write_csv()

    def _write_csv(self) -> None:
        """Rewrite the CSV with the union of all columns seen so far (rows of different kinds share one file)."""
        self.columns = list(dict.fromkeys(key for row in self.rows for key in row))
        with atomic_path(self.csv) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
