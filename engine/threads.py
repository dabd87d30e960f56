"""How many threads torch computes with: the CPUs this process may use that nobody else is busy on.

PyTorch starts one intra-op thread per core, and its threads busy-wait for one another: beside one other busy
process on two cores, every step waits for the core the other process holds (`music-composer --example` took 219 s
so, 86 s on one thread; docs/benchmarks.md). So the count is chosen from the usable CPUs (affinity, cgroup quota, physical cores)
less the ones already busy, unless ``--threads N`` or ``OMP_NUM_THREADS`` says otherwise.
Only ``configure_threads`` imports torch.
"""
from __future__ import annotations

import functools
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_said = False  # whether this process has said its thread count (once is enough)


@dataclass(frozen=True)
class Cpus:
    """What limits the threads of this process: CPUs it may run on, physical cores among them, the cgroup's CPU
    quota (None: none) and how many of its CPUs other work keeps busy."""

    usable: int
    physical: int
    quota: float | None
    busy: float

    @classmethod
    def here(cls) -> Cpus:
        """The figures of this machine and process (Linux sources; elsewhere what ``os`` tells).

        Busy is the CPU time others took on this process's CPUs over the last half second: the 1-minute load
        average, used only where that cannot be read, still counts a job that ended a minute ago (this command's
        previous run, say) and hardly shows one that began seconds ago.
        """
        usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(
            range(os.cpu_count() or 1))
        busy = _busy_now(usable)
        if busy is None:
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
            busy = load * len(usable) / max(os.cpu_count() or 1, len(usable))
        return cls(len(usable), _physical_cores(usable), _cgroup_quota(), busy)


def _cpu_times(cpus: list[int]) -> dict[int, tuple[int, int]]:
    """(busy, total) clock ticks of each of ``cpus`` since boot, from /proc/stat; empty where it cannot be read."""
    times = {}
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return times
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))
    return times


def _busy_now(cpus: list[int], seconds: float = 0.5) -> float | None:
    """How many of ``cpus`` were busy (their busy shares summed) over the next ``seconds``; None without /proc/stat."""
    before = _cpu_times(cpus)
    if not before:
        return None
    time.sleep(seconds)
    after = _cpu_times(cpus)
    return sum((after[c][0] - b[0]) / max(after[c][1] - b[1], 1) for c, b in before.items() if c in after)


def _physical_cores(cpus: list[int]) -> int:
    """Distinct (package, core) pairs among ``cpus``: hyper-threads of one core count once."""
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add((topology.joinpath("physical_package_id").read_text().strip(),
                       topology.joinpath("core_id").read_text().strip()))
        except OSError:  # no topology (not Linux, or hidden): count every CPU
            cores.add(("cpu", str(cpu)))
    return len(cores)


def _cgroup_quota(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> float | None:
    """CPUs' worth of time the cgroup (v2) may use, e.g. 2.0 for "200000 100000"; None when unlimited or unknown."""
    try:
        quota, period = path.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def choose_threads(cpus: Callable[[], Cpus], requested: int | None = None,
                   environment: str | None = None) -> tuple[int, str]:
    """The thread count and why: ``requested`` (--threads), else ``environment`` (OMP_NUM_THREADS) when it is a
    positive integer, else the usable CPUs (never more than the physical cores or the quota) less the busy ones;
    ``cpus`` is asked only then (looking takes half a second)."""
    if requested is not None:
        return requested, "--threads"
    if environment is not None and environment.strip().isdigit() and int(environment) > 0:
        return int(environment), "OMP_NUM_THREADS"
    here = cpus()
    limit = min(here.usable, here.physical, math.ceil(here.quota) if here.quota else here.usable)
    busy = round(here.busy)
    threads = max(1, min(limit, here.usable - busy))
    return threads, (f"{here.usable} usable CPU(s), {here.physical} physical core(s)"
                     + (f", a quota of {here.quota:g}" if here.quota else "") + f", about {busy} busy")


@functools.cache
def _cpus_at_first_use() -> Cpus:
    """The CPUs as the process's first command found them: one look per process, so commands run one after another
    from Python (or the tests) neither wait half a second each nor change their count back and forth."""
    return Cpus.here()


def configure_threads(requested: int | None = None) -> int:
    """Set torch's intra-op thread count (see ``choose_threads``); the first call in a process says what it chose."""
    global _said
    import torch
    threads, reason = choose_threads(_cpus_at_first_use, requested, os.environ.get("OMP_NUM_THREADS"))
    torch.set_num_threads(threads)
    if not _said:
        print(f"computing with {threads} thread(s) ({reason}; --threads N to choose)", file=sys.stderr)
        _said = True
    return threads
