"""DDP under torchrun (2 CPU processes, gloo): ranks stay in sync, only rank 0 writes, a rank without validation
data does not break the reduction, the backend/device choice per rank, and how teardown leaves the group."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
import torch.distributed as dist

from engine import distributed
from engine.distributed import choose_backend
from engine.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]


def test_two_process_ddp_keeps_ranks_identical(tmp_path):
    cmd = [*TORCHRUN, str(ROOT / "tests/engine/ddp_script.py"), str(tmp_path), "cpu"]
    result = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    weights = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for a, b in zip(weights[0].values(), weights[1].values()):
        assert torch.equal(a, b)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 3 and state["step"] == 3 * 4  # 64 examples / 2 ranks / batch 8
    rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 3  # one row per epoch, written once (by rank 0)
    # metric keys seen by rank 0 only (rank 1 had no batch): both ranks get the same means over all examples
    means = [json.loads((tmp_path / f"means{r}.json").read_text()) for r in (0, 1)]
    assert means[0] == means[1] == {"loss": 2.0, "mse": 4.0, "only_rank0": 1.0}


def train_regressor(run_dir, processes: int, batch_size: int, epochs: int, micro_batch: int | None = None) -> dict:
    """ddp_train_script.py under torchrun with ``processes`` ranks (1: a plain process); rank 0's weights, and
    what it printed under "output"."""
    launcher = [*TORCHRUN[:3], f"--nproc_per_node={processes}", "--standalone"] if processes > 1 else [sys.executable]
    cmd = [*launcher, str(ROOT / "tests/engine/ddp_train_script.py"), str(run_dir), str(batch_size), str(epochs),
           *([str(micro_batch)] if micro_batch else [])]
    result = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return {**torch.load(run_dir / "weights.pt"), "output": result.stdout}


# Two ranks average their gradients where one process averages its examples': the sums differ in order only.
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def test_two_processes_learn_what_one_process_learns_with_the_same_global_batch(tmp_path):
    one = train_regressor(tmp_path / "one", processes=1, batch_size=16, epochs=2)
    two = train_regressor(tmp_path / "two", processes=2, batch_size=8, epochs=2)
    parts = train_regressor(tmp_path / "parts", processes=2, batch_size=8, epochs=2, micro_batch=3)  # 3 + 3 + 2
    weights = [name for name in one if name != "output"]
    for name in weights:
        torch.testing.assert_close(two[name], one[name], **TOLERANCE)
        torch.testing.assert_close(parts[name], one[name], **TOLERANCE)
    moved = train_regressor(tmp_path / "short", processes=1, batch_size=16, epochs=1)
    assert any(not torch.allclose(moved[name], one[name], **TOLERANCE) for name in weights)  # the test can tell


def test_a_checkpoint_written_at_one_world_size_resumes_at_another(tmp_path):
    straight = train_regressor(tmp_path / "straight", processes=1, batch_size=16, epochs=2)
    train_regressor(tmp_path / "switched", processes=2, batch_size=8, epochs=1)
    resumed = train_regressor(tmp_path / "switched", processes=1, batch_size=16, epochs=2)
    assert "(epoch 1, step 4)" in resumed["output"]  # 64 examples in steps of 2 x 8: resumed after the first epoch
    for name in straight:
        if name != "output":
            torch.testing.assert_close(resumed[name], straight[name], **TOLERANCE)


def test_example_under_torchrun_with_one_validation_window(tmp_path):
    """The example has a single validation window, so rank 1 validates on nothing (this crashed the reduction)."""
    cmd = [*TORCHRUN, "-m", "music_composer", "--example", "-e", "1", "-g", "1", "--device", "cpu", "--no-progress"]
    result = subprocess.run(cmd, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val/mse" in result.stdout
    info = sf.info(str(tmp_path / "output-0.wav"))
    assert info.frames > 0 and info.samplerate == 44100


def test_midi_compare_under_torchrun_trains_every_row_in_one_process_group(tmp_path):
    """compare trains several models in turn (a group cannot be joined twice), and vae-note has a weight its decoder
    never reads (DDP waits for every trainable weight's gradient)."""
    melodies = ROOT / "symbolic" / "examples" / "melodies"
    cmd = [*TORCHRUN, "-m", "music_composer", "midi", "compare", "--configs", "lm-note,vae-note", "--hparams",
           "rnn_size=[16],batch_size=8", "--examples-path", str(melodies), "--run-dir", "cmp", "--num-steps", "2",
           "--samples", "4", "--device", "cpu", "--no-progress"]
    result = subprocess.run(cmd, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("cmp/compare.txt") == 1  # rank 0 alone writes the table
    assert "vae-note" in (tmp_path / "cmp" / "compare.txt").read_text()


@pytest.mark.parametrize("device, cuda_devices, local_rank, expected", [
    ("auto", 0, 1, ("gloo", "cpu", None)),
    ("cpu", 2, 1, ("gloo", "cpu", None)),
    ("auto", 2, 1, ("nccl", "cuda:1", None)),
    ("cuda", 2, 1, ("nccl", "cuda:1", None)),
])
def test_backend_and_device_per_rank(device, cuda_devices, local_rank, expected):
    assert choose_backend(device, cuda_devices, local_rank) == expected


def test_an_explicit_cuda_index_binds_each_rank_to_its_own_gpu():
    for local_rank in (0, 1):
        backend, device, note = choose_backend("cuda:1", 2, local_rank)
        assert (backend, device) == ("nccl", f"cuda:{local_rank}")
        assert "cuda:LOCAL_RANK" in note and "cuda:1" in note


def test_cuda_requested_without_a_usable_gpu_is_a_clear_error():
    with pytest.raises(UserError, match="CUDA is not available"):
        choose_backend("cuda:0", 0, 0)
    with pytest.raises(UserError, match="local rank 2, but this machine has only 2 CUDA"):
        choose_backend("cuda", 2, 2)


@pytest.fixture
def one_rank_group(tmp_path, monkeypatch):
    """A gloo group of this process alone; the barriers teardown waits at are recorded."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    barriers = []
    monkeypatch.setattr(dist, "barrier", lambda: barriers.append(True))
    yield barriers
    if dist.is_initialized():
        dist.destroy_process_group()


def test_teardown_waits_for_every_rank_then_leaves_the_group(one_rank_group):
    distributed.teardown()
    assert one_rank_group == [True] and not dist.is_initialized()
    distributed.teardown()  # a second call (run_training's, then the pipeline's) is a no-op


def test_teardown_during_an_error_leaves_the_group_without_waiting_for_ranks_that_may_never_come(one_rank_group):
    with pytest.raises(UserError):
        try:
            raise UserError("rank 0 cannot go on")
        finally:
            distributed.teardown()
    assert one_rank_group == [] and not dist.is_initialized()
