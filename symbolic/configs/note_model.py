"""The VRASH paper's note models (Tikhonov & Yamshchikov, 2017): their hyperparameters and the named configs.

One config class covers the three models; ``mode`` picks the LSTM language model (``lm``), the recurrent VAE whose
decoder never sees the notes (``vae``) or VRASH, whose decoder also reads its previous notes (``vrash``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from symbolic.configs.base import (ModelConfig, is_number, kl_schedule_problems, optimiser_problems, positive_int,
                                   sizes_list)

MODES = ("lm", "vae", "vrash")
NOTE_DATA = {"kind": "notes", "seq_len": 32, "hop": 16}


@dataclass
class NoteModelConfig(ModelConfig):
    """Hyperparameters of one note model; the defaults train in minutes on a CPU (2 x 256 LSTM, z of 16)."""

    what = "note model config"
    family = "note_model"
    shape_keys = ("data", "mode", "pitch_class_embed", "octave_embed", "duration_embed", "program_embed",
                  "rnn_size", "z_size")

    data: dict = field(default_factory=lambda: dict(NOTE_DATA))
    mode: str = "vrash"
    pitch_class_embed: int = 16
    octave_embed: int = 8
    duration_embed: int = 8
    program_embed: int = 8
    rnn_size: list[int] = field(default_factory=lambda: [256, 256])  # decoder, and encoder per direction, per layer
    z_size: int = 16  # the size of the paper's t-SNE figure; unused by the LM
    dropout: float = 0.0  # drop probability of every LSTM layer's input
    free_bits: float = 0.0  # KL bits per sequence left unpenalised
    max_beta: float = 1.0  # final KL weight
    beta_rate: float = 0.0  # KL weight at step s: (1 - beta_rate**s) * max_beta
    learning_rate: float = 1e-3
    batch_size: int = 64
    grad_clip: float = 1.0  # global-norm gradient clipping

    def problems(self) -> list[str]:
        """Every setting that cannot work, as readable messages."""
        if not isinstance(self.data, dict) or self.data.get("kind") != "notes":
            return [f"data must be a converter spec of kind 'notes', got {self.data!r}"]
        embeds = (self.pitch_class_embed, self.octave_embed, self.duration_embed, self.program_embed)
        checks = [
            (positive_int(self.data.get("seq_len", NOTE_DATA["seq_len"])), "data.seq_len must be a positive integer"),
            (self.mode in MODES, f"mode must be one of {', '.join(MODES)}, got {self.mode!r}"),
            (all(positive_int(size) for size in embeds),
             "pitch_class_embed, octave_embed, duration_embed and program_embed must be positive integers"),
            (sizes_list(self.rnn_size), "rnn_size must be a non-empty list of positive integers"),
            (positive_int(self.z_size), "z_size must be a positive integer"),
            (is_number(self.dropout) and 0 <= self.dropout < 1, "dropout must be in [0, 1)"),
        ]
        return ([message for ok, message in checks if not ok]
                + kl_schedule_problems(self.free_bits, self.max_beta, self.beta_rate)
                + optimiser_problems(self.learning_rate, self.batch_size, self.grad_clip))

    @property
    def latent(self) -> bool:
        """Whether the model encodes windows into z (vae, vrash)."""
        return self.mode != "lm"

    @property
    def history(self) -> bool:
        """Whether the decoder is fed its previous notes (lm, vrash)."""
        return self.mode != "vae"

    @property
    def seq_len(self) -> int:
        return self.data.get("seq_len", NOTE_DATA["seq_len"])

    @property
    def description(self) -> str:
        return f"{self.seq_len}-note"

    @property
    def capabilities(self) -> frozenset[str]:
        """The LM only samples; the latent models also encode, interpolate, reconstruct and vary."""
        return frozenset({"sample", "encode", "interpolate", "reconstruct", "variations"} if self.latent
                         else {"sample"})



# The latent models reach KL weight 1 over the first few thousand steps (63% after 1000) with 1 free bit per latent
# dimension, so that z is used before its cost is felt in full.
LATENT = dict(max_beta=1.0, beta_rate=0.999, free_bits=16.0)
CONFIGS: dict[str, NoteModelConfig] = {
    "lm-note": NoteModelConfig(mode="lm"),
    "vae-note": NoteModelConfig(mode="vae", **LATENT),
    "vrash-note": NoteModelConfig(mode="vrash", **LATENT),
}
