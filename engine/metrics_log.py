"""Training log: console lines, metrics.jsonl + metrics.csv in the run folder, and TensorBoard when installed."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tqdm import tqdm

from engine.atomic import atomic_path


class MetricsLogger:
    """Appends rows of scalar metrics; each row carries ``step`` and ``epoch``. Only the main process logs."""

    def __init__(self, run_dir: str | Path, resume_step: int = 0, tensorboard: bool = True, enabled: bool = True):
        self.enabled = enabled
        self.run_dir = Path(run_dir)
        self.jsonl = self.run_dir / "metrics.jsonl"
        self.csv = self.run_dir / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        self.writer = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.jsonl.exists():  # keep history up to the checkpoint we resume from, drop the interrupted tail
            rows = [json.loads(line) for line in self.jsonl.read_text().splitlines() if line.strip()]
            self.rows = [r for r in rows if r.get("step", 0) <= resume_step]
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
        self._write_csv()
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, row["step"])
            self.writer.flush()

    def _rewrite(self) -> None:
        with atomic_path(self.jsonl) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.rows))
        self._write_csv()

    def _write_csv(self) -> None:
        """Rewrite the CSV with the union of all columns seen so far (rows of different kinds share one file)."""
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.rows)
        with atomic_path(self.csv) as tmp:
            tmp.write_text(buffer.getvalue())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
