"""The one registry of named model configs, across families, and `k=v` overrides of any config's fields.

Each family's config class and named configs live in their own module here; adding a family adds its module to
``CONFIG_MODULES``. Names follow Magenta's where they exist. This package never imports torch (``midi prepare
--config`` reads data specs from it).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any, get_type_hints

from engine.errors import UserError
from symbolic.configs import cnn_vrnn, music_vae, note_model
from symbolic.configs.base import CAPABILITIES, ModelConfig
from symbolic.configs.music_vae import MusicVAEConfig
from symbolic.configs.note_model import NoteModelConfig

CONFIG_MODULES = (music_vae, note_model, cnn_vrnn)
CONFIGS: dict[str, ModelConfig] = {name: config for module in CONFIG_MODULES for name, config in module.CONFIGS.items()}
CONFIG_CLASSES: dict[str, type[ModelConfig]] = {
    cls.family: cls for cls in {type(config) for config in CONFIGS.values()}}
DEFAULT_FAMILY = MusicVAEConfig.family  # of checkpoints written before there were other families

__all__ = ["CAPABILITIES", "CONFIGS", "CONFIG_CLASSES", "ModelConfig", "MusicVAEConfig", "NoteModelConfig",
           "config_from_dict", "get_config", "list_configs", "parse_hparams"]


def list_configs() -> list[str]:
    """Names accepted by get_config."""
    return sorted(CONFIGS)


def get_config(name: str, hparams: str | None = None) -> ModelConfig:
    """The named config with `k=v,k=v` overrides (e.g. `z_size=64,dec_rnn_size=[128,128],data.slice_bars=4`)."""
    if name not in CONFIGS:
        raise UserError(f"unknown config {name!r}; choose one of: {', '.join(list_configs())}")
    config = copy.deepcopy(CONFIGS[name])
    return dataclasses.replace(config, **parse_hparams(hparams or "", config))


def config_from_dict(family: str | None, values: dict[str, Any]) -> ModelConfig:
    """The config a checkpoint stored with ``to_dict``; no family (older checkpoints) means MusicVAE."""
    family = family or DEFAULT_FAMILY
    if family not in CONFIG_CLASSES:
        raise UserError(f"unknown model family {family!r}; this version knows {', '.join(sorted(CONFIG_CLASSES))}")
    return CONFIG_CLASSES[family].from_dict(values)


def parse_hparams(text: str, config: ModelConfig) -> dict[str, Any]:
    """Field values from `k=v,k=v`, each parsed with its field's type; `data.k=v` sets a key of the data spec."""
    types = get_type_hints(type(config))
    fields = [f.name for f in dataclasses.fields(config)]
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
        elif key in fields:
            overrides[key] = _parse_value(key, value, types[key])
        else:
            raise UserError(f"hparams: unknown key {key!r} for a {config.what}; known keys: {', '.join(fields)} "
                            "and data.<key>")
    return overrides


def _parse_value(key: str, text: str, kind: Any) -> Any:
    """`text` as a value of type `kind` (bool, int, float, str, or JSON for lists and dicts; None: JSON or str).

    A bare number for a list field is the one-element list users mean (`enc_rnn_size=256`).
    """
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if kind in (int, float, str):
            return kind(text)
        value = json.loads(text) if kind is not None else _json_or_str(text)
        if getattr(kind, "__origin__", None) is list and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            value = [value]
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
