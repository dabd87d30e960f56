"""Argparse value types shared by the audio and the MIDI command lines: ranges checked when parsing, with messages
naming the rule, and durations written for people. This module never imports torch, so `-h` stays fast."""
from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable


def number(kind: type, minimum: float, what: str, below: float = math.inf) -> Callable[[str], int | float]:
    """An argparse type: ``kind`` (int or float) in [minimum, below), with a message naming the rule."""
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}")
        if not minimum <= value < below:  # also rejects nan and inf
            raise argparse.ArgumentTypeError(f"{text!r} must be {what}")
        return value
    return parse


positive_int = number(int, 1, "a positive integer")
non_negative_int = number(int, 0, "0 or more")
positive_float = number(float, sys.float_info.min, "a positive number")
finite_float = number(float, -sys.float_info.max, "a finite number")
fraction = number(float, 0.0, "in [0, 1)", below=1.0)
seed_value = number(int, 0, "in 0 .. 4294967295", below=2 ** 32)  # numpy's seed range


def device_name(text: str) -> str:
    """An argparse type: auto, cpu, mps, cuda or cuda:N (whether it exists is checked when the run starts)."""
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not auto, cpu, mps, cuda or cuda:N")
    return text


DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# (unit, its seconds, shown below this many seconds): 89 s, then 1.5 min, 89 min, then 1.5 h, 47 h, then 2.0 days
READABLE_UNITS = (("s", 1, 90), ("min", 60, 90 * 60), ("h", 3600, 48 * 3600), ("days", 86400, math.inf))


def duration(text: str) -> float:
    """An argparse type: a positive time in seconds, bare or with a unit (90, 90s, 15m, 1.5h, 2d)."""
    match = re.fullmatch(r"(\d+\.?\d*|\.\d+)([smhd]?)", text.strip().lower())
    if not match or float(match[1]) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration: seconds, or a number followed by "
                                         "s, m, h or d (90, 90s, 15m, 1.5h, 2d)")
    return float(match[1]) * DURATION_UNITS[match[2]]


def duration_text(seconds: float) -> str:
    """``seconds`` in the unit read at a glance: 45 s, 12 min, 3.5 h, 4.4 days."""
    unit, size = next((unit, size) for unit, size, below in READABLE_UNITS if seconds < below)
    value = seconds / size
    return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
