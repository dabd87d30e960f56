"""The CUDA path: bf16 autocast, exact resume and NCCL DDP. Runs only where a GPU is present (CI has none)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.device import autocast_dtype, select_device
from tests.engine.test_trainer import train

ROOT = Path(__file__).resolve().parents[2]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_auto_device_and_precision_on_this_machine():
    device = select_device("auto")
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    expected = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    assert autocast_dtype(device, "auto") == expected


@needs_cuda
def test_cuda_training_learns_under_bf16_and_resumes_exactly(tmp_path):
    straight, rows, trainer = train(tmp_path, "straight", epochs=4, device="cuda")
    assert trainer.amp_dtype == torch.bfloat16
    assert next(straight.parameters()).is_cuda
    val = [r["val/mse"] for r in rows if "val/mse" in r]
    assert val[-1] < val[0]
    train(tmp_path, "split", epochs=2, device="cuda")
    resumed, _, _ = train(tmp_path, "split", epochs=4, device="cuda")
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


@needs_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_nccl_ddp_runs_under_torchrun(tmp_path, device):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
           str(ROOT / "tests/engine/ddp_script.py"), str(tmp_path), device]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["epoch"] == 3
    assert ("each rank uses its own GPU, cuda:LOCAL_RANK" in result.stderr) == (device == "cuda:0")
