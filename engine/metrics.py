"""Count-weighted means of a model's loss and metrics: over the steps between log rows, and over a validation set.

The sums stay on the device (no sync per step) and are reduced over every DDP rank when the means are read.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from engine import distributed
from engine.device import to_device


class MetricSums:
    """Count-weighted sums of metrics, kept as tensors (no device sync per step), reducible over DDP ranks."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor | float] = {}
        self.count = 0

    def add(self, loss: torch.Tensor, metrics: dict, count: int) -> None:
        """Add one batch's loss and metrics, weighted by the ``count`` of examples they cover."""
        for key, value in {"loss": loss, **metrics}.items():
            value = value.detach().double() if isinstance(value, torch.Tensor) else float(value)
            self.sums[key] = self.sums.get(key, 0.0) + value * count
        self.count += count

    def means(self, device: torch.device) -> dict[str, float]:
        """Means over every rank; a rank that saw no batch (so no keys) takes part with zero sums."""
        keys = distributed.all_keys(list(self.sums))
        values = [torch.as_tensor(self.sums.get(k, 0.0), dtype=torch.float64, device=device).reshape(())
                  for k in keys]
        totals = distributed.all_reduce_sum(
            torch.stack(values + [torch.tensor(float(self.count), dtype=torch.float64, device=device)]))
        return {k: float(v) / max(float(totals[-1]), 1.0) for k, v in zip(keys, totals[:-1].tolist())}


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, amp_dtype: torch.dtype | None = None,
             step: int = 0) -> dict[str, float]:
    """Count-weighted mean of the model's loss and metrics over ``loader`` (all ranks under DDP)."""
    was_training = model.training
    model.eval()
    sums = MetricSums()
    for batch in loader:
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model.training_loss(to_device(batch, device), step)
        sums.add(out.loss, out.metrics, out.count)
    model.train(was_training)
    return sums.means(device)
