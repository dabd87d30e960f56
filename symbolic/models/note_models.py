"""The three note models of VRASH (Tikhonov & Yamshchikov, 2017) in one module: LM, VAE and VRASH.

A note is (pitch class 0-11 or 12 = rest, octave 0-10, duration class, GM program), as `symbolic.data.converters.notes`
writes it. The model reads a note as the concatenation of its four fields' embeddings and predicts the first three
with one categorical head each; the reconstruction loss is the sum of the three cross-entropies over the window.

- lm: a stacked LSTM predicting note k+1 from notes 1..k and the program; note 1 from a learned start input.
- vae: a bidirectional LSTM encodes the window into z ~ N(μ, σ²); the decoder, started from z, is fed z and the
  program at every step and never the notes: it cannot see what it has produced.
- vrash: the same encoder and z; the decoder is also fed its previous note (the "history": the target in
  training, its own sample when generating), the first step the learned start input.

Latent modes add β·max(KL − free_bits·ln 2, 0) per sequence, as MusicVAE does. Batches are integer windows
[B, T, 4]. Call `eval()` before inference.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.errors import UserError
from engine.step import StepOutput
from symbolic.configs.note_model import NoteModelConfig
from symbolic.data.converters.notes import REST, NoteTokenConverter
from symbolic.models.baselines import unigram_nll, verdict
from symbolic.models.latent import LN2, gaussian_kl, gaussian_posterior, kl_above_free_bits, posterior_path
from symbolic.models.lstm_parts import (BidirectionalLstmEncoder, InitialState, LstmState, StackedLstm,
                                        sample_categorical, small_linear)

HEADS = ("pitch_class", "octave", "duration")  # the predicted fields, in the window's column order
COLUMN_DEPTHS = NoteTokenConverter().depths  # classes of each window column: the three heads', then programs
HEAD_DEPTHS = COLUMN_DEPTHS[:len(HEADS)]
PROGRAM = len(HEADS)  # the window column holding the GM program
PROGRAMS = COLUMN_DEPTHS[PROGRAM]
MAX_PITCH = 127


class NoteModel(nn.Module):
    """Note embeddings, an encoder for latent modes, and one LSTM decoder with three heads."""

    def __init__(self, config: NoteModelConfig):
        super().__init__()
        self.config = config
        keep = 1.0 - config.dropout
        sizes = (config.pitch_class_embed, config.octave_embed, config.duration_embed)
        self.note_embeddings = nn.ModuleList(nn.Embedding(depth, size) for depth, size in zip(HEAD_DEPTHS, sizes))
        self.program_embedding = nn.Embedding(PROGRAMS, config.program_embed)
        note_size = sum(sizes)
        # The "previous note" of the first step. A decoder without history never reads it: it is kept (checkpoints
        # hold it) but frozen, or DDP would wait for its gradient.
        self.start = nn.Parameter(torch.zeros(note_size), requires_grad=config.history)
        if config.latent:
            self.encoder = BidirectionalLstmEncoder(note_size + config.program_embed, config.rnn_size, keep)
            self.mu = small_linear(self.encoder.output_size, config.z_size)
            self.sigma = small_linear(self.encoder.output_size, config.z_size)
            self.initial_state = InitialState(config.z_size, config.rnn_size)
        decoder_input = (note_size if config.history else 0) + config.program_embed + (
            config.z_size if config.latent else 0)
        self.decoder = StackedLstm(decoder_input, config.rnn_size, keep)
        self.heads = nn.ModuleList(nn.Linear(config.rnn_size[-1], depth) for depth in HEAD_DEPTHS)

    # --------------------------------------------------------------------------------------- training
    def training_loss(self, batch: Tensor, step: int) -> StepOutput:
        """Summed cross-entropy per window (+ β·KL above the free bits for latent modes) on a batch [B, T, 4]."""
        x = self._check(batch)
        z, mu, sigma = self.encode(x) if self.config.latent else (None, None, None)
        logits = self.decoder_logits(x, z)
        ce = torch.stack([F.cross_entropy(l.flatten(0, 1).float(), x[..., k].flatten(), reduction="none")
                          for k, l in enumerate(logits)]).view(len(HEADS), *x.shape[:2])  # [heads, B, T]
        correct = torch.stack([l.argmax(-1) for l in logits], dim=-1) == x[..., :len(HEADS)]
        loss = ce.sum(dim=(0, 2)).mean()
        metrics: dict[str, Tensor | float] = {
            "cross_entropy": ce.sum(dim=0).mean().detach(),  # nats per note
            **{f"ce_{name}": ce[k].mean().detach() for k, name in enumerate(HEADS)},
            "accuracy": correct.all(dim=-1).float().mean(),
        }
        metrics["nll_bound"] = metrics["cross_entropy"]
        if self.config.latent:
            kl = gaussian_kl(mu, sigma)
            beta = self.config.beta(step)
            loss = loss + beta * kl_above_free_bits(kl, self.config.free_bits).mean()
            # The ELBO per note: an upper bound on the data's nats per note, comparable with the LM's cross-entropy.
            metrics.update(kl_bits=kl.mean().detach() / LN2, beta=beta,
                           nll_bound=metrics["cross_entropy"] + kl.mean().detach() / x.shape[1])
        return StepOutput(loss=loss, metrics=metrics, count=x.shape[0])

    @torch.no_grad()
    def evaluate(self, x: Tensor, temperature: float = 0.0) -> dict[str, Tensor]:
        """Batch means of the metrics that compare models, on windows [B, T, 4].

        Teacher-forced as in the loss (z drawn from the posterior): cross_entropy and ce_<head> (nats per note),
        nll_bound (cross-entropy plus KL per note), accuracy (all three fields right). Latent modes add kl_bits and
        sampled_accuracy: the window decoded freely from its posterior mean at ``temperature``.
        """
        x = self._check(x)
        metrics = {key: torch.as_tensor(value, dtype=torch.float32)
                   for key, value in self.training_loss(x, step=0).metrics.items() if key != "beta"}
        if self.config.latent:
            _, mu, _ = self.encode(x)
            decoded = self.decode(mu, x.shape[1], temperature, meta=x[:, 0, PROGRAM])
            metrics["sampled_accuracy"] = (decoded[..., :len(HEADS)] == x[..., :len(HEADS)]).all(-1).float().mean()
        return metrics

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """z = μ + σ·ε, posterior mean μ and scale σ (Magenta's order), each [B, z_size], of windows [B, T, 4]."""
        self._require_latent("encode")
        x = self._check(x)
        program = self._per_step(self.program_embedding(x[:, 0, PROGRAM]), x.shape[1])
        inputs = torch.cat([self._note_embedding(x), program], dim=-1)
        return gaussian_posterior(self.encoder(inputs), self.mu, self.sigma)

    def decoder_logits(self, x: Tensor, z: Tensor | None = None) -> list[Tensor]:
        """Per-head logits [B, T, depth] for windows x [B, T, 4] (teacher-forced) given z [B, z_size] (latent modes)."""
        x = self._check(x)
        notes = self._note_embedding(x)
        previous = torch.cat([self.start.expand(x.shape[0], 1, -1), notes[:, :-1]], dim=1)
        program = self.program_embedding(x[:, 0, PROGRAM])
        out, _ = self.decoder(self._decoder_input(previous, program, z), self._initial_state(z, x.shape[0]))
        return [head(out) for head in self.heads]

    # -------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def decode(self, z: Tensor, length: int, temperature: float = 1.0, meta: int | Tensor = 0) -> Tensor:
        """Windows [B, length, 4] (int64) sampled note by note from z [B, z_size]; temperature 0: argmax.

        `meta`: the GM program of every window, or one per window [B].
        """
        self._require_latent("decode")
        return self._generate(z, z.shape[0], length, temperature, meta)

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0, meta: int | Tensor = 0) -> Tensor:
        """n windows [n, length, 4]: decoded from z drawn from the prior, or the LM run freely."""
        z = torch.randn(n, self.config.z_size, device=self.start.device) if self.config.latent else None
        return self._generate(z, n, length, temperature, meta)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, temperature: float = 1.0) -> Tensor:
        """Windows x [B, T, 4] decoded again from their posterior means, each with its own program."""
        _, mu, _ = self.encode(x)
        return self._generate(mu, x.shape[0], x.shape[1], temperature, x[:, 0, PROGRAM])

    @torch.no_grad()
    def interpolate(self, x1: Tensor, x2: Tensor, n: int, temperature: float = 1.0) -> Tensor:
        """n windows [n, T, 4] decoded along the slerp between the posterior means of x1 and x2 [T, 4].

        The first and last are decoded from the endpoints themselves, all with x1's program.
        """
        self._require_latent("interpolate")
        z = posterior_path(self.encode, x1, x2, n)
        return self._generate(z, n, x1.shape[0], temperature, int(x1[0, PROGRAM]))

    def _generate(self, z: Tensor | None, n: int, length: int, temperature: float, meta: int | Tensor) -> Tensor:
        """n windows [n, length, 4], each note sampled from the heads and, with history, fed to the next step."""
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        programs = torch.as_tensor(meta, device=self.start.device).long().expand(n)
        if ((programs < 0) | (programs >= PROGRAMS)).any():
            raise ValueError(f"GM programs are 0-{PROGRAMS - 1}, got {meta}")
        program = self.program_embedding(programs)
        state = self._initial_state(z, n)
        previous = self.start.expand(n, 1, -1)
        notes = []
        for _ in range(length):
            out, state = self.decoder(self._decoder_input(previous, program, z), state)
            notes.append(self._sample_note([head(out[:, 0]) for head in self.heads], temperature))
            previous = self._note_embedding(notes[-1]).unsqueeze(1)
        return torch.cat([torch.stack(notes, dim=1), programs[:, None, None].expand(-1, length, 1)], dim=-1)

    @staticmethod
    def _sample_note(logits: list[Tensor], temperature: float) -> Tensor:
        """(pitch class, octave, duration) [N, 3] drawn from the heads' logits, each [N, depth].

        The octave is drawn among those the converter can write: 0 for a rest, and for a note one that keeps its
        MIDI pitch 12·octave + pitch class within 0-127.
        """
        pitch_class = sample_categorical(logits[0], temperature)
        octaves = torch.arange(HEAD_DEPTHS[1], device=pitch_class.device)
        is_rest = (pitch_class == REST)[:, None]
        allowed = torch.where(is_rest, octaves == 0, 12 * octaves + pitch_class[:, None] <= MAX_PITCH)
        octave = sample_categorical(logits[1].masked_fill(~allowed, float("-inf")), temperature)
        return torch.stack([pitch_class, octave, sample_categorical(logits[2], temperature)], dim=-1)

    # ---------------------------------------------------------------------------------------- helpers
    def _check(self, x: Tensor) -> Tensor:
        """x as int64, after checking it is a batch of note windows [B, T, 4] of class indices."""
        columns = len(COLUMN_DEPTHS)
        if x.dim() != 3 or x.shape[-1] != columns or x.is_floating_point():
            raise ValueError(f"expected integer note windows [B, T, {columns}], got {x.dtype} {list(x.shape)}")
        return x.long()

    def _require_latent(self, what: str) -> None:
        if not self.config.latent:
            raise UserError(f"the LM has no latent space, so it cannot {what}; use a vae or vrash model")

    def _note_embedding(self, notes: Tensor) -> Tensor:
        """[..., note_size]: the concatenated embeddings of pitch class, octave and duration of notes [..., >= 3]."""
        return torch.cat([embed(notes[..., k]) for k, embed in enumerate(self.note_embeddings)], dim=-1)

    def _decoder_input(self, previous: Tensor, program: Tensor, z: Tensor | None) -> Tensor:
        """[N, L, input_size]: the previous notes [N, L, note_size] (with history), the program [N, P] and z."""
        steps = previous.shape[1]
        parts = [previous] if self.config.history else []
        parts.append(self._per_step(program, steps))
        if self.config.latent:
            parts.append(self._per_step(z, steps))
        return torch.cat(parts, dim=-1)

    def _initial_state(self, z: Tensor | None, batch: int) -> LstmState:
        """The decoder's state before the first note: from z for latent modes, zeros for the LM."""
        if self.config.latent:
            return self.initial_state(z)
        return [(self.start.new_zeros(1, batch, size), self.start.new_zeros(1, batch, size))
                for size in self.config.rnn_size]

    @staticmethod
    def _per_step(vectors: Tensor, steps: int) -> Tensor:
        """Vectors [N, D] repeated at every one of `steps` steps: [N, steps, D]."""
        return vectors.unsqueeze(1).expand(-1, steps, -1)


# ------------------------------------------------------------------------------------ judging held-out metrics
# The unit of every metric of `evaluate` and `baselines`.
UNITS = {"cross_entropy": "nats per note", **{f"ce_{name}": "nats per note" for name in HEADS},
         "nll_bound": "nats per note", "accuracy": "fraction of notes", "sampled_accuracy": "fraction of notes",
         "kl_bits": "bits per window", "unigram_cross_entropy": "nats per note"}


def baselines(train_windows: np.ndarray, windows: np.ndarray, config: NoteModelConfig) -> dict[str, float]:
    """The unigram model of ``train_windows`` (add-one smoothed frequencies of each head's classes) scored on
    ``windows`` [N, T, 4], in nats per note like the models' cross-entropy."""
    return {"unigram_cross_entropy": unigram_nll(train_windows, windows, HEAD_DEPTHS) / windows.shape[1]}


def verdicts(metrics: dict[str, Any]) -> list[str]:
    """Whether the model's cross-entropy (and, for latent models, its bound with the KL) beats the unigram's."""
    unigram, name = metrics["unigram_cross_entropy"], "the data's token frequencies (nats per note)"
    lines = [verdict("cross_entropy", metrics["cross_entropy"], unigram, name, False)]
    if "kl_bits" in metrics:
        lines.append(verdict("cross_entropy + KL", metrics["nll_bound"], unigram, name, False))
    return lines
