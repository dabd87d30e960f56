"""What a model's training step hands the trainer: its own small module, so models need not import the trainer
(and with it DDP and tqdm)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class StepOutput:
    """A batch's loss to minimise, scalar metrics to report, and how many examples it covered (for averages)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor | float] = field(default_factory=dict)
    count: int = 1
