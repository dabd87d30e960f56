"""Which split a MIDI file of a folder belongs to: a hash of its relative path, so the windows of one song never
straddle splits and adding files never moves the others."""
from __future__ import annotations

import bisect
import hashlib
import itertools
import unicodedata

SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
EXAMPLE_SPLITS = (*SPLITS, "all")  # what the commands that read examples accept: one split, or every file


def split_of(rel: str) -> str:
    """The split of a file, from a hash of its relative path (stable across runs, machines and additions).

    The path is normalised first (Unicode NFC, forward slashes), so a copy whose names another system spelled
    differently (macOS writes NFD) splits alike; ASCII and NFC names hash exactly as they always did.
    """
    key = unicodedata.normalize("NFC", rel).replace("\\", "/")
    u = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2 ** 64
    bounds = list(itertools.accumulate(SPLIT_FRACTIONS))
    return SPLITS[min(bisect.bisect_right(bounds, u), len(SPLITS) - 1)]
