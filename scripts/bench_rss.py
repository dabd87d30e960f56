"""Peak resident memory of a process and its children, sampled by a background thread (for the benchmarks)."""
from __future__ import annotations

import threading

import psutil


class TreeRssSampler:
    """Context manager: while open, samples the summed RSS of process ``pid`` and its descendants; ``peak`` in bytes."""

    def __init__(self, pid: int, interval_s: float = 0.01):
        self.pid = pid
        self.interval_s = interval_s
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._done.is_set():
            try:
                self.peak = max(self.peak, sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]))
            except psutil.Error:  # a process ended between listing and reading it: take the next sample
                continue
            self._done.wait(self.interval_s)

    def __enter__(self) -> "TreeRssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
