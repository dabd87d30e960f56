"""What every model config provides, whatever its family, and the schedules and checks the families share.

A config is a dataclass of one family's hyperparameters. Besides its fields it names its ``family`` (which model
builds from it), ``shape_keys`` (the fields that fix the weights' shapes or the data's meaning, frozen for the life of
a run) and, through properties, its window length, what its model can do and how to describe it in messages.
This module never imports torch.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from engine.errors import UserError

# What a family's inference object can do; the commands check these before loading anything heavy.
CAPABILITIES = ("sample", "encode", "interpolate", "reconstruct", "variations", "attribute")
SAMPLING_SCHEDULES = ("constant", "exponential", "inverse_sigmoid")


class ModelConfig(ABC):
    """Base of the config dataclasses: serialisation, validation on construction and the family protocol."""

    what: ClassVar[str] = "config"  # names the kind in messages, e.g. "MusicVAE config"
    family: ClassVar[str]
    shape_keys: ClassVar[tuple[str, ...]]
    transpose = 0  # semitones of random transposition in training; a family that supports it makes it a field

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise UserError(f"invalid {self.what}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every setting that cannot work, as readable messages."""
        return []

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

    @property
    @abstractmethod
    def capabilities(self) -> frozenset[str]:
        """The inference operations (from CAPABILITIES) that make sense for this model."""

    @property
    @abstractmethod
    def seq_len(self) -> int:
        """Length of one window along its first axis (steps, notes or bars): what `sample` produces."""

    @property
    @abstractmethod
    def description(self) -> str:
        """The window kind in words, e.g. "2-bar melody", for messages."""

    def lr_lambda(self, step: int) -> float:
        """Multiplier of the learning rate at ``step``; constant unless a family decays it."""
        return 1.0

    def beta(self, step: int) -> float:
        """KL weight at ``step``, annealed from 0 towards the config's max_beta at its beta_rate."""
        return kl_beta(step, self.max_beta, self.beta_rate)


def positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def sizes_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(positive_int(v) for v in value)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def kl_beta(step: int, max_beta: float, beta_rate: float) -> float:
    """KL weight at ``step``, annealed from 0 towards max_beta: (1 - beta_rate**step) * max_beta."""
    return (1.0 - beta_rate ** step) * max_beta


def sampling_probability(step: int, schedule: str, rate: float) -> float:
    """Probability that a training decoder step is fed the model's own sample instead of the target."""
    if schedule == "constant":
        return rate
    if schedule == "exponential":
        return 1.0 - rate ** step
    # inverse_sigmoid: 1 - k / (k + exp(step / k)), written so that large steps cannot overflow.
    return 1.0 / (1.0 + rate * math.exp(-step / rate))


def kl_schedule_problems(free_bits: Any, max_beta: Any, beta_rate: Any) -> list[str]:
    """What is wrong with a KL weight schedule (free bits, final weight, annealing rate)."""
    checks = [
        (is_number(free_bits) and is_number(max_beta) and free_bits >= 0 and max_beta >= 0,
         "free_bits and max_beta must be >= 0"),
        (is_number(beta_rate) and 0 <= beta_rate <= 1, "beta_rate must be in [0, 1]"),
    ]
    return [message for ok, message in checks if not ok]


def optimiser_problems(learning_rate: Any, batch_size: Any, grad_clip: Any) -> list[str]:
    """What is wrong with the settings every family's optimiser takes."""
    checks = [
        (is_number(learning_rate) and learning_rate > 0, "learning_rate must be > 0"),
        (positive_int(batch_size), "batch_size must be a positive integer"),
        (is_number(grad_clip) and grad_clip > 0, "grad_clip must be > 0"),
    ]
    return [message for ok, message in checks if not ok]


def sampling_schedule_problems(schedule: str, rate: float) -> list[str]:
    """What is wrong with a scheduled-sampling setting, for configs whose decoders use one."""
    checks = [
        (schedule in SAMPLING_SCHEDULES, f"sampling_schedule must be one of {SAMPLING_SCHEDULES}"),
        (schedule != "constant" or 0 <= rate <= 1, "a constant sampling_rate must be in [0, 1]"),
        (schedule != "exponential" or 0 < rate < 1, "an exponential sampling_rate must be in (0, 1)"),
        (schedule != "inverse_sigmoid" or rate >= 1, "an inverse_sigmoid sampling_rate must be >= 1"),
    ]
    return [message for ok, message in checks if not ok]
