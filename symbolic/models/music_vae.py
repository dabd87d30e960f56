"""MusicVAE (Roberts et al., 2018): a recurrent VAE over fixed-length windows of melody, drums or trios.

Encoder: stacked bidirectional LSTM over the one-hot input; its final forward and backward outputs give the
posterior N(μ, σ²) with μ = Linear(h), σ = softplus(Linear(h)); the prior is N(0, I).

Decoder, one categorical LSTM per track (for trio: melody, bass, drums), each fed the previous token:
- flat: started from tanh(Linear(z)), z appended to every input, one segment covering the whole window;
- hierarchical: a conductor LSTM started from z emits one embedding per bar; each bar is decoded from its
  embedding (state reset per bar, embedding appended to every input), its first input being the previous
  bar's last token.

Loss: summed cross-entropy + β·max(KL − free_bits·ln 2, 0), β and scheduled sampling annealed by step (see
`symbolic.configs`). Batches are int64 class indices [B, T, n_tracks]. Call `eval()` before inference.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.step import StepOutput
from symbolic.configs import MusicVAEConfig
from symbolic.models.baselines import chunks, unigram_nll, verdict
from symbolic.models.latent import LN2, gaussian_kl, gaussian_posterior, kl_above_free_bits, posterior_path
from symbolic.models.lstm_parts import BidirectionalLstmEncoder, CategoricalLstmDecoder, Conductor, small_linear

NO_EVENT = 0  # the class of "nothing new at this step" in every track: hold (melody), no hit (drums)


class MusicVAE(nn.Module):
    """Encoder, optional conductor and per-track decoders built from a MusicVAEConfig."""

    def __init__(self, config: MusicVAEConfig):
        super().__init__()
        self.config = config
        keep = config.dropout_keep_prob
        input_size = sum(self._roll_size(d) if config.roll_input else d for d in config.depths)
        self.encoder = BidirectionalLstmEncoder(input_size, config.enc_rnn_size, keep)
        self.mu = small_linear(self.encoder.output_size, config.z_size)
        self.sigma = small_linear(self.encoder.output_size, config.z_size)
        self.conductor = Conductor(config.z_size, config.conductor_rnn_size, keep) if config.hierarchical else None
        embed_size = self.conductor.output_size if self.conductor else config.z_size
        self.decoders = nn.ModuleList(
            CategoricalLstmDecoder(depth, embed_size, config.dec_rnn_size, keep) for depth in config.depths)

    # --------------------------------------------------------------------------------------- training
    def training_loss(self, batch: Tensor, step: int) -> StepOutput:
        """Magenta's loss on a batch [B, T, n_tracks]; scheduled sampling only in training mode."""
        cfg = self.config
        x = self._check(batch)
        z, mu, sigma = self.encode(x)
        sampling_prob = cfg.sampling_prob(step) if self.training else 0.0
        logits = self.decoder_logits(x, z, sampling_prob)
        r_loss = self._reconstruction_loss(logits, x)
        kl = gaussian_kl(mu, sigma)
        kl_cost = kl_above_free_bits(kl, cfg.free_bits)
        beta = cfg.beta(step)
        loss = r_loss.mean() + beta * kl_cost.mean()
        metrics = {
            "r_loss": r_loss.mean().detach(),
            "kl_bits": kl.mean().detach() / LN2,
            "kl_loss": kl_cost.mean().detach(),
            "beta": beta,
            "sampling_prob": sampling_prob,
            "accuracy": self._correct(logits, x).float().mean(),
        }
        return StepOutput(loss=loss, metrics=metrics, count=x.shape[0])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """z = μ + σ·ε, posterior mean μ and scale σ (Magenta's order), each [B, z_size], of x [B, T, tracks]."""
        return gaussian_posterior(self.encoder(self._encoder_input(self._check(x))), self.mu, self.sigma)

    def decoder_logits(self, x: Tensor, z: Tensor, sampling_prob: float = 0.0) -> list[Tensor]:
        """Per-track logits [B, T, depth] for x given z, fed x shifted right (zeros first).

        All bars of a hierarchical model run as one batch of B·bars sequences, since the conductor does not
        depend on the decoded notes.
        """
        x = self._check(x)
        batch, length, _ = x.shape
        segment = self._segment_length(length)
        embeddings = self._segment_embeddings(z, length // segment).flatten(0, 1)
        logits = []
        for k, decoder in enumerate(self.decoders):
            targets = F.one_hot(x[..., k], decoder.depth).float()
            inputs = F.pad(targets[:, :-1], (0, 0, 1, 0))
            out = decoder(inputs.reshape(-1, segment, decoder.depth), embeddings, sampling_prob)
            logits.append(out.reshape(batch, length, decoder.depth))
        return logits

    # -------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def decode(self, z: Tensor, length: int, temperature: float = 1.0) -> Tensor:
        """Sequences [B, length, n_tracks] (int64) sampled step by step from z [B, z_size]; temperature 0: argmax."""
        segment = self._segment_length(length)
        embeddings = self._segment_embeddings(z, length // segment)
        tracks = []
        for decoder in self.decoders:
            first = z.new_zeros(z.shape[0], decoder.depth)
            segments = []
            for s in range(embeddings.shape[1]):
                segments.append(decoder.sample(embeddings[:, s], first, segment, temperature))
                first = F.one_hot(segments[-1][:, -1], decoder.depth).to(first.dtype)
            tracks.append(torch.cat(segments, dim=1))
        return torch.stack(tracks, dim=-1)

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0) -> Tensor:
        """n sequences [n, length, n_tracks] decoded from z drawn from the prior."""
        z = torch.randn(n, self.config.z_size, device=self.mu.weight.device)
        return self.decode(z, length, temperature)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, temperature: float = 1.0) -> Tensor:
        """x [B, T, n_tracks] decoded again from its posterior mean."""
        _, mu, _ = self.encode(x)
        return self.decode(mu, x.shape[1], temperature)

    @torch.no_grad()
    def interpolate(self, x1: Tensor, x2: Tensor, n: int, temperature: float = 1.0) -> Tensor:
        """n sequences [n, T, n_tracks] decoded along the slerp between the posterior means of x1 and x2 [T, n_tracks].

        The first and last are decoded from the endpoints themselves.
        """
        z = posterior_path(self.encode, x1, x2, n)
        return self.decode(z, x1.shape[0], temperature)

    @torch.no_grad()
    def evaluate(self, x: Tensor, temperature: float = 1.0) -> dict[str, Tensor]:
        """Batch means of the metrics that compare models, on sequences [B, T, n_tracks].

        Teacher-forced, with z drawn from the posterior as in the loss: r_loss, kl_bits, elbo (nats per
        sequence), accuracy and bar_accuracy ([n_bars]). Free-running, as `reconstruct` (z = posterior mean,
        each step fed the previous sample at `temperature`): sampled_accuracy and bar_sampled_accuracy.
        """
        x = self._check(x)
        z, mu, sigma = self.encode(x)
        logits = self.decoder_logits(x, z)
        r_loss = self._reconstruction_loss(logits, x)
        kl = gaussian_kl(mu, sigma)
        teacher = self._per_bar(self._correct(logits, x))
        sampled = self._per_bar(self.decode(mu, x.shape[1], temperature) == x)
        return {
            "r_loss": r_loss.mean(),
            "kl_bits": kl.mean() / LN2,
            "elbo": -(r_loss + kl).mean(),
            "accuracy": teacher.mean(),
            "sampled_accuracy": sampled.mean(),
            "bar_accuracy": teacher,
            "bar_sampled_accuracy": sampled,
        }

    # ---------------------------------------------------------------------------------------- helpers
    def _check(self, x: Tensor) -> Tensor:
        """x as int64, after checking it is [B, T, n_tracks] of class indices that the decoder can split."""
        n_tracks = len(self.config.depths)
        if x.dim() != 3 or x.shape[-1] != n_tracks or x.is_floating_point():
            raise ValueError(f"expected integer class indices [B, T, {n_tracks}], got {x.dtype} {list(x.shape)}")
        self._segment_length(x.shape[1])
        return x.long()

    def _segment_length(self, length: int) -> int:
        """Steps decoded from one embedding: a bar for hierarchical models, everything for flat ones."""
        if not self.config.hierarchical:
            return length
        if length <= 0 or length % self.config.steps_per_bar:
            raise ValueError(f"a hierarchical model needs whole bars of {self.config.steps_per_bar} steps, "
                             f"got a length of {length}")
        return self.config.steps_per_bar

    def _segment_embeddings(self, z: Tensor, n_segments: int) -> Tensor:
        """[B, n_segments, embed_size]: the conductor's bar embeddings, or z itself for a flat decoder."""
        return self.conductor(z, n_segments) if self.conductor else z.unsqueeze(1)

    @staticmethod
    def _roll_size(depth: int) -> int:
        """Width of a drum roll for `depth` = 2**n hit combinations: n hit bits and a silence bit."""
        return depth.bit_length()

    def _encoder_input(self, x: Tensor) -> Tensor:
        """Float encoder input [B, T, input_size]: the tracks' one-hots (or drum rolls) concatenated."""
        parts = []
        for k, depth in enumerate(self.config.depths):
            if self.config.roll_input:  # class index = sum of 2**i over the drum classes i that are hit
                bits = (x[..., k, None] >> torch.arange(self._roll_size(depth) - 1, device=x.device)) & 1
                parts.append(torch.cat([bits, (x[..., k, None] == 0).long()], dim=-1).float())
            else:
                parts.append(F.one_hot(x[..., k], depth).float())
        return torch.cat(parts, dim=-1)

    @staticmethod
    def _reconstruction_loss(logits: list[Tensor], x: Tensor) -> Tensor:
        """Cross-entropy summed over time and tracks: [B]."""
        return sum(F.cross_entropy(l.flatten(0, 1).float(), x[..., k].flatten(), reduction="none").view(x.shape[:2])
                   .sum(dim=1) for k, l in enumerate(logits))

    @staticmethod
    def _correct(logits: list[Tensor], x: Tensor) -> Tensor:
        """Whether each step's most likely class is the target: bool [B, T, n_tracks]."""
        return torch.stack([l.argmax(dim=-1) for l in logits], dim=-1) == x

    def _per_bar(self, correct: Tensor) -> Tensor:
        """Accuracy per bar [n_bars] from per-step correctness [B, T, n_tracks]."""
        return correct.float().unflatten(1, (-1, self.config.steps_per_bar)).mean(dim=(0, 2, 3))


# ------------------------------------------------------------------------------------ judging held-out metrics
# The unit of every metric of `evaluate` and `baselines` (a sequence is one window; accuracies over tracks too).
UNITS = {"accuracy": "fraction of steps", "sampled_accuracy": "fraction of steps",
         "bar_accuracy": "fraction of steps, per bar", "bar_sampled_accuracy": "fraction of steps, per bar",
         "r_loss": "nats per sequence", "elbo": "nats per sequence", "kl_bits": "bits per sequence",
         "always_hold_accuracy": "fraction of steps", "unigram_nll": "nats per sequence"}


def baselines(train_windows: np.ndarray, windows: np.ndarray, config: MusicVAEConfig) -> dict[str, float]:
    """Trivial predictors scored on ``windows`` [N, T, n_tracks]: always "no event", and the unigram model of
    ``train_windows`` (add-one smoothed token frequencies per track), in nats per sequence."""
    holds = sum(int((chunk == NO_EVENT).sum()) for chunk in chunks(windows))
    return {"always_hold_accuracy": holds / windows.size,
            "unigram_nll": unigram_nll(train_windows, windows, config.depths)}


def verdicts(metrics: dict[str, Any]) -> list[str]:
    """Whether the model beats each baseline; ``metrics`` are evaluate's (or a validation row's, without elbo)."""
    nll = -metrics["elbo"] if "elbo" in metrics else metrics["r_loss"] + metrics["kl_bits"] * LN2
    return [verdict("accuracy", metrics["accuracy"], metrics["always_hold_accuracy"], "always predicting hold", True),
            verdict("-elbo", nll, metrics["unigram_nll"], "the data's token frequencies (nats per sequence)", False,
                    digits=1)]
