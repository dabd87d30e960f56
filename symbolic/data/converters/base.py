"""What every converter shares: the result type, the spec round trip and the common attributes."""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pretty_midi
import symusic

from engine.errors import UserError

DECODE_QPM = 120.0  # tempo of decoded MIDI, as Magenta's decoders use
DECODE_VELOCITY = 80


@dataclass
class ConversionResult:
    """Windows extracted from one score, counters of what each stage kept or dropped, and why nothing came out."""

    windows: np.ndarray
    stats: Counter = field(default_factory=Counter)
    reason: str | None = None  # "key: detail" when ``windows`` is empty, e.g. "meter: only 3/4 sections"


@dataclass(frozen=True)
class Converter(ABC):
    """Base of the converters: frozen dataclasses whose fields are their JSON-able options (``spec``)."""

    name: ClassVar[str]
    dtype: ClassVar[type] = np.int16
    version: ClassVar[int] = 1  # bump when the windows of some score change: prepared datasets are then rebuilt

    def __post_init__(self) -> None:
        """Reject options no converter can use: counts positive, amounts not negative, ranges within 0..127."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                valid = len(value) == 2 and all(isinstance(v, int) for v in value)
                if not valid or not 0 <= value[0] <= value[1] <= 127:
                    raise UserError(f"{self.name} converter: {f.name} must be [low, high] within 0..127, "
                                    f"not {list(value)}")
            elif isinstance(value, int) and value < 1 or isinstance(value, float) and value < 0:
                raise UserError(f"{self.name} converter: {f.name} must be positive, not {value}")

    @property
    @abstractmethod
    def depths(self) -> tuple[int, ...]:
        """Number of classes of each track (last axis of a window)."""

    @property
    @abstractmethod
    def seq_len(self) -> int:
        """Length of a window along its first axis (steps, bars or notes)."""

    @property
    def window_shape(self) -> tuple[int, ...]:
        """Shape of one window as stored and served by the datasets."""
        return (self.seq_len, len(self.depths))

    @property
    @abstractmethod
    def window_seconds(self) -> float:
        """Duration of a decoded window (nominal for notes, whose tokens have durations of their own)."""

    @property
    def pitch_tracks(self) -> tuple[int, ...]:
        """Tracks holding melody codes (0 hold, 1 off, 2.. pitches): the ones transposition may shift."""
        return ()

    def spec(self) -> dict[str, Any]:
        """JSON-able description that ``converter_from_spec`` turns back into an equal converter."""
        options = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"kind": self.name, **{k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}}

    @abstractmethod
    def encode(self, score: symusic.Score, source: str) -> ConversionResult:
        """Windows of one score; ``source`` names it in messages."""

    @abstractmethod
    def decode(self, window: np.ndarray) -> pretty_midi.PrettyMIDI:
        """A playable MIDI object for one window."""

    def empty(self) -> np.ndarray:
        """A window array with no windows, of the right shape and dtype."""
        return np.zeros((0, *self.window_shape), self.dtype)


def new_midi(steps_per_quarter: int, steps_per_bar: int) -> pretty_midi.PrettyMIDI:
    """An empty PrettyMIDI at the decode tempo, with the time signature whose bar has ``steps_per_bar`` steps."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=DECODE_QPM)
    sixteenths = steps_per_bar * 4 // steps_per_quarter
    numerator, denominator = (sixteenths // 4, 4) if sixteenths % 4 == 0 else (sixteenths // 2, 8)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(numerator, denominator, 0.0))
    return pm


def seconds_per_step(steps_per_quarter: int) -> float:
    """Duration of one grid step at the decode tempo."""
    return 60.0 / (DECODE_QPM * steps_per_quarter)


class FourFourWindows:
    """Windows of ``slice_bars`` bars of 4/4 at ``steps_per_quarter`` (melody, drums, trio: Magenta's grid)."""

    slice_bars: int
    steps_per_quarter: int

    @property
    def steps_per_bar(self) -> int:
        return 4 * self.steps_per_quarter

    @property
    def seq_len(self) -> int:
        return self.slice_bars * self.steps_per_bar

    @property
    def window_seconds(self) -> float:
        return self.seq_len * seconds_per_step(self.steps_per_quarter)
