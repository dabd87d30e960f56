"""The model families: for each, the model its configs build and how its held-out metrics are judged.

A config names its family (``config.family``); the shared commands look the family up here. Adding a family adds
its config module to ``symbolic.configs`` and one line to ``FAMILIES``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from engine.errors import UserError
from symbolic.configs import CAPABILITIES, ModelConfig
from symbolic.models import cnn_vrnn, music_vae, note_models


@dataclass(frozen=True)
class Family:
    """What the shared train / evaluate / inference code needs from one family besides its config.

    ``model_class(config)`` is an nn.Module with ``training_loss(batch, step)`` for the engine, ``evaluate(x,
    temperature)`` (batch means of its metrics) and ``sample(n, length, temperature)``; one whose configs can
    ``encode`` also has ``encode(x) -> (z, μ, σ)``, ``decode(z, length, temperature)``,
    ``reconstruct(x, temperature)`` and ``interpolate(x1, x2, n, temperature)``.
    ``baselines(train_windows, windows, config)`` scores trivial predictors; ``verdicts(metrics)`` says in one line
    each whether the model beats them. ``headline`` is the metric `midi compare` shows by default, ``units`` the unit
    of every metric ``evaluate`` and ``baselines`` report (figures in different units are never compared).
    """

    model_class: Callable[[Any], nn.Module]
    baselines: Callable[[np.ndarray, np.ndarray, Any], dict[str, float]]
    verdicts: Callable[[dict[str, Any]], list[str]]
    headline: str
    units: dict[str, str]


FAMILIES: dict[str, Family] = {
    "music_vae": Family(music_vae.MusicVAE, music_vae.baselines, music_vae.verdicts, "accuracy", music_vae.UNITS),
    "note_model": Family(note_models.NoteModel, note_models.baselines, note_models.verdicts, "cross_entropy",
                         note_models.UNITS),
    "cnn_vrnn": Family(cnn_vrnn.build, cnn_vrnn.baselines, cnn_vrnn.verdicts, "bce_per_bar", cnn_vrnn.UNITS),
}


def family_of(config: ModelConfig) -> Family:
    """The family that builds and judges models of ``config``."""
    return FAMILIES[config.family]


def build_model(config: ModelConfig) -> nn.Module:
    """A freshly initialised model of ``config``."""
    return family_of(config).model_class(config)


NEEDS = {"attribute": "a MusicVAE of melodies or trios (attribute vectors are measured on melody tokens)"}


def require(config: ModelConfig, config_name: str, capability: str, command: str) -> None:
    """A one-line error when ``command`` needs something (e.g. a latent space) that the model does not have."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
    if capability not in config.capabilities:
        needs = NEEDS.get(capability, "a latent model (one with an encoder)")
        raise UserError(f"{command} needs {needs}; {config_name} ({config.what}) is not one: it can only "
                        f"{', '.join(sorted(config.capabilities))}")
