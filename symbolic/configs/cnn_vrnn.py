"""CNN-VRNN (Koh, Wright & Chen's seed, rebuilt): a bar CNN and recurrent VAE over polyphonic piano-roll bars.

Windows come from the piano-roll converter (onset and sounding channels per true bar). By default (``vrnn`` on) a
latent per bar with a learned prior (Chung et al., 2015), the better model on Bach, Palestrina and Monteverdi
(scripts/bench_midi_quality.py); with ``vrnn`` off, one z per window (bidirectional GRU encoder, GRU decoder fed z at
every bar), the seed's model. The defaults train in CPU minutes; scale them up with ``--hparams`` on a GPU (the seed's
sizes: cnn_channels=[32,32], cnn_kernels=[2,2], enc_rnn_size=256, dec_rnn_size=512, z_size=256, data.slice_bars=16;
it fed the flattened CNN output to its GRUs unprojected). The CNN dominates a CPU step: 8 and 16 channels by default.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from symbolic.configs.base import (ModelConfig, kl_schedule_problems, optimiser_problems, positive_int, sizes_list)

# 8 bars of 4/4 at 16ths: two 4-bar chorale phrases, enough for the recurrence to matter, while a 20-bar song still
# gives a dozen training windows at the converter's 1-bar stride. 88 keys; a narrower range trains faster.
PIANOROLL_DATA = {"kind": "pianoroll", "slice_bars": 8, "steps_per_quarter": 4, "steps_per_bar": 16,
                  "pitch_range": [21, 108]}
DECODINGS = ("count", "independent")  # how generated bars are drawn (see CnnVrnnConfig.decoding)


@dataclass
class CnnVrnnConfig(ModelConfig):
    """Hyperparameters of one CNN-VRNN; the defaults (a latent of 64 per bar, GRUs of 128 and 256, CNN 8 and 16
    channels) train in minutes on a CPU (about 0.1 s a step of 32 windows, single-threaded, pitch range 36-84)."""

    what = "CNN-VRNN config"
    family = "cnn_vrnn"
    shape_keys = ("data", "vrnn", "cnn_channels", "cnn_kernels", "bar_size", "z_size", "enc_rnn_size",
                  "dec_rnn_size")

    data: dict = field(default_factory=lambda: dict(PIANOROLL_DATA))
    vrnn: bool = True  # a latent per bar with a learned prior; false: one z per window (the seed's, far weaker)
    cnn_channels: list[int] = field(default_factory=lambda: [8, 16])  # per conv + ReLU + 2x2 max-pool block
    cnn_kernels: list[int] = field(default_factory=lambda: [3, 3])
    bar_size: int = 128  # the bar feature: the CNN's flattened output projected to this size
    z_size: int = 64  # per window, or per bar with vrnn
    enc_rnn_size: int = 128  # per direction
    dec_rnn_size: int = 256
    free_bits: float = 32.0  # KL bits per window left unpenalised
    # Final KL weight: half the ELBO's, so that each bar's latent keeps more of its bar. At 7,500 steps (10-12
    # CPU-minutes) on Bach it raised held-out onset F1 0.687 -> 0.737 (free_bits=128 instead: 0.697):
    # scripts/bench_midi_quality.py.
    max_beta: float = 0.5
    beta_rate: float = 0.999  # KL weight at step s: (1 - beta_rate**s) * max_beta; 63% after 1000 steps
    learning_rate: float = 3e-3
    batch_size: int = 32
    grad_clip: float = 1.0  # global-norm gradient clipping
    # Training windows shifted by a random number of semitones in [-transpose, transpose] along the pitch axis (only
    # shifts that keep every note inside the roll); 0: none. At 10 CPU-minutes on Bach it keeps the model from
    # overfitting (held-out onset F1 0.575 -> 0.686; at 1000 steps it costs 0.02-0.03): scripts/bench_midi_quality.py.
    transpose: int = 5
    # How a generated bar is drawn from its logits: "count" gives each channel of the bar its expected number of
    # cells (the sum of its probabilities, which training calibrates to the data's note density), the most likely
    # at temperature 0 and drawn jointly without replacement (Gumbel top-k of logits / T) above it; "independent"
    # draws every cell alone (Bernoulli; T = 0: p > 0.5), which leaves sparse rolls choppy and nearly empty.
    decoding: str = "count"

    def problems(self) -> list[str]:
        """Every setting that cannot work, as readable messages."""
        if not isinstance(self.data, dict) or self.data.get("kind") != "pianoroll":
            return [f"data must be a converter spec of kind 'pianoroll', got {self.data!r}"]
        checks = [
            (positive_int(self.data.get("slice_bars")), "data.slice_bars must be a positive integer"),
            (isinstance(self.vrnn, bool), "vrnn must be true or false"),
            (self.decoding in DECODINGS, f"decoding must be one of {', '.join(DECODINGS)}"),
            (isinstance(self.transpose, int) and not isinstance(self.transpose, bool) and self.transpose >= 0,
             "transpose must be a whole number of semitones, 0 or more"),
            (sizes_list(self.cnn_channels) and sizes_list(self.cnn_kernels)
             and len(self.cnn_channels) == len(self.cnn_kernels),
             "cnn_channels and cnn_kernels must be non-empty lists of positive integers of one length"),
            (all(positive_int(v) for v in (self.bar_size, self.z_size, self.enc_rnn_size, self.dec_rnn_size)),
             "bar_size, z_size, enc_rnn_size and dec_rnn_size must be positive integers"),
        ]
        return ([message for ok, message in checks if not ok]
                + kl_schedule_problems(self.free_bits, self.max_beta, self.beta_rate)
                + optimiser_problems(self.learning_rate, self.batch_size, self.grad_clip))

    @property
    def seq_len(self) -> int:
        """Bars per window."""
        return self.data["slice_bars"]

    @property
    def description(self) -> str:
        return f"{self.seq_len}-bar piano roll"

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"sample", "encode", "interpolate", "reconstruct", "variations"})



CONFIGS: dict[str, CnnVrnnConfig] = {
    "cnn-vrnn": CnnVrnnConfig(),
}
