"""DDP under torchrun (2 CPU processes, gloo): ranks stay in sync and only rank 0 writes the checkpoint."""
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def test_two_process_ddp_keeps_ranks_identical(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           str(ROOT / "tests/engine/ddp_script.py"), str(tmp_path), "cpu"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    weights = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for a, b in zip(weights[0].values(), weights[1].values()):
        assert torch.equal(a, b)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 3 and state["step"] == 3 * 4  # 64 examples / 2 ranks / batch 8
    rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 3  # one row per epoch, written once (by rank 0)
