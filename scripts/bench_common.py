"""What every benchmark shares: the basic flags, the machine description, JSON results, timing and peak memory of a
subprocess. The benchmarks are plain scripts (`python scripts/bench_audio.py speed`) that import this file beside them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench-results"  # per machine, so git ignores it
MUSIC_COMPOSER = [sys.executable, str(ROOT / "music_composer.py")]


def add_basics(parser: argparse.ArgumentParser, result: str, threads: int | None = 1, seed: bool = False) -> None:
    """--out (the JSON file, default bench-results/<result>), and --threads / --seed where the benchmark has them."""
    parser.add_argument("--out", type=Path, default=RESULTS / result, help=f"JSON results (default {RESULTS.name}/"
                                                                            f"{result})")
    if threads is not None:
        parser.add_argument("--threads", type=int, default=threads, help=f"torch threads (default {threads})")
    if seed:
        parser.add_argument("--seed", type=int, default=0, help="random seed of training and sampling (default 0)")


def describe_machine(threads: int | str) -> dict:
    """The CPUs, the torch threads the measured work runs with (a string when each run records its own), the load
    average before it started, and the software; `write_results` adds the load average after."""
    return {"cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)), "threads": threads,
            "loadavg_before": os.getloadavg(), "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(), "python": platform.python_version(), "torch": version("torch")}


def write_results(results: dict, path: Path) -> Path:
    """Record the load average after the work in ``results["machine"]``, write ``results`` as JSON to ``path``."""
    results["machine"]["loadavg_after"] = os.getloadavg()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"results: {path}")
    return path


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

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


@dataclass
class Timed:
    """One finished subprocess: exit code, stdout and stderr together, and what it cost."""

    returncode: int
    output: str
    wall_s: float
    cpu_s: float  # user + system of the process and the children it waited for
    peak_rss_mb: float  # the largest process (exact, from wait4)
    peak_rss_tree_mb: float  # the summed tree, sampled every 20 ms: pages shared by workers count more than once

    def costs(self) -> dict:
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "peak_rss_mb": self.peak_rss_mb,
                "peak_rss_tree_mb": self.peak_rss_tree_mb}


def run_timed(command: list[str], cwd: Path = ROOT, env: dict | None = None, check: bool = True) -> Timed:
    """Run ``command`` to completion, measuring wall and CPU time and peak memory; with ``check``, a failure exits
    with the command's output."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with TreeRssSampler(process.pid, interval_s=0.02) as rss, process.stdout:
        output = process.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if check and process.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output}")
    return Timed(process.returncode, output, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                 rss.peak / 2 ** 20)
