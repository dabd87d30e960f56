"""Checkpoints load without running code: a hostile pickle is refused unrun; our old and new layouts load."""
import builtins
import os

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.errors import UserError
from tests.engine.test_trainer import train


class RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class RunsPython:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize("payload, named", [(RunsShell, "posix.system"), (RunsPython, "builtins.exec")])
def test_a_checkpoint_that_would_run_code_is_refused_unrun(tmp_path, payload, named):
    marker = tmp_path / "MARKER"
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "extra": {"hook": payload(marker)}}, path)
    with pytest.raises(UserError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert message == (f"checkpoint {path} holds code or objects other than tensors and plain data ({named}); "
                       "it was not loaded")
    assert not marker.exists()


def test_a_damaged_checkpoint_is_a_one_line_error(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=r"checkpoint .* is unreadable \(.+\); delete it or pick another") as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value)


def test_plain_data_and_numeric_numpy_arrays_round_trip(tmp_path):
    state = {"model": {"w": torch.arange(3.0)}, "rng": {"numpy": np.random.get_state(), "python": (3, (1, 2), None)},
             "extra": {"mean": np.arange(4, dtype=np.float32), "counts": np.arange(3, dtype=np.int64),
                       "preprocessing": {"block_size": 11025, "names": ["a", "b"]}},
             "train_config": {"learning_rate": 1e-3, "device": "auto", "epochs": None}}
    save_checkpoint(tmp_path / "c.pt", state)
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])
    np.testing.assert_array_equal(loaded["rng"]["numpy"][1], state["rng"]["numpy"][1])
    assert loaded["rng"]["numpy"][0] == "MT19937" and loaded["rng"]["python"] == (3, (1, 2), None)
    assert loaded["extra"]["mean"].dtype == np.float32 and loaded["extra"]["counts"].tolist() == [0, 1, 2]
    assert loaded["extra"]["preprocessing"] == state["extra"]["preprocessing"]
    assert loaded["train_config"] == state["train_config"]


def test_a_checkpoint_in_the_old_layout_loads_and_resumes_where_it_stopped(tmp_path):
    """Old checkpoints counted batches of the epoch (``batch_in_epoch``) instead of examples."""
    straight, _, _ = train(tmp_path, "straight", max_steps=13)
    train(tmp_path, "old", max_steps=5)
    path = tmp_path / "old" / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    state["batch_in_epoch"] = state.pop("examples_in_epoch") // 8
    state["extra"] = {"mean": np.zeros(4, np.float32), "std": np.ones(4, np.float32)}
    assert isinstance(state["rng"]["numpy"][1], np.ndarray) and isinstance(state["train_config"], dict)
    torch.save(state, path)
    resumed, _, trainer = train(tmp_path, "old", max_steps=13)
    assert trainer.resumed
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
