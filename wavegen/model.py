"""The audio model: time-distributed Linear(frame -> n), L stacked LSTM(n), time-distributed Linear(n -> frame).

It reads normalised frames (wavegen.framer) and predicts the next frame at every step (MSE). The LSTM state can be
carried from call to call, so generation costs one step per new frame (see ``feedback_layer``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.trainer import StepOutput

LSTMState = tuple[torch.Tensor, torch.Tensor]


@dataclass
class WaveLSTMConfig:
    frame_dim: int = 513  # numbers per frame (FrameSpec.frame_dim)
    hidden_size: int = 1024  # -n/--hidden-layer-neurons
    num_layers: int = 4  # -l/--hidden-layer-count
    input_noise: float = 0.0  # --input-noise: std of the noise on training inputs (normalised units)


class WaveLSTM(nn.Module):
    """Next-frame predictor over sequences of frames [batch, time, frame_dim]."""

    def __init__(self, config: WaveLSTMConfig):
        super().__init__()
        self.config = config
        self.encode = nn.Linear(config.frame_dim, config.hidden_size)
        self.lstm = nn.LSTM(config.hidden_size, config.hidden_size, config.num_layers, batch_first=True)
        self.decode = nn.Linear(config.hidden_size, config.frame_dim)

    def forward(self, frames: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        """The prediction of the frame after each input frame, and the LSTM state after the last one."""
        hidden, state = self.lstm(self.encode(frames), state)
        return self.decode(hidden), state

    def feedback_layer(self) -> nn.Linear:
        """``encode(decode(h))`` as one Linear(n -> n), for generation, which feeds each predicted frame back in.

        The product of the two layers is exact algebra; it replaces two frame_dim x n products per step (the bulk
        of the weights a step reads) by one n x n product, and the frames are decoded once, at the end.
        """
        n = self.config.hidden_size
        fused = nn.Linear(n, n, device=self.encode.weight.device, dtype=self.encode.weight.dtype)
        with torch.no_grad():
            fused.weight.copy_(self.encode.weight @ self.decode.weight)
            fused.bias.copy_(self.encode.weight @ self.decode.bias + self.encode.bias)
        return fused

    def training_loss(self, batch: torch.Tensor, step: int) -> StepOutput:
        """MSE of the next-frame predictions over windows [batch, length + 1, frame_dim] (the loss, logged as mse).

        ``baseline_mse`` is the MSE of repeating the last frame (predict frame t+1 = frame t), in the same normalised
        space: a model that learned something beats it. In training the inputs get Gaussian noise of std
        ``input_noise``: generation feeds the model its own, imperfect predictions, and a model that only ever read
        clean frames drifts from them into a fixed point (a drone).
        """
        inputs, targets = batch[:, :-1], batch[:, 1:]
        noise = self.config.input_noise if self.training else 0.0
        noisy = inputs + noise * torch.randn_like(inputs) if noise else inputs
        predictions, _ = self(noisy)
        mse = F.mse_loss(predictions.float(), targets)
        return StepOutput(mse, {"mse": mse.detach(), "baseline_mse": F.mse_loss(inputs, targets)}, count=len(batch))
