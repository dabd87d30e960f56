"""MusicVAE (Roberts et al., 2018): a recurrent VAE over fixed-length windows of melody, drums or trios.

As Magenta's, the model is an encoder, the latent and a decoder, the classes chosen by the config:
- encoder: a stacked bidirectional LSTM whose final forward and backward outputs give the posterior N(μ, σ²),
  μ = Linear(h), σ = softplus(Linear(h)); the prior is N(0, I). `BidirectionalEncoder` reads each track as a
  one-hot, `DrumRollEncoder` (`roll_input`) as a roll of drum hits.
- decoder: one `CategoricalDecoder` per track (for trio: melody, bass, drums), each fed the previous token, started
  from an embedding that is also appended to every input. Flat configs decode the whole window from z; hierarchical
  ones put a `Conductor` above them: an LSTM started from z emitting one embedding per bar, each bar decoded from
  its embedding (state reset per bar), its first input being the previous bar's last token.

Loss: summed cross-entropy + β·max(KL − free_bits·ln 2, 0), β and scheduled sampling annealed by step (see
`symbolic.configs`). Batches are int64 class indices [B, T, n_tracks]. Call `eval()` before inference.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.step import StepOutput
from symbolic.configs import MusicVAEConfig
from symbolic.models.baselines import chunks, unigram_nll, verdict
from symbolic.models.latent import LN2, gaussian_kl, gaussian_posterior, kl_above_free_bits, posterior_path
from symbolic.models.lstm_parts import (BidirectionalLstmEncoder, InitialState, LstmState, StackedLstm,
                                        sample_categorical, small_linear)

NO_EVENT = 0  # the class of "nothing new at this step" in every track: hold (melody), no hit (drums)


# ------------------------------------------------------------------------------------------------ encoders
class BidirectionalEncoder(BidirectionalLstmEncoder):
    """The bidirectional LSTM encoder over class indices [B, T, tracks], each track read as a one-hot."""

    def __init__(self, depths: tuple[int, ...], sizes: list[int], keep_prob: float):
        super().__init__(sum(self.input_width(depth) for depth in depths), sizes, keep_prob)
        self.depths = depths

    def forward(self, x: Tensor) -> Tensor:
        """Class indices [B, T, tracks] -> [B, output_size], the tracks' inputs concatenated at every step."""
        parts = [self.track_input(x[..., k], depth) for k, depth in enumerate(self.depths)]
        return super().forward(torch.cat(parts, dim=-1))

    @staticmethod
    def input_width(depth: int) -> int:
        """Inputs per step of a track of `depth` classes."""
        return depth

    @staticmethod
    def track_input(classes: Tensor, depth: int) -> Tensor:
        """Float inputs [B, T, input_width(depth)] of one track's class indices [B, T]."""
        return F.one_hot(classes, depth).float()


class DrumRollEncoder(BidirectionalEncoder):
    """Reads each track as a drum roll (Magenta's roll_input): a class is the sum of 2**i over the drums i hit, so
    n hit bits and a silence bit describe its 2**n combinations."""

    @staticmethod
    def input_width(depth: int) -> int:
        return depth.bit_length()

    @staticmethod
    def track_input(classes: Tensor, depth: int) -> Tensor:
        bits = (classes[..., None] >> torch.arange(depth.bit_length() - 1, device=classes.device)) & 1
        return torch.cat([bits, (classes[..., None] == 0).long()], dim=-1).float()


# ------------------------------------------------------------------------------------------------ decoders
class CategoricalDecoder(nn.Module):
    """One track's decoder: LSTM started from an embedding, which is also appended to every input; softmax out.

    Inputs are one-hot previous tokens (zeros before the first); outputs are logits over the track's classes. With
    ``control_size`` (chords), each step's input also holds that step's control vector [N, L, control_size]
    (Magenta's c_input), after the embedding.
    """

    def __init__(self, depth: int, embed_size: int, sizes: list[int], keep_prob: float, control_size: int = 0):
        super().__init__()
        self.depth = depth
        self.control_size = control_size
        self.initial_state = InitialState(embed_size, sizes)
        self.lstm = StackedLstm(depth + embed_size + control_size, sizes, keep_prob)
        self.output = nn.Linear(sizes[-1], depth)

    def forward(self, inputs: Tensor, embedding: Tensor, sampling_prob: float = 0.0,
                controls: Tensor | None = None) -> Tensor:
        """Logits [N, L, depth] for one-hot inputs [N, L, depth] given embeddings [N, E] (and controls [N, L, C]).

        With sampling_prob > 0 (scheduled sampling), each step after the first is fed, with that probability
        per sequence, a token sampled from the previous step's output instead of the given input.
        """
        if sampling_prob == 0.0:
            x = self._append(inputs, embedding)
            if controls is not None:
                x = torch.cat([x, controls.to(x.dtype)], dim=-1)
            out, _ = self.lstm(x, self.initial_state(embedding))
            return self.output(out)
        step, state = self.stepper(embedding, controls)
        logits: list[Tensor] = []
        token = inputs[:, 0]
        for t in range(inputs.shape[1]):
            if t:
                sampled = F.one_hot(sample_categorical(logits[-1].detach(), 1.0), self.depth).to(inputs.dtype)
                use_sample = torch.rand(inputs.shape[0], 1, device=inputs.device) < sampling_prob
                token = torch.where(use_sample, sampled, inputs[:, t])
            step_logits, state = step(token, state, t)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    def stepper(self, embedding: Tensor, controls: Tensor | None = None
                ) -> tuple[Callable[[Tensor, LstmState, int], tuple[Tensor, LstmState]], LstmState]:
        """The step from `embedding` [N, E] and the controls [N, L, C] if any (previous one-hot token [N, depth],
        state, step index -> logits [N, depth], state) and its initial state: the same math as the one-call pass,
        one token at a time.

        The embedding's (and controls') share of the first layer's gates is computed once here, not at every step,
        unless dropout draws a fresh mask over the whole input at every step.
        """
        first = self.lstm.layers[0]
        if self.training and self.lstm.dropout.p > 0:
            def first_gates(token: Tensor, t: int) -> Tensor:
                given = [embedding.to(token.dtype)] + ([controls[:, t].to(token.dtype)] if controls is not None else [])
                return F.linear(self.lstm.dropout(torch.cat([token, *given], dim=-1)), first.weight_ih_l0,
                                first.bias_ih_l0)
        else:
            token_weight, embedding_weight, control_weight = first.weight_ih_l0.split(
                [self.depth, embedding.shape[-1], self.control_size], dim=1)
            shared = torch.addmm(first.bias_ih_l0, embedding, embedding_weight.t())
            if controls is not None:
                shared = shared.unsqueeze(1) + controls.to(shared.dtype) @ control_weight.t()  # [N, L, 4H]

            def first_gates(token: Tensor, t: int) -> Tensor:
                return torch.addmm(shared if controls is None else shared[:, t], token, token_weight.t())

        def step(token: Tensor, state: LstmState, t: int = 0) -> tuple[Tensor, LstmState]:
            out, state = self.lstm.step(first_gates(token, t), state)
            return self.output(out), state
        return step, [(h[0], c[0]) for h, c in self.initial_state(embedding)]

    def sample(self, embedding: Tensor, first: Tensor, length: int, temperature: float,
               controls: Tensor | None = None) -> Tensor:
        """Class indices [N, length] decoded from `embedding` (and controls [N, length, C]), each step fed the
        previous step's sample.

        `first` [N, depth] is the one-hot input of the first step (zeros, or the previous bar's last token).
        """
        step, state = self.stepper(embedding, controls)
        token, tokens = first, []
        for t in range(length):
            logits, state = step(token, state, t)
            tokens.append(sample_categorical(logits, temperature))
            token = F.one_hot(tokens[-1], self.depth).to(first.dtype)
        return torch.stack(tokens, dim=1)

    @staticmethod
    def _append(x: Tensor, embedding: Tensor) -> Tensor:
        """Concatenate embeddings [N, E] to every step of x [N, L, D]."""
        return torch.cat([x, embedding.unsqueeze(1).expand(-1, x.shape[1], -1).to(x.dtype)], dim=-1)


class MultiCategoricalDecoder(nn.ModuleList):
    """One CategoricalDecoder per track, each decoding a window segment by segment (the whole window, or a bar),
    every segment from its own embedding."""

    def __init__(self, depths: tuple[int, ...], embed_size: int, sizes: list[int], keep_prob: float,
                 control_size: int = 0):
        super().__init__(CategoricalDecoder(depth, embed_size, sizes, keep_prob, control_size) for depth in depths)

    def forward(self, x: Tensor, embeddings: Tensor, sampling_prob: float = 0.0,
                controls: Tensor | None = None) -> list[Tensor]:
        """Per-track logits [B, T, depth] for x [B, T, tracks] fed shifted right (zeros first), given one embedding
        per segment [B, n_segments, E] and the controls of every step [B, T, C] if any.

        All segments run as one batch of B·n_segments sequences, since their embeddings do not depend on the
        decoded notes.
        """
        batch, length, _ = x.shape
        segment = length // embeddings.shape[1]
        embeddings = embeddings.flatten(0, 1)
        if controls is not None:
            controls = controls.reshape(-1, segment, controls.shape[-1])
        logits = []
        for k, decoder in enumerate(self):
            targets = F.one_hot(x[..., k], decoder.depth).float()
            inputs = F.pad(targets[:, :-1], (0, 0, 1, 0))
            out = decoder(inputs.reshape(-1, segment, decoder.depth), embeddings, sampling_prob, controls)
            logits.append(out.reshape(batch, length, decoder.depth))
        return logits

    def sample(self, embeddings: Tensor, length: int, temperature: float, controls: Tensor | None = None) -> Tensor:
        """Sequences [B, length, tracks] (int64) sampled step by step from one embedding per segment [B, n, E] (and
        the controls of every step [B, length, C]); each segment's first input is the previous segment's last
        token."""
        segment = length // embeddings.shape[1]
        tracks = []
        for decoder in self:
            first = torch.zeros(embeddings.shape[0], decoder.depth, device=embeddings.device)
            segments = []
            for s in range(embeddings.shape[1]):
                given = None if controls is None else controls[:, s * segment:(s + 1) * segment]
                segments.append(decoder.sample(embeddings[:, s], first, segment, temperature, given))
                first = F.one_hot(segments[-1][:, -1], decoder.depth).to(first.dtype)
            tracks.append(torch.cat(segments, dim=1))
        return torch.stack(tracks, dim=-1)


class Conductor(nn.Module):
    """Top level of the hierarchical decoder: an LSTM started from z emitting one embedding per bar.

    Its inputs are zeros (Magenta's hierdec configs disable autoregression at this level), so all bars'
    embeddings come from one LSTM call.
    """

    def __init__(self, z_size: int, sizes: list[int], steps_per_bar: int, keep_prob: float):
        super().__init__()
        self.initial_state = InitialState(z_size, sizes)
        self.lstm = StackedLstm(1, sizes, keep_prob)
        self.output_size = sizes[-1]
        self.steps_per_bar = steps_per_bar

    def forward(self, z: Tensor, length: int) -> Tensor:
        """[B, z_size] -> an embedding for each bar of `length` steps [B, n_bars, output_size]."""
        embeddings, _ = self.lstm(z.new_zeros(z.shape[0], self.bars(length), 1), self.initial_state(z))
        return embeddings

    def bars(self, length: int) -> int:
        """Bars in `length` steps; a ValueError unless they are whole."""
        if length <= 0 or length % self.steps_per_bar:
            raise ValueError(f"a hierarchical model needs whole bars of {self.steps_per_bar} steps, "
                             f"got a length of {length}")
        return length // self.steps_per_bar


# --------------------------------------------------------------------------------------------------- model
class MusicVAE(nn.Module):
    """The encoder, latent and decoder that a MusicVAEConfig names."""

    def __init__(self, config: MusicVAEConfig):
        super().__init__()
        self.config = config
        keep = config.dropout_keep_prob
        encoder = DrumRollEncoder if config.roll_input else BidirectionalEncoder
        # A chord track is read by the encoder as one more one-hot track (Magenta concatenates the controls).
        chord_track = (config.chord_depth,) if config.chord_depth else ()
        self.encoder = encoder(config.depths + chord_track, config.enc_rnn_size, keep)
        self.mu = small_linear(self.encoder.output_size, config.z_size)
        self.sigma = small_linear(self.encoder.output_size, config.z_size)
        # The hierarchical decoder's two levels are attributes of the model itself: checkpoints name their
        # parameters conductor.* and decoders.*.
        self.conductor = (Conductor(config.z_size, config.conductor_rnn_size, config.steps_per_bar, keep)
                          if config.hierarchical else None)
        embed_size = self.conductor.output_size if self.conductor is not None else config.z_size
        self.decoders = MultiCategoricalDecoder(config.depths, embed_size, config.dec_rnn_size, keep,
                                                config.chord_depth)

    # --------------------------------------------------------------------------------------- training
    def training_loss(self, batch: Tensor, step: int) -> StepOutput:
        """Magenta's loss on a batch [B, T, n_tracks]; scheduled sampling only in training mode."""
        cfg = self.config
        x = self._check(batch)
        z, mu, sigma = self.encode(x)
        sampling_prob = cfg.sampling_prob(step) if self.training else 0.0
        logits = self.decoder_logits(x, z, sampling_prob)
        r_loss = self._reconstruction_loss(logits, x)  # the decoded tracks only: chords are given, not predicted
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
            "accuracy": self._correct(logits, self._tokens(x)).float().mean(),
        }
        return StepOutput(loss=loss, metrics=metrics, count=x.shape[0])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """z = μ + σ·ε, posterior mean μ and scale σ (Magenta's order), each [B, z_size], of x [B, T, tracks]."""
        return gaussian_posterior(self.encoder(self._check(x)), self.mu, self.sigma)

    def decoder_logits(self, x: Tensor, z: Tensor, sampling_prob: float = 0.0) -> list[Tensor]:
        """Per-track logits [B, T, depth] for x given z, fed x shifted right (zeros first)."""
        x = self._check(x)
        return self.decoders(x, self._segment_embeddings(z, x.shape[1]), sampling_prob, self._controls(x))

    # -------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def decode(self, z: Tensor, length: int, temperature: float = 1.0, chords: Tensor | None = None) -> Tensor:
        """Sequences [B, length, n_tracks] (int64) sampled step by step from z [B, z_size]; temperature 0: argmax.

        A chord-conditioned model decodes under ``chords``, the triad class of every step [B, length] (None: no
        chord throughout), and returns them as its last track.
        """
        if not self.config.chord_depth:
            return self.decoders.sample(self._segment_embeddings(z, length), length, temperature)
        chords = torch.zeros(z.shape[0], length, dtype=torch.long, device=z.device) if chords is None else chords
        x = torch.cat([z.new_zeros(z.shape[0], length, len(self.config.depths)).long(), chords[..., None].long()], -1)
        tokens = self.decoders.sample(self._segment_embeddings(z, length), length, temperature, self._controls(x))
        return torch.cat([tokens, x[..., -1:]], dim=-1)

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0, chords: Tensor | None = None) -> Tensor:
        """n sequences [n, length, n_tracks] decoded from z drawn from the prior (under ``chords`` [n, length])."""
        z = torch.randn(n, self.config.z_size, device=self.mu.weight.device)
        return self._decode_under(z, length, temperature, chords)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, temperature: float = 1.0) -> Tensor:
        """x [B, T, n_tracks] decoded again from its posterior mean (under its own chords)."""
        _, mu, _ = self.encode(x)
        return self._decode_under(mu, x.shape[1], temperature, self._chords(x))

    @torch.no_grad()
    def interpolate(self, x1: Tensor, x2: Tensor, n: int, temperature: float = 1.0,
                    chords: Tensor | None = None) -> Tensor:
        """n sequences [n, T, n_tracks] decoded along the slerp between the posterior means of x1 and x2 [T, n_tracks].

        The first and last are decoded from the endpoints themselves; a chord-conditioned model decodes every point
        under ``chords`` [T] (None: those of x1).
        """
        z = posterior_path(self.encode, x1, x2, n)
        if chords is None and self.config.chord_depth:
            chords = x1[..., -1]
        return self._decode_under(z, x1.shape[0], temperature, None if chords is None else chords.expand(n, -1))

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
        tokens = self._tokens(x)
        teacher = self._per_bar(self._correct(logits, tokens))
        decoded = self._decode_under(mu, x.shape[1], temperature, self._chords(x))
        sampled = self._per_bar(self._tokens(decoded) == tokens)
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
        n_tracks = len(self.config.depths) + (1 if self.config.chord_depth else 0)
        if x.dim() != 3 or x.shape[-1] != n_tracks or x.is_floating_point():
            raise ValueError(f"expected integer class indices [B, T, {n_tracks}], got {x.dtype} {list(x.shape)}")
        if self.conductor is not None:
            self.conductor.bars(x.shape[1])
        return x.long()

    def _decode_under(self, z: Tensor, length: int, temperature: float, chords: Tensor | None) -> Tensor:
        """``decode``, given the chords only when there are some (a model without chords is called as it always was)."""
        return self.decode(z, length, temperature) if chords is None else self.decode(z, length, temperature, chords)

    def _tokens(self, x: Tensor) -> Tensor:
        """The decoded tracks of x [B, T, n_tracks] (all but a chord track)."""
        return x[..., :len(self.config.depths)] if self.config.chord_depth else x

    def _chords(self, x: Tensor) -> Tensor | None:
        """The triad classes [B, T] of a chord-conditioned model's x; None for the others."""
        return x[..., -1] if self.config.chord_depth else None

    def _controls(self, x: Tensor) -> Tensor | None:
        """The decoder's per-step condition: the one-hot chord [B, T, chord_depth] (None without chords)."""
        return F.one_hot(x[..., -1], self.config.chord_depth).float() if self.config.chord_depth else None

    def _segment_embeddings(self, z: Tensor, length: int) -> Tensor:
        """One embedding per decoded segment [B, n_segments, E]: the conductor's per bar, or z for the whole window."""
        return self.conductor(z, length) if self.conductor is not None else z.unsqueeze(1)

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
    tracks = len(config.depths)  # a chord track after them is given, not predicted
    holds = sum(int((chunk[..., :tracks] == NO_EVENT).sum()) for chunk in chunks(windows))
    return {"always_hold_accuracy": holds / (windows.size // windows.shape[-1] * tracks),
            "unigram_nll": unigram_nll(train_windows, windows, config.depths)}


def verdicts(metrics: dict[str, Any]) -> list[str]:
    """Whether the model beats each baseline; ``metrics`` are evaluate's (or a validation row's, without elbo)."""
    nll = -metrics["elbo"] if "elbo" in metrics else metrics["r_loss"] + metrics["kl_bits"] * LN2
    return [verdict("accuracy", metrics["accuracy"], metrics["always_hold_accuracy"], "always predicting hold", True),
            verdict("-elbo", nll, metrics["unigram_nll"], "the data's token frequencies (nats per sequence)", False,
                    digits=1)]
