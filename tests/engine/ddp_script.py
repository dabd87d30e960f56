"""Run by test_distributed.py under torchrun: trains the tiny regressor with DDP and reports per-rank weights.

Before training, each rank also reduces metric sums with keys only some ranks saw (rank 1 saw no batch at all) and
writes the means it got to means{rank}.json.
"""
import json
import os
import sys

import torch

from engine import distributed
from engine.metrics import MetricSums
from engine.trainer import TrainConfig, Trainer, run_training
from tests.engine.test_trainer import Regressor, data

run_dir = sys.argv[1]
torch.manual_seed(123)
model = Regressor()
config = TrainConfig(run_dir=run_dir, epochs=3, batch_size=8, learning_rate=1e-2, progress=False,
                     tensorboard=False, device=sys.argv[2] if len(sys.argv) > 2 else "auto")
trainer = Trainer(model, data(), data(16, seed=1), config)
rank = int(os.environ["RANK"])
sums = MetricSums()
if rank == 0:
    sums.add(torch.tensor(2.0), {"mse": torch.tensor(4.0), "only_rank0": 1.0}, count=3)
with open(f"{run_dir}/means{rank}.json", "w") as f:
    json.dump(sums.means(trainer.device), f)
run_training(trainer)
torch.save(model.state_dict(), f"{run_dir}/rank{rank}.pt")  # the process group is gone after training
if distributed.launched_by_torchrun():
    distributed.exit_process(0)  # as music-composer does under torchrun: see exit_process
