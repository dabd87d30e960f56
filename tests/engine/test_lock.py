"""engine.lock: a second process is refused with the holder's PID, or waits; a dead holder leaves no stale lock."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.lock import exclusive_lock

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from engine.lock import exclusive_lock
with exclusive_lock(sys.argv[1], "the test folder"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(lock: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_holder_is_refused_with_the_pid(tmp_path):
    proc = _holder(tmp_path / ".lock", 30)
    try:
        with pytest.raises(UserError, match=rf"the test folder is in use by process {proc.pid}; wait"):
            with exclusive_lock(tmp_path / ".lock", "the test folder"):
                pass
    finally:
        proc.kill()
        proc.wait()
    with exclusive_lock(tmp_path / ".lock", "the test folder"):  # a killed holder releases the lock
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())


def test_waiting_holder_gets_the_lock_when_the_first_exits(tmp_path, capsys):
    proc = _holder(tmp_path / ".lock", 1.0)
    started = time.monotonic()
    with exclusive_lock(tmp_path / ".lock", "the test folder", wait=True):
        assert time.monotonic() - started > 0.8  # not before the first holder's second was over
    proc.wait()
    assert f"waiting for process {proc.pid}" in capsys.readouterr().err
