"""MIDI <-> tensor converters, and building one from a JSON-able spec such as a config registry holds."""
from __future__ import annotations

import dataclasses
from typing import Any

from engine.errors import UserError
from symbolic.data.converters.base import ConversionResult, Converter
from symbolic.data.converters.drums import DrumsConverter
from symbolic.data.converters.lead_sheet import LeadSheetConverter
from symbolic.data.converters.melody import MelodyConverter
from symbolic.data.converters.notes import NoteTokenConverter
from symbolic.data.converters.pianoroll import PianorollConverter
from symbolic.data.converters.trio import TrioConverter

CONVERTERS: dict[str, type[Converter]] = {c.name: c for c in (
    MelodyConverter, DrumsConverter, TrioConverter, PianorollConverter, NoteTokenConverter, LeadSheetConverter)}

__all__ = ["CONVERTERS", "ConversionResult", "Converter", "DrumsConverter", "LeadSheetConverter", "MelodyConverter",
           "NoteTokenConverter", "PianorollConverter", "TrioConverter", "converter_from_spec"]


def converter_from_spec(spec: dict[str, Any]) -> Converter:
    """The converter a spec describes, e.g. ``{"kind": "melody", "slice_bars": 2, "program_range": [0, 31]}``."""
    options = dict(spec)
    kind = options.pop("kind", None)
    if kind not in CONVERTERS:
        raise UserError(f"unknown converter kind {kind!r}; choose one of {', '.join(CONVERTERS)}")
    cls = CONVERTERS[kind]
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise UserError(f"converter {kind!r} has no option {', '.join(unknown)}; "
                        f"its options: {', '.join(sorted(fields))}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
