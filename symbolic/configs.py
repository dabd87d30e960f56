"""Named MusicVAE configurations with Magenta's names and sizes, and `k=v` overrides of any field.

A config holds the model's hyperparameters, its training schedules (KL weight, scheduled sampling, learning
rate) and ``data``: a JSON-able converter spec resolved by ``symbolic.converters.converter_from_spec``.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from engine.errors import UserError

# Classes per track of each converter kind: melody = 88 pitches + note-off + no-event; drums = 2**9 hit
# combinations of 9 drum classes; trio = melody, bass, drums.
TRACK_DEPTHS = {"melody": (90,), "drums": (512,), "trio": (90, 90, 512)}
MELODY_PITCHES = 88
QUARTERS_PER_BAR = 4
SAMPLING_SCHEDULES = ("constant", "exponential", "inverse_sigmoid")


class ConfigFields:
    """Checkpoint serialisation shared by the model config dataclasses; ``what`` names the kind in messages."""

    what = "config"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy of every field, for checkpoints."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        """Inverse of to_dict; unknown keys are an error rather than silently dropped."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UserError(f"unknown {cls.what} field(s): {', '.join(unknown)}")
        return cls(**copy.deepcopy(values))


@dataclass
class MusicVAEConfig(ConfigFields):
    """Hyperparameters of one MusicVAE; the defaults are Magenta's `lstm_models.get_default_hparams()`."""

    what = "MusicVAE config"

    data: dict = field(default_factory=lambda: {"kind": "melody", "slice_bars": 2, "steps_per_quarter": 4})
    hierarchical: bool = False  # conductor LSTM emitting one embedding per bar, each bar decoded separately
    z_size: int = 32
    enc_rnn_size: list[int] = field(default_factory=lambda: [256])  # per direction, per layer
    dec_rnn_size: list[int] = field(default_factory=lambda: [512])
    conductor_rnn_size: list[int] = field(default_factory=list)  # hierarchical models only
    roll_input: bool = False  # encoder reads drum hits as a multi-hot roll instead of a one-hot of 512
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

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise UserError("invalid MusicVAE config: " + "; ".join(problems))

    def _problems(self) -> list[str]:
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
            (self.sampling_schedule in SAMPLING_SCHEDULES, f"sampling_schedule must be one of {SAMPLING_SCHEDULES}"),
            (self.sampling_schedule != "constant" or 0 <= self.sampling_rate <= 1,
             "a constant sampling_rate must be in [0, 1]"),
            (self.sampling_schedule != "exponential" or 0 < self.sampling_rate < 1,
             "an exponential sampling_rate must be in (0, 1)"),
            (self.sampling_schedule != "inverse_sigmoid" or self.sampling_rate >= 1,
             "an inverse_sigmoid sampling_rate must be >= 1"),
            (positive_int(self.batch_size), "batch_size must be a positive integer"),
            (0 <= self.min_learning_rate <= self.learning_rate, "need 0 <= min_learning_rate <= learning_rate"),
            (self.learning_rate > 0 and 0 < self.decay_rate <= 1, "need learning_rate > 0 and decay_rate in (0, 1]"),
            (self.grad_clip > 0, "grad_clip must be > 0"),
            (self.transpose == 0 or positive_int(self.transpose) and self.transpose < MELODY_PITCHES,
             f"transpose must be a whole number of semitones in [0, {MELODY_PITCHES - 1}]"),
            (self.transpose == 0 or self.data["kind"] != "drums",
             "transpose needs melody-type tracks; drums have none"),
        ]
        return [message for ok, message in checks if not ok]

    # ------------------------------------------------------------------ shapes derived from the data spec
    @property
    def depths(self) -> tuple[int, ...]:
        """Classes per track, as the converter of ``data`` produces them."""
        return TRACK_DEPTHS[self.data["kind"]]

    @property
    def steps_per_bar(self) -> int:
        return self.data["steps_per_quarter"] * QUARTERS_PER_BAR

    @property
    def seq_len(self) -> int:
        """Steps per training window (Magenta's max_seq_len): 32 for 2 bars, 256 for 16 bars."""
        return self.data["slice_bars"] * self.steps_per_bar

    # --------------------------------------------------------------------------------- schedules by step
    def beta(self, step: int) -> float:
        """KL weight, annealed from 0 towards max_beta."""
        return (1.0 - self.beta_rate ** step) * self.max_beta

    def sampling_prob(self, step: int) -> float:
        """Probability that a training decoder step is fed the model's own sample instead of the target."""
        rate = self.sampling_rate
        if self.sampling_schedule == "constant":
            return rate
        if self.sampling_schedule == "exponential":
            return 1.0 - rate ** step
        # inverse_sigmoid: 1 - k / (k + exp(step / k)), written so that large steps cannot overflow.
        return 1.0 / (1.0 + rate * math.exp(-step / rate))

    def lr_lambda(self, step: int) -> float:
        """Multiplier of learning_rate giving (learning_rate - min) * decay_rate**step + min."""
        lr = (self.learning_rate - self.min_learning_rate) * self.decay_rate ** step + self.min_learning_rate
        return lr / self.learning_rate



def positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def sizes_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(positive_int(v) for v in value)


MEL_2BAR_DATA = {"kind": "melody", "slice_bars": 2, "steps_per_quarter": 4, "program_range": [0, 31]}
MEL_16BAR_DATA = {"kind": "melody", "slice_bars": 16, "steps_per_quarter": 4}  # Magenta: no program filter
DRUMS_2BAR_DATA = {"kind": "drums", "slice_bars": 2, "steps_per_quarter": 4}
TRIO_16BAR_DATA = {"kind": "trio", "slice_bars": 16, "steps_per_quarter": 4}

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


def list_configs() -> list[str]:
    """Names accepted by get_config."""
    return sorted(CONFIGS)


def get_config(name: str, hparams: str | None = None) -> MusicVAEConfig:
    """The named config with `k=v,k=v` overrides (e.g. `z_size=64,dec_rnn_size=[128,128],data.slice_bars=4`)."""
    if name not in CONFIGS:
        raise UserError(f"unknown config {name!r}; choose one of: {', '.join(list_configs())}")
    config = copy.deepcopy(CONFIGS[name])
    overrides = parse_hparams(hparams or "", config)
    return dataclasses.replace(config, **overrides)


def parse_hparams(text: str, config: MusicVAEConfig) -> dict[str, Any]:
    """Field values from `k=v,k=v`, each parsed with its field's type; `data.k=v` sets a key of the data spec."""
    types = get_type_hints(MusicVAEConfig)
    overrides: dict[str, Any] = {}
    data = copy.deepcopy(config.data)
    # Split on commas that start a new `key=`, so that list values like [256,256] stay whole.
    for item in filter(None, (s.strip() for s in re.split(r",(?=\s*[A-Za-z_][\w.]*\s*=)", text))):
        key, sep, value = (s.strip() for s in item.partition("="))
        if not sep:
            raise UserError(f"hparams: expected key=value, got {item!r}")
        if key.startswith("data."):
            data_key = key.removeprefix("data.")
            data[data_key] = _parse_value(key, value, type(data[data_key]) if data_key in data else None)
            overrides["data"] = data
        elif key in types:
            overrides[key] = _parse_value(key, value, types[key])
        else:
            raise UserError(f"hparams: unknown key {key!r}; known keys: {', '.join(types)} and data.<key>")
    return overrides


def _parse_value(key: str, text: str, kind: Any) -> Any:
    """`text` as a value of type `kind` (bool, int, float, str, or JSON for lists and dicts; None: JSON or str)."""
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if kind in (int, float, str):
            return kind(text)
        value = json.loads(text) if kind is not None else _json_or_str(text)
        if kind is not None and not isinstance(value, getattr(kind, "__origin__", kind)):
            raise ValueError
        return value
    except ValueError:
        expected = getattr(kind, "__name__", str(kind))
        raise UserError(f"hparams: bad value for {key}: {text!r} (expected {expected})") from None


def _json_or_str(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
