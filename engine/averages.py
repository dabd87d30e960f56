"""The weights' exponential moving average (``TrainConfig.ema_decay``): what validation measures, what the checkpoint
stores as ``ema`` and what the model holds after training."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import torch
from torch import nn


class WeightAverage:
    """An exponential moving average of ``model``'s parameters, by name.

    It smooths the step-to-step noise of the last iterate, which otherwise decides where a short run happens to stop.
    The decay warms up as min(decay, (1 + step) / (10 + step)), so early averages do not cling to the random start.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.model = model
        self.decay = decay
        self.averages = {name: p.detach().clone() for name, p in model.named_parameters()}

    def load(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Take the saved averages (or the saved weights, from a checkpoint written before averages were kept)."""
        for name, average in self.averages.items():
            average.copy_(weights[name])

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Move the averages towards the parameters just updated by optimizer step ``step``."""
        decay = min(self.decay, (1 + step) / (10 + step))
        for name, param in self.model.named_parameters():
            self.averages[name].lerp_(param.detach(), 1 - decay)

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange the model's parameters with their averages (a second call swaps them back)."""
        for name, param in self.model.named_parameters():
            held = param.detach().clone()
            param.copy_(self.averages[name])
            self.averages[name] = held

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """The model holds the averages inside the block, its own parameters again after it."""
        self.swap()
        try:
            yield
        finally:
            self.swap()
