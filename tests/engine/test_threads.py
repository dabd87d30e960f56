"""The thread count: free CPUs by default, --threads and OMP_NUM_THREADS override, logged once."""
from __future__ import annotations

import subprocess
import sys
import time

import torch

from engine import threads
from engine.threads import Cpus, _cgroup_quota, choose_threads


def cpus(usable=2, physical=2, quota=None, busy=0.0) -> Cpus:
    return Cpus(usable, physical, quota, busy)


def test_idle_machine_uses_every_physical_core():
    assert choose_threads(lambda: cpus(usable=8, physical=8))[0] == 8


def test_one_busy_process_on_two_cores_leaves_one_thread():
    count, reason = choose_threads(lambda: cpus(busy=1.1))
    assert count == 1
    assert "about 1 busy" in reason


def test_never_fewer_than_one_thread():
    assert choose_threads(lambda: cpus(busy=7.0))[0] == 1


def test_hyperthreads_and_quota_cap_the_count():
    assert choose_threads(lambda: cpus(usable=16, physical=8))[0] == 8
    assert choose_threads(lambda: cpus(usable=16, physical=16, quota=2.5))[0] == 3


def test_a_process_spinning_now_counts_as_busy_though_the_load_average_lags():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        here = Cpus.here()
    finally:
        spinner.kill()
        spinner.wait()
    assert here.busy >= 0.7


def test_flag_then_environment_override_the_choice():
    busy = cpus(busy=2.0)
    assert choose_threads(lambda: busy, requested=2, environment="1") == (2, "--threads")
    assert choose_threads(lambda: busy, environment="2") == (2, "OMP_NUM_THREADS")
    assert choose_threads(lambda: busy, environment="zero")[1] != "OMP_NUM_THREADS"


def test_cgroup_quota_is_read(tmp_path):
    path = tmp_path / "cpu.max"
    path.write_text("250000 100000\n")
    assert _cgroup_quota(path) == 2.5
    path.write_text("max 100000\n")
    assert _cgroup_quota(path) is None
    assert _cgroup_quota(tmp_path / "missing") is None


def test_configure_sets_torch_and_says_it_once(monkeypatch, capsys):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_said", False)
    try:
        assert threads.configure_threads(1) == 1
        assert torch.get_num_threads() == 1
        assert threads.configure_threads(2) == 2 and torch.get_num_threads() == 2
        assert capsys.readouterr().err.count("computing with") == 1
    finally:
        torch.set_num_threads(before)


def test_the_cpus_are_looked_at_only_when_the_choice_is_automatic():
    def never() -> Cpus:
        raise AssertionError("looked at the CPUs")
    assert choose_threads(never, requested=1) == (1, "--threads")
    assert choose_threads(never, environment="3") == (3, "OMP_NUM_THREADS")


def test_without_proc_stat_the_load_average_scaled_to_the_usable_cpus_counts(monkeypatch):
    monkeypatch.setattr(threads, "_busy_now", lambda cpus: None)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (32.0, 0.0, 0.0))
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert Cpus.here().busy == 2.0  # 4 of 64 CPUs, the machine at 32 runnable
