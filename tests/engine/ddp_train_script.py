"""Run by test_distributed.py, under torchrun or alone: trains the dropout-free regressor of test_memory (nothing
random in a step, so one process and several must agree) and saves rank 0's weights.

Arguments: run dir, batch size per process, epochs, and optionally the micro-batch.
"""
import os
import sys

import torch

from engine import distributed
from engine.trainer import TrainConfig, Trainer, run_training
from tests.engine.test_memory import Linear
from tests.engine.test_trainer import data

run_dir, batch_size, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
micro_batch = int(sys.argv[4]) if len(sys.argv) > 4 else None
torch.manual_seed(0)
model = Linear()
config = TrainConfig(run_dir=run_dir, epochs=epochs, batch_size=batch_size, learning_rate=1e-2, progress=False,
                     tensorboard=False, device="cpu", micro_batch=micro_batch)
run_training(Trainer(model, data(), None, config))
if os.environ.get("RANK", "0") == "0":
    torch.save(model.state_dict(), f"{run_dir}/weights.pt")
if distributed.launched_by_torchrun():
    distributed.exit_process(0)  # as music-composer does under torchrun: see exit_process
