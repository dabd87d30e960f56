"""One training per checkpoint: a second process stops naming the first one's PID, or waits with ``wait``."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from engine.errors import UserError
from engine.trainer import TrainConfig, Trainer
from tests.engine.test_trainer import Regressor, data, train

ROOT = Path(__file__).resolve().parents[2]
# Holds the run at argv[1] (a constructed Trainer) until its stdin closes, then trains one epoch.
HOLDER = """
import sys
from engine.trainer import TrainConfig, Trainer
from tests.engine.test_trainer import Regressor, data
config = TrainConfig(run_dir=sys.argv[1], epochs=1, batch_size=8, progress=False, tensorboard=False)
trainer = Trainer(Regressor(), data(), None, config)
print("holding", flush=True)
sys.stdin.read()
trainer.fit()
"""
# Trains the run at argv[1] for two epochs, waiting for the run's lock if it is held.
WAITER = """
import sys
from engine.trainer import TrainConfig, Trainer
from tests.engine.test_trainer import Regressor, data
config = TrainConfig(run_dir=sys.argv[1], epochs=2, batch_size=8, progress=False, tensorboard=False, wait=True)
print("step", Trainer(Regressor(), data(), None, config).fit()[-1]["step"])
"""


def python(code, *args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def holds(process) -> bool:
    """Whether the HOLDER process got the lock (it says "holding"; it exits at once if it could not)."""
    return any(line == "holding\n" for line in process.stdout)


def config(tmp_path, **overrides):
    settings = dict(epochs=1, batch_size=8, progress=False, tensorboard=False)
    return TrainConfig(run_dir=str(tmp_path / "run"), **{**settings, **overrides})


@pytest.fixture
def holder(tmp_path):
    process = python(HOLDER, str(tmp_path / "run"))
    assert holds(process), process.stderr.read()
    yield process
    process.kill()
    process.wait()


def test_a_second_training_on_a_held_run_stops_naming_the_holder(tmp_path, holder):
    with pytest.raises(UserError, match=rf"the run at .*checkpoint.pt is in use by process {holder.pid}; "
                                        r"wait for it to finish, or pass --wait"):
        Trainer(Regressor(), data(), None, config(tmp_path))


def test_with_wait_the_second_training_waits_and_then_resumes(tmp_path, holder):
    waiter = python(WAITER, str(tmp_path / "run"))
    # the waiter announces it is waiting; only then let the holder train and exit
    assert waiter.stderr.readline().startswith(f"waiting for process {holder.pid}, which is using the run at")
    holder.stdin.close()
    assert holder.wait(timeout=120) == 0
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, err
    assert "resuming from" in out and "step 16" in out  # it waited for the first epoch, then trained the second


def test_the_lock_is_released_when_fit_ends_fails_or_the_trainer_is_closed(tmp_path):
    train(tmp_path, epochs=1)
    Trainer(Regressor(), data(), None, config(tmp_path)).close()  # only the resumed state is wanted
    other = nn.Module()
    other.net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    with pytest.raises(UserError, match="does not fit"):
        Trainer(other, data(), None, config(tmp_path, epochs=2))
    with pytest.raises(UserError, match="diverged"):
        train(tmp_path, epochs=3, learning_rate=1e30, grad_clip=None)
    # nothing above still holds the lock: another process can take it at once
    process = python(HOLDER, str(tmp_path / "run"))
    assert holds(process), process.stderr.read()
    process.kill()
    process.wait()
