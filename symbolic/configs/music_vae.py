"""MusicVAE's configs: its hyperparameters, and the named configs with Magenta's names and sizes.

A config holds the model's hyperparameters, its training schedules (KL weight, scheduled sampling, learning
rate) and ``data``: a JSON-able converter spec resolved by ``symbolic.data.converters.converter_from_spec``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from symbolic.configs.base import (ModelConfig, positive_int, sampling_probability, sampling_schedule_problems,
                                   sizes_list)

# Classes per track of each converter kind: melody = 88 pitches + note-off + no-event; drums = 2**9 hit
# combinations of 9 drum classes; trio = melody, bass, drums.
TRACK_DEPTHS = {"melody": (90,), "drums": (512,), "trio": (90, 90, 512), "lead_sheet": (90,)}
# Classes of the chord track a converter adds after those: the decoder's per-step condition (49 triad classes).
CHORD_DEPTHS = {"lead_sheet": 49}
MELODY_PITCHES = 88
QUARTERS_PER_BAR = 4


@dataclass
class MusicVAEConfig(ModelConfig):
    """Hyperparameters of one MusicVAE; the defaults are Magenta's `lstm_models.get_default_hparams()`."""

    what = "MusicVAE config"
    family = "music_vae"
    shape_keys = ("data", "hierarchical", "z_size", "enc_rnn_size", "dec_rnn_size", "conductor_rnn_size",
                  "roll_input")

    data: dict = field(default_factory=lambda: {"kind": "melody", "slice_bars": 2, "steps_per_quarter": 4})
    hierarchical: bool = False  # a Conductor LSTM emitting one embedding per bar, each bar decoded separately
    z_size: int = 32
    enc_rnn_size: list[int] = field(default_factory=lambda: [256])  # per direction, per layer
    dec_rnn_size: list[int] = field(default_factory=lambda: [512])
    conductor_rnn_size: list[int] = field(default_factory=list)  # hierarchical models only
    roll_input: bool = False  # DrumRollEncoder: drum hits read as a multi-hot roll instead of a one-hot of 512
    dropout_keep_prob: float = 1.0  # keep probability of every LSTM layer's input
    free_bits: float = 0.0  # KL bits per sequence left unpenalised
    max_beta: float = 1.0  # final KL weight
    beta_rate: float = 0.0  # KL weight at step s: (1 - beta_rate**s) * max_beta
    sampling_schedule: str = "constant"  # probability of feeding the decoder its own sample: see sampling_prob
    sampling_rate: float = 0.0
    batch_size: int = 512
    learning_rate: float = 1e-3
    decay_rate: float = 0.9999  # learning rate at step s: (learning_rate - min) * decay_rate**s + min
    min_learning_rate: float = 1e-5
    grad_clip: float = 1.0  # global-norm gradient clipping
    # Training windows shifted by a random number of semitones in [-transpose, transpose] on their melody-type
    # tracks (Magenta's NoteSequenceAugmenter transpose_range); 0 (also for runs saved without the field): none.
    transpose: int = 0

    def problems(self) -> list[str]:
        """Every setting that cannot work, as readable messages."""
        if not isinstance(self.data, dict) or self.data.get("kind") not in TRACK_DEPTHS:
            return [f"data must be a converter spec whose kind is one of {sorted(TRACK_DEPTHS)}, got {self.data!r}"]
        checks = [
            (positive_int(self.data.get("slice_bars")), "data.slice_bars must be a positive integer"),
            (positive_int(self.data.get("steps_per_quarter")), "data.steps_per_quarter must be a positive integer"),
            (positive_int(self.z_size), "z_size must be a positive integer"),
            (sizes_list(self.enc_rnn_size), "enc_rnn_size must be a non-empty list of positive integers"),
            (sizes_list(self.dec_rnn_size), "dec_rnn_size must be a non-empty list of positive integers"),
            (sizes_list(self.conductor_rnn_size) if self.hierarchical else self.conductor_rnn_size == [],
             "conductor_rnn_size must be a non-empty list of positive integers for hierarchical models "
             "and [] for flat ones"),
            (not self.roll_input or all(d & (d - 1) == 0 for d in self.depths),
             "roll_input needs every track depth to be a power of two (drums)"),
            (0 < self.dropout_keep_prob <= 1, "dropout_keep_prob must be in (0, 1]"),
            (self.free_bits >= 0 and self.max_beta >= 0, "free_bits and max_beta must be >= 0"),
            (0 <= self.beta_rate <= 1, "beta_rate must be in [0, 1]"),
            (positive_int(self.batch_size), "batch_size must be a positive integer"),
            (0 <= self.min_learning_rate <= self.learning_rate, "need 0 <= min_learning_rate <= learning_rate"),
            (self.learning_rate > 0 and 0 < self.decay_rate <= 1, "need learning_rate > 0 and decay_rate in (0, 1]"),
            (self.grad_clip > 0, "grad_clip must be > 0"),
            (self.transpose == 0 or positive_int(self.transpose) and self.transpose < MELODY_PITCHES,
             f"transpose must be a whole number of semitones in [0, {MELODY_PITCHES - 1}]"),
            (self.transpose == 0 or self.data["kind"] != "drums",
             "transpose needs melody-type tracks; drums have none"),
        ]
        return [message for ok, message in checks if not ok] + sampling_schedule_problems(
            self.sampling_schedule, self.sampling_rate)

    # ------------------------------------------------------------------ shapes derived from the data spec
    @property
    def depths(self) -> tuple[int, ...]:
        """Classes per track, as the converter of ``data`` produces them."""
        return TRACK_DEPTHS[self.data["kind"]]

    @property
    def chord_depth(self) -> int:
        """Classes of the chord track fed to the encoder and, one-hot, to the decoder at every step (0: none)."""
        return CHORD_DEPTHS.get(self.data["kind"], 0)

    @property
    def steps_per_bar(self) -> int:
        return self.data["steps_per_quarter"] * QUARTERS_PER_BAR

    @property
    def seq_len(self) -> int:
        """Steps per training window (Magenta's max_seq_len): 32 for 2 bars, 256 for 16 bars."""
        return self.data["slice_bars"] * self.steps_per_bar

    @property
    def description(self) -> str:
        return f"{self.data['slice_bars']}-bar {self.data['kind']}"

    @property
    def capabilities(self) -> frozenset[str]:
        """Every operation, but attribute vectors, measured on a melody track, need one (drums have none) and decode
        without chords (chord-conditioned melodies have no attribute vectors yet)."""
        every = {"sample", "encode", "interpolate", "reconstruct", "variations", "attribute"}
        return frozenset(every if self.data["kind"] not in ("drums", "lead_sheet") else every - {"attribute"})

    # --------------------------------------------------------------------------------- schedules by step
    def sampling_prob(self, step: int) -> float:
        """Probability that a training decoder step is fed the model's own sample instead of the target."""
        return sampling_probability(step, self.sampling_schedule, self.sampling_rate)

    def lr_lambda(self, step: int) -> float:
        """Multiplier of learning_rate giving (learning_rate - min) * decay_rate**step + min."""
        lr = (self.learning_rate - self.min_learning_rate) * self.decay_rate ** step + self.min_learning_rate
        return lr / self.learning_rate



MEL_2BAR_DATA = {"kind": "melody", "slice_bars": 2, "steps_per_quarter": 4, "program_range": [0, 31]}
MEL_16BAR_DATA = {"kind": "melody", "slice_bars": 16, "steps_per_quarter": 4}  # Magenta: no program filter
DRUMS_2BAR_DATA = {"kind": "drums", "slice_bars": 2, "steps_per_quarter": 4}
TRIO_16BAR_DATA = {"kind": "trio", "slice_bars": 16, "steps_per_quarter": 4}
MEL_2BAR_CHORDS_DATA = {"kind": "lead_sheet", "slice_bars": 2, "steps_per_quarter": 4, "chords_per_bar": 2}

# Magenta gives only its 2-bar melody configs a NoteSequenceAugmenter (transpose_range=(-5, 5)); the rest have none.
CONFIGS: dict[str, MusicVAEConfig] = {
    "cat-mel_2bar_small": MusicVAEConfig(
        data=MEL_2BAR_DATA, z_size=256, enc_rnn_size=[512], dec_rnn_size=[256, 256],
        free_bits=0.0, max_beta=0.2, beta_rate=0.99999, sampling_schedule="inverse_sigmoid", sampling_rate=1000.0,
        transpose=5),
    "cat-mel_2bar_big": MusicVAEConfig(
        data=MEL_2BAR_DATA, z_size=512, enc_rnn_size=[2048], dec_rnn_size=[2048, 2048, 2048],
        free_bits=0.0, max_beta=0.5, beta_rate=0.99999, sampling_schedule="inverse_sigmoid", sampling_rate=1000.0,
        transpose=5),
    # Magenta's chord-conditioned melody: its default schedules (no KL annealing, no scheduled sampling), every
    # program, a triad one-hot per step, transpose_range=(-3, 3).
    "cat-mel_2bar_med_chords": MusicVAEConfig(
        data=MEL_2BAR_CHORDS_DATA, z_size=256, enc_rnn_size=[1024], dec_rnn_size=[512, 512, 512], transpose=3),
    "cat-drums_2bar_small": MusicVAEConfig(
        data=DRUMS_2BAR_DATA, roll_input=True, z_size=256, enc_rnn_size=[512], dec_rnn_size=[256, 256],
        free_bits=48.0, max_beta=0.2, sampling_schedule="inverse_sigmoid", sampling_rate=1000.0),
    "flat-mel_16bar": MusicVAEConfig(
        data=MEL_16BAR_DATA, z_size=512, enc_rnn_size=[2048, 2048], dec_rnn_size=[2048, 2048, 2048],
        free_bits=256.0, max_beta=0.2),
    # Magenta's conductor reuses dec_rnn_size: two layers of 1024 for both levels.
    "hierdec-mel_16bar": MusicVAEConfig(
        data=MEL_16BAR_DATA, hierarchical=True, z_size=512, enc_rnn_size=[2048, 2048],
        conductor_rnn_size=[1024, 1024], dec_rnn_size=[1024, 1024], free_bits=256.0, max_beta=0.2),
    "hierdec-trio_16bar": MusicVAEConfig(
        data=TRIO_16BAR_DATA, hierarchical=True, z_size=512, enc_rnn_size=[2048, 2048],
        conductor_rnn_size=[1024, 1024], dec_rnn_size=[1024, 1024], free_bits=256.0, max_beta=0.2, batch_size=256),
}
