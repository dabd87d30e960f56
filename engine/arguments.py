"""Argparse value types shared by the audio and the MIDI command lines: ranges checked when parsing, with messages
naming the rule. This module never imports torch, so `-h` stays fast."""
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
