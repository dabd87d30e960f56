"""CNN-VRNN over piano-roll bars: a bar CNN, a recurrent encoder and a GRU decoder emitting each bar's Bernoulli logits.

A window is [B, L, 2, S, P] (L bars of S steps over P pitches, channel 0 onsets, 1 sounding; as
`symbolic.data.converters.pianoroll` writes it). One ``BarCnn`` (conv + ReLU + 2x2 max-pool blocks, flattened,
projected) turns each bar into a feature; both models use it to read bars, in the encoder and as the decoder's history.

- ``CnnVrnn`` (``vrnn`` off): a bidirectional GRU over the bar features gives z ~ N(μ, σ²); a GRU decoder, its state
  started from z, gets z at every bar plus the previous bar's feature (the target's in training, its own output's
  when generating) and emits the bar's logits.
- ``BarVrnn`` (``vrnn`` on): Chung et al.'s VRNN, a latent z_t per bar with a learned prior p(z_t | h_{t-1}), the
  posterior q(z_t | x_t, h_{t-1}), logits from (h_{t-1}, z_t) and h_t = GRU(x_t, z_t, h_{t-1}). Its "z" of a window
  is the bars' latents concatenated, [B, L * z_size].

Loss: binary cross-entropy summed per bar, summed over the window, plus β·max(KL − free_bits·ln 2, 0) per window.
A generated bar holds together: by default (``decoding`` "count") each of its channels gets its expected number
of cells, the sum of its probabilities, chosen jointly (the most likely at temperature 0, Gumbel top-k above it)
rather than each cell drawn alone; its sounding channel includes its onsets. Call `eval()` before inference.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.step import StepOutput
from symbolic.configs.cnn_vrnn import CnnVrnnConfig
from symbolic.data.converters import converter_from_spec
from symbolic.data.converters.pianoroll import ONSET, SOUNDING
from symbolic.models.baselines import chunks, verdict
from symbolic.models.latent import LN2, gaussian_kl, gaussian_posterior, kl_above_free_bits, posterior_path
from symbolic.models.lstm_parts import small_linear

# Initial bias of the bar logits: sigmoid(-4) = 1.8%, about how often a piano-roll cell is on, so that training does
# not spend its first steps learning that rolls are sparse.
SPARSE_LOGIT = -4.0


def gaussian_kl_between(mu_q: Tensor, sigma_q: Tensor, mu_p: Tensor, sigma_p: Tensor) -> Tensor:
    """KL(N(μq, σq²) ‖ N(μp, σp²)) in nats over the last axis: the KL to N(0, I) of q standardised by p."""
    return gaussian_kl((mu_q - mu_p) / sigma_p, sigma_q / sigma_p)


def sample_bars(logits: Tensor, temperature: float, decoding: str = "count") -> Tensor:
    """0/1 bars (float) [..., 2, S, P] drawn from their logits; onsets sound. "count": each channel of a bar holds
    round(Σ sigmoid(logits)) cells, its expected number, the largest logits at T = 0, else drawn jointly without
    replacement (Gumbel top-k of logits / T); "independent": Bernoulli(sigmoid(logits / T)) per cell (T = 0:
    logits > 0)."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    logits = logits.float()
    if decoding == "independent":
        bars = (logits > 0).float() if temperature == 0 else torch.bernoulli(torch.sigmoid(logits / temperature))
    else:
        flat = logits.flatten(-2)  # [..., 2, S * P]: a channel of one bar
        count = torch.sigmoid(flat).sum(dim=-1, keepdim=True).round()
        if temperature > 0:
            flat = flat / temperature - torch.log(-torch.log(torch.rand_like(flat).clamp(min=1e-20)))
        rank = flat.argsort(dim=-1, descending=True).argsort(dim=-1)
        bars = (rank < count).float().view_as(logits)
    return torch.stack([bars[..., ONSET, :, :], bars[..., SOUNDING, :, :].maximum(bars[..., ONSET, :, :])], dim=-3)


def onset_scores(predicted: Tensor, target: Tensor) -> dict[str, Tensor]:
    """Precision, recall and F1 of the onsets of ``predicted`` against ``target`` windows, pooled over the batch."""
    p, t = predicted[..., ONSET, :, :].bool(), target[..., ONSET, :, :].bool()
    hits = (p & t).sum().float()
    precision = hits / p.sum().clamp(min=1)
    recall = hits / t.sum().clamp(min=1)
    f1 = torch.where(hits > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), hits * 0)
    return {"onset_precision": precision, "onset_recall": recall, "onset_f1": f1}


class BarCnn(nn.Module):
    """Conv (same padding) + ReLU + 2x2 max-pool blocks over a bar image [2, S, P], flattened and projected."""

    def __init__(self, steps: int, pitches: int, channels: list[int], kernels: list[int], out_size: int):
        super().__init__()
        blocks: list[nn.Module] = []
        for in_ch, out_ch, kernel in zip([2, *channels[:-1]], channels, kernels):
            before, after = (kernel - 1) // 2, kernel // 2  # "same" padding, also for the seed's even 2x2 kernels
            blocks += [nn.ZeroPad2d((before, after, before, after)), nn.Conv2d(in_ch, out_ch, kernel), nn.ReLU(),
                       nn.MaxPool2d(2, ceil_mode=True)]
        self.blocks = nn.Sequential(*blocks)
        with torch.no_grad():
            flat = self.blocks(torch.zeros(1, 2, steps, pitches)).numel()
        self.project = nn.Linear(flat, out_size)

    def forward(self, bars: Tensor) -> Tensor:
        """[..., 2, S, P] -> [..., out_size]."""
        lead = bars.shape[:-3]
        features = self.blocks(bars.reshape(-1, *bars.shape[-3:])).flatten(1)
        return F.relu(self.project(features)).view(*lead, -1)


class PianorollVae(nn.Module):
    """What both models share: the bar CNN, the bar logits, the loss, the metrics and the inference entry points.

    A subclass provides ``teacher_forced(x) -> (logits [B, L, 2, S, P], kl [B])``, ``encode``, ``decode`` and
    ``sample``.
    """

    def __init__(self, config: CnnVrnnConfig, head_input: int):
        super().__init__()
        self.config = config
        converter = converter_from_spec(config.data)
        self.bar_shape = (2, converter.steps_per_bar, converter.n_pitches)
        self.cnn = BarCnn(converter.steps_per_bar, converter.n_pitches, config.cnn_channels, config.cnn_kernels,
                          config.bar_size)
        self.head = nn.Linear(head_input, int(np.prod(self.bar_shape)))
        nn.init.constant_(self.head.bias, SPARSE_LOGIT)

    def bar_logits(self, h: Tensor) -> Tensor:
        """[..., head_input] -> Bernoulli logits [..., 2, S, P] of one bar."""
        return self.head(h).view(*h.shape[:-1], *self.bar_shape)

    # --------------------------------------------------------------------------------------- training
    def training_loss(self, batch: Tensor, step: int) -> StepOutput:
        """BCE summed per bar and over the window, plus β·KL above the free bits, on windows [B, L, 2, S, P]."""
        x = self._check(batch)
        logits, kl = self.teacher_forced(x)
        bce = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="none").sum(dim=(-3, -2, -1))  # [B, L]
        beta = self.config.beta(step)
        loss = (bce.sum(dim=1) + beta * kl_above_free_bits(kl, self.config.free_bits)).mean()
        metrics: dict[str, Tensor | float] = {
            "bce_per_bar": bce.mean().detach(),
            "kl_bits": kl.mean().detach() / LN2,
            "nll_bound_per_bar": bce.mean().detach() + kl.mean().detach() / x.shape[1],  # -ELBO per bar
            "beta": beta,
        }
        return StepOutput(loss=loss, metrics=metrics, count=x.shape[0])

    @torch.no_grad()
    def evaluate(self, x: Tensor, temperature: float = 0.0) -> dict[str, Tensor]:
        """Batch means on windows [B, L, 2, S, P]: bce_per_bar (nats, teacher-forced with z from the posterior),
        nll_bound_per_bar, kl_bits, and onset precision / recall / F1 of the windows decoded freely from their
        posterior means at ``temperature``."""
        metrics = {key: torch.as_tensor(value, dtype=torch.float32)
                   for key, value in self.training_loss(x, step=0).metrics.items() if key != "beta"}
        metrics.update(onset_scores(self.reconstruct(x, temperature), x))
        return metrics

    # -------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def reconstruct(self, x: Tensor, temperature: float = 1.0) -> Tensor:
        """Windows x [B, L, 2, S, P] decoded again, bar by bar, from their posterior means."""
        _, mu, _ = self.encode(x)
        return self.decode(mu, x.shape[1], temperature)

    @torch.no_grad()
    def interpolate(self, x1: Tensor, x2: Tensor, n: int, temperature: float = 1.0) -> Tensor:
        """n windows [n, L, 2, S, P] decoded along the slerp between the posterior means of x1 and x2, endpoints
        included."""
        z = posterior_path(self.encode, x1, x2, n)
        return self.decode(z, x1.shape[0], temperature)

    def _check(self, x: Tensor) -> Tensor:
        """x as float 0/1 after checking it is a batch of piano-roll windows [B, L, 2, S, P]."""
        if x.dim() != 5 or tuple(x.shape[2:]) != self.bar_shape or x.is_floating_point():
            raise ValueError(f"expected integer piano-roll windows [B, L, {', '.join(map(str, self.bar_shape))}], "
                             f"got {x.dtype} {list(x.shape)}")
        return x.float()

    @property
    def device(self) -> torch.device:
        return self.head.weight.device


class CnnVrnn(PianorollVae):
    """One z per window: bidirectional GRU encoder, GRU decoder fed z and the previous bar's feature at every bar."""

    def __init__(self, config: CnnVrnnConfig):
        super().__init__(config, config.dec_rnn_size)
        self.encoder = nn.GRU(config.bar_size, config.enc_rnn_size, batch_first=True, bidirectional=True)
        self.mu = small_linear(2 * config.enc_rnn_size, config.z_size)
        self.sigma = small_linear(2 * config.enc_rnn_size, config.z_size)
        self.initial_state = nn.Linear(config.z_size, config.dec_rnn_size)
        self.start = nn.Parameter(torch.zeros(config.bar_size))  # the "previous bar" of the first one
        self.decoder = nn.GRU(config.z_size + config.bar_size, config.dec_rnn_size, batch_first=True)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """z = μ + σ·ε, μ and σ, each [B, z_size], of windows [B, L, 2, S, P]."""
        _, h = self.encoder(self.cnn(self._check(x)))
        return gaussian_posterior(torch.cat([h[0], h[1]], dim=-1), self.mu, self.sigma)

    def teacher_forced(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Logits [B, L, 2, S, P] given the previous target bars, and the KL [B] of z's posterior."""
        features = self.cnn(x)
        _, h = self.encoder(features)
        z, mu, sigma = gaussian_posterior(torch.cat([h[0], h[1]], dim=-1), self.mu, self.sigma)
        previous = torch.cat([self.start.expand(len(x), 1, -1), features[:, :-1]], dim=1)
        out, _ = self.decoder(self._inputs(z, previous), self._state(z))
        return self.bar_logits(out), gaussian_kl(mu, sigma)

    @torch.no_grad()
    def decode(self, z: Tensor, length: int, temperature: float = 1.0) -> Tensor:
        """Windows [B, length, 2, S, P] (int64 0/1) generated bar by bar from z [B, z_size], each bar fed back."""
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        state, previous, bars = self._state(z), self.start.expand(len(z), 1, -1), []
        for _ in range(length):
            out, state = self.decoder(self._inputs(z, previous), state)
            bars.append(sample_bars(self.bar_logits(out[:, 0]), temperature, self.config.decoding))
            previous = self.cnn(bars[-1]).unsqueeze(1)
        return torch.stack(bars, dim=1).long()

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0) -> Tensor:
        """n windows [n, length, 2, S, P] decoded from z drawn from the prior N(0, I)."""
        return self.decode(torch.randn(n, self.config.z_size, device=self.device), length, temperature)

    def _inputs(self, z: Tensor, previous: Tensor) -> Tensor:
        """The decoder's inputs [B, L, z + bar]: z at every bar beside the previous bars' features [B, L, bar]."""
        return torch.cat([z.unsqueeze(1).expand(-1, previous.shape[1], -1), previous], dim=-1)

    def _state(self, z: Tensor) -> Tensor:
        """The decoder's initial state [1, B, dec] from z."""
        return torch.tanh(self.initial_state(z)).unsqueeze(0)


class BarVrnn(PianorollVae):
    """A latent per bar with a learned prior (Chung et al., 2015), the bar CNN as the feature extractor of x."""

    def __init__(self, config: CnnVrnnConfig):
        super().__init__(config, config.dec_rnn_size + config.bar_size)
        size, z = config.dec_rnn_size, config.z_size
        self.prior_mu, self.prior_sigma = nn.Linear(size, z), nn.Linear(size, z)
        self.mu = small_linear(size + config.bar_size, z)
        self.sigma = small_linear(size + config.bar_size, z)
        self.z_feature = nn.Sequential(nn.Linear(z, config.bar_size), nn.ReLU())
        self.cell = nn.GRUCell(2 * config.bar_size, size)

    def teacher_forced(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Logits [B, L, 2, S, P] with each z_t from its posterior, and the KL [B] summed over the bars."""
        logits, kl, _, _, _ = self._posterior_pass(x)
        return logits, kl

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """z, μ and σ [B, L * z_size]: each bar's posterior along the path of the drawn z_t."""
        _, _, z, mu, sigma = self._posterior_pass(self._check(x))
        return z, mu, sigma

    @torch.no_grad()
    def decode(self, z: Tensor, length: int, temperature: float = 1.0) -> Tensor:
        """Windows [B, length, 2, S, P] (int64 0/1) from per-bar latents z [B, length * z_size]."""
        if z.shape[1] != length * self.config.z_size:
            raise ValueError(f"a VRNN decodes one z of {self.config.z_size} per bar: {length} bars need "
                             f"{length * self.config.z_size} values, got {z.shape[1]}")
        return self._generate(len(z), length, temperature, z.view(len(z), length, -1).unbind(1))

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0) -> Tensor:
        """n windows [n, length, 2, S, P], each z_t drawn from the learned prior given the bars before it."""
        return self._generate(n, length, temperature, None)

    def _posterior_pass(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Teacher-forced run: logits [B, L, 2, S, P], KL [B], and z, μ, σ of the posteriors [B, L * z_size]."""
        features = self.cnn(x)
        h = features.new_zeros(len(x), self.config.dec_rnn_size)
        outs, kls, zs, mus, sigmas = [], [], [], [], []
        for t in range(x.shape[1]):
            z, mu, sigma = gaussian_posterior(torch.cat([h, features[:, t]], dim=-1), self.mu, self.sigma)
            _, prior_mu, prior_sigma = gaussian_posterior(h, self.prior_mu, self.prior_sigma)
            kls.append(gaussian_kl_between(mu, sigma, prior_mu, prior_sigma))
            z_feature = self.z_feature(z)
            outs.append(torch.cat([h, z_feature], dim=-1))
            h = self.cell(torch.cat([features[:, t], z_feature], dim=-1), h)
            zs.append(z), mus.append(mu), sigmas.append(sigma)
        logits = self.bar_logits(torch.stack(outs, dim=1))
        return logits, torch.stack(kls, dim=1).sum(dim=1), *(torch.cat(v, dim=1) for v in (zs, mus, sigmas))

    def _generate(self, n: int, length: int, temperature: float, latents: tuple[Tensor, ...] | None) -> Tensor:
        """n windows generated bar by bar, z_t given (``latents``) or drawn from the prior, each bar fed back."""
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        h = self.head.weight.new_zeros(n, self.config.dec_rnn_size)
        bars = []
        for t in range(length):
            z = latents[t] if latents is not None else gaussian_posterior(h, self.prior_mu, self.prior_sigma)[0]
            z_feature = self.z_feature(z)
            bars.append(sample_bars(self.bar_logits(torch.cat([h, z_feature], dim=-1)), temperature,
                                    self.config.decoding))
            h = self.cell(torch.cat([self.cnn(bars[-1]), z_feature], dim=-1), h)
        return torch.stack(bars, dim=1).long()


def build(config: CnnVrnnConfig) -> PianorollVae:
    """The model of ``config``: the per-bar VRNN with ``vrnn``, else the CNN-VRNN with one z per window."""
    return BarVrnn(config) if config.vrnn else CnnVrnn(config)


# ------------------------------------------------------------------------------------ judging held-out metrics
# The unit of every metric of `evaluate` and `baselines`.
UNITS = {"bce_per_bar": "nats per bar", "nll_bound_per_bar": "nats per bar", "kl_bits": "bits per window",
         "onset_precision": "fraction of onsets", "onset_recall": "fraction of onsets",
         "onset_f1": "fraction of onsets", "frequency_bce_per_bar": "nats per bar"}


def baselines(train_windows: np.ndarray, windows: np.ndarray, config: CnnVrnnConfig) -> dict[str, float]:
    """Per channel, step of the bar and pitch, the Bernoulli frequency of ``train_windows`` (add-one smoothed),
    scored on ``windows`` as BCE summed per bar (nats per bar, like the models' bce_per_bar)."""
    bars = 0
    ones = np.zeros(train_windows.shape[2:], np.float64)
    for chunk in chunks(train_windows, bool):
        ones += chunk.sum(axis=(0, 1))
        bars += chunk.shape[0] * chunk.shape[1]
    p = (ones + 1) / (bars + 2)
    log_p, log_q = np.log(p), np.log1p(-p)
    total, n_bars = 0.0, 0
    for chunk in chunks(windows, bool):
        total -= float(np.where(chunk, log_p, log_q).sum())
        n_bars += chunk.shape[0] * chunk.shape[1]
    return {"frequency_bce_per_bar": total / max(n_bars, 1)}


def verdicts(metrics: dict[str, Any]) -> list[str]:
    """Whether the model's BCE per bar, and its bound with the KL, beat the note frequencies'."""
    baseline, name = metrics["frequency_bce_per_bar"], "the training windows' note frequencies (nats per bar)"
    return [verdict("BCE per bar", metrics["bce_per_bar"], baseline, name, False),
            verdict("BCE + KL per bar", metrics["nll_bound_per_bar"], baseline, name, False)]
