"""The audio model: time-distributed Linear(frame -> n), L stacked LSTM(n), time-distributed Linear(n -> K frames).

It reads normalised frames (wavegen.framer) and proposes K hypotheses of the next frame at every step, with a
categorical head that says which one will be closest. Training is relaxed winner-takes-all multiple-choice learning
(Guzman-Rivera et al. 2012; Rupprecht et al. 2017): only the hypothesis nearest the real next frame gets the full MSE
gradient, the others a small share, so each learns one of the ways the music may go instead of all of them learning
their blurry average (what a single MSE prediction is when the next note is uncertain). Generation samples a
hypothesis per step and feeds it back. K = 1 is the plain next-frame MSE regressor. Dropout on every LSTM layer's
output (training only) keeps it from learning a small dataset by heart. The LSTM state can be carried
from call to call, so generation costs one step per new frame (see ``feedback_layer``).

With the keep gate (``--keep-gate``, on by default) each hypothesis keeps, bin by bin, a learned share of the last
frame and takes the rest from its own new frame. One gate serves all K: what goes on sounding does not depend on which
new frame comes, and a gate per hypothesis made a training step 1.7x an ungated one (one gate: 1.4x). The LSTM's few
units no longer have to carry the whole frame through to repeat what goes on sounding, which is most of what the next
frame is. Training fits the blend (the least-squares guess) and, with a tenth of the weight, the new frame alone, so
that it is a frame the model means wherever the gate lets go. Generation draws from the gate instead of averaging
(``drawn``): a bin either holds or takes the new value, so notes start and stop instead of gliding. Either way a bin
stays between the last frame and the new one, so fed its own frames the model cannot integrate its errors as one that
predicts the change would.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.linalg import vector_norm

from engine.step import StepOutput

LSTMState = tuple[torch.Tensor, torch.Tensor]


@dataclass
class WaveLSTMConfig:
    frame_dim: int = 513  # numbers per frame (FrameSpec.frame_dim)
    hidden_size: int = 1024  # -n/--hidden-layer-neurons
    num_layers: int = 4  # -l/--hidden-layer-count
    input_noise: float = 0.0  # --input-noise: std of the noise on training inputs (normalised units)
    hypotheses: int = 1  # --hypotheses: next-frame proposals per step (1: a plain MSE regressor)
    dropout: float = 0.0  # --dropout: the share of every LSTM layer's outputs zeroed in training
    keep_gate: bool = False  # --keep-gate: each hypothesis keeps a learned share of the last frame, bin by bin


RELAXATION = 0.05  # the share of the MSE loss spread over all hypotheses, so none is left untrained
CHOICE_WEIGHT = 0.01  # weight of the cross-entropy that teaches the choice head which hypothesis wins
NEW_FRAME_WEIGHT = 0.1  # keep gate: weight of the new frames' own MSE, which generation takes where the gate lets go


class WaveLSTM(nn.Module):
    """Next-frame predictor over sequences of frames [batch, time, frame_dim]."""

    def __init__(self, config: WaveLSTMConfig):
        super().__init__()
        self.config = config
        self.encode = nn.Linear(config.frame_dim, config.hidden_size)
        self.lstm = nn.LSTM(config.hidden_size, config.hidden_size, config.num_layers, batch_first=True,
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        self.decode = nn.Linear(config.hidden_size, config.frame_dim * config.hypotheses)
        self.choose = nn.Linear(config.hidden_size, config.hypotheses) if config.hypotheses > 1 else None
        self.keep = nn.Linear(config.hidden_size, config.frame_dim) if config.keep_gate else None

    def forward(self, frames: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        """The prediction of the frame after each input frame (the choice-weighted mean of the hypotheses: the
        least-squares guess), and the LSTM state after the last one."""
        hidden, state = self.lstm(self.encode(frames), state)
        return self.expected_frame(hidden, frames), state

    def hypotheses(self, hidden: torch.Tensor, last: torch.Tensor | None = None) -> torch.Tensor:
        """The K proposed next frames of LSTM outputs [..., n]: [..., K, frame_dim]. A keep-gate model blends
        each with ``last`` [..., frame_dim], the frame the LSTM outputs followed."""
        values = self.new_frames(hidden)
        if self.keep is None:
            return values
        return kept(values.float(), self.keep_logits(hidden).float(), last.float().unsqueeze(-2))

    def new_frames(self, hidden: torch.Tensor) -> torch.Tensor:
        """The decoder's K frames [..., K, frame_dim] of LSTM outputs [..., n]: the hypotheses themselves, or with the
        keep gate what each blends into the last frame."""
        return self.decode(hidden).unflatten(-1, (self.config.hypotheses, self.config.frame_dim))

    def keep_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The keep gate's logits [..., 1, frame_dim] of LSTM outputs [..., n], one gate for all K hypotheses: sigmoid
        gives each bin's share of the last frame."""
        return self.keep(hidden).unsqueeze(-2)

    def choice_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits [..., K] of which hypothesis will be nearest the next frame (zeros when K = 1)."""
        if self.choose is None:
            return hidden.new_zeros(*hidden.shape[:-1], 1)
        return self.choose(hidden)

    def expected_frame(self, hidden: torch.Tensor, last: torch.Tensor | None = None) -> torch.Tensor:
        """The hypotheses of LSTM outputs [..., n] (after frames ``last``) weighted by their choice probabilities:
        [..., frame_dim]."""
        proposals = self.hypotheses(hidden, last).float()
        return weighted_mean(self.choice_logits(hidden).float(), proposals).to(hidden.dtype)

    def decode_chosen(self, hidden: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """The frames of hypotheses ``chosen`` [...] (indices) of LSTM outputs [..., n]: [..., frame_dim] (of a
        model without the keep gate)."""
        weight = self.decode.weight.unflatten(0, (self.config.hypotheses, self.config.frame_dim))
        bias = self.decode.bias.unflatten(0, (self.config.hypotheses, self.config.frame_dim))
        frames = hidden.new_empty(*hidden.shape[:-1], self.config.frame_dim)
        for k in range(self.config.hypotheses):
            picked = chosen == k
            frames[picked] = F.linear(hidden[picked], weight[k], bias[k])
        return frames

    def feedback_layer(self) -> nn.Linear:
        """``encode(decode(h))`` of every hypothesis as one Linear(n -> K n), for generation, which feeds each
        chosen frame back in (of a model without the keep gate).

        The product of the two layers is exact algebra; it replaces two frame_dim x n products per hypothesis and
        step (the bulk of the weights a step reads) by one n x n product, and the frames are decoded once, at the end.
        """
        n, k = self.config.hidden_size, self.config.hypotheses
        fused = nn.Linear(n, k * n, device=self.encode.weight.device, dtype=self.encode.weight.dtype)
        weight = self.decode.weight.unflatten(0, (k, self.config.frame_dim))  # [K, frame_dim, n]
        bias = self.decode.bias.unflatten(0, (k, self.config.frame_dim))
        with torch.no_grad():
            fused.weight.copy_((self.encode.weight @ weight).flatten(0, 1))
            fused.bias.copy_((bias @ self.encode.weight.T + self.encode.bias).flatten())
        return fused

    def training_loss(self, batch: torch.Tensor, step: int) -> StepOutput:
        """Relaxed winner-takes-all MSE of the hypotheses over windows [batch, length + 1, frame_dim], plus the choice
        head's cross-entropy against the winners (for K = 1: the plain MSE). With the keep gate a hypothesis's error
        is that of its blend plus NEW_FRAME_WEIGHT times that of its new frame alone.

        Logged: ``mse``, the MSE of the choice-weighted mean prediction (the model's least-squares guess, comparable
        with any regressor), ``best_mse`` (of the nearest hypothesis) and ``baseline_mse``, the MSE of repeating the
        last frame (predict frame t+1 = frame t), in the same normalised space: a model that learned something beats
        it. In training the inputs get Gaussian noise of std ``input_noise``: generation feeds the model its own,
        imperfect predictions, and a model that only ever read clean frames drifts from them into a fixed point (a
        drone).
        """
        inputs, targets = batch[:, :-1], batch[:, 1:]
        noise = self.config.input_noise if self.training else 0.0
        noisy = inputs + noise * torch.randn_like(inputs) if noise else inputs
        hidden, _ = self.lstm(self.encode(noisy))
        hidden = self.dropout(hidden)
        values = self.new_frames(hidden).float()
        if self.keep is None:
            proposals = values
            errors = mean_squared_errors(proposals, targets)
        else:  # the gate keeps the clean frame, as generation does
            proposals = kept(values, self.keep_logits(hidden).float(), inputs.float().unsqueeze(-2))
            errors = mean_squared_errors(proposals, targets) + NEW_FRAME_WEIGHT * mean_squared_errors(values, targets)
        winners = errors.detach().argmin(-1)  # [batch, time, K] -> [batch, time]
        best = errors.gather(-1, winners.unsqueeze(-1)).mean()
        logits = self.choice_logits(hidden).float()
        choice = F.cross_entropy(logits.flatten(0, 1), winners.flatten())
        loss = (1 - RELAXATION) * best + RELAXATION * errors.mean() + CHOICE_WEIGHT * choice
        with torch.no_grad():
            expected = weighted_mean(logits, proposals)
            metrics = {"mse": F.mse_loss(expected, targets), "baseline_mse": F.mse_loss(inputs, targets)}
        if self.choose is not None:
            metrics.update(best_mse=best.detach(), choice_ce=choice.detach())
        return StepOutput(loss, metrics, count=len(batch))


def kept(values: torch.Tensor, keep_logits: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """New frames ``values`` that keep the share sigmoid(``keep_logits``) of the ``last`` frame, bin by bin: the mean
    of what ``drawn`` draws."""
    return torch.lerp(values, last, keep_logits.sigmoid())


def drawn(values: torch.Tensor, keep_logits: torch.Tensor, last: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Frames that hold the ``last`` frame in the bins whose keep share sigmoid(``keep_logits``) exceeds
    ``threshold`` (uniform in [0, 1), one per frame) and take ``values`` in the others: each bin holds with
    probability its share, and one threshold for the whole frame lets go of a note's bins together, not a random
    scatter of them."""
    return torch.where(keep_logits.sigmoid() > threshold, last, values)


def mean_squared_errors(proposals: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The MSE [..., K] of each of the proposals [..., K, dim] against ``targets`` [..., dim]. The squared norm as one
    reduction: forward and backward each pass once over the proposals, the largest tensor of a training step."""
    return vector_norm(proposals - targets.unsqueeze(-2), dim=-1).square() / proposals.shape[-1]


def weighted_mean(logits: torch.Tensor, proposals: torch.Tensor) -> torch.Tensor:
    """Proposals [..., K, dim] averaged with the softmax of their logits [..., K]: [..., dim]."""
    return (logits.softmax(-1).unsqueeze(-2) @ proposals).squeeze(-2)
