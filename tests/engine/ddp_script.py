"""Run by test_distributed.py under torchrun: trains the tiny regressor with DDP and reports per-rank weights."""
import os
import sys

import torch

from engine.trainer import TrainConfig, Trainer, run_training
from tests.engine.test_trainer import Regressor, data

run_dir = sys.argv[1]
torch.manual_seed(123)
model = Regressor()
config = TrainConfig(run_dir=run_dir, epochs=3, batch_size=8, learning_rate=1e-2, progress=False,
                     tensorboard=False, device=sys.argv[2] if len(sys.argv) > 2 else "auto")
trainer = Trainer(model, data(), data(16, seed=1), config)
run_training(trainer)
rank = int(os.environ["RANK"])  # the process group is gone after training
torch.save(model.state_dict(), f"{run_dir}/rank{rank}.pt")
