"""Trivial predictors every model must beat, and the one wording in which a verdict against one is given.

Torch-free: the families' evaluation functions and the benchmarks use it on numpy windows. The baselines read their
windows (memory-mapped splits of any size) in chunks of ``CHUNK``: the training split's token counts are streamed,
exact, in bounded memory.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

CHUNK = 1024  # windows read at once (bounded memory for any dataset)


def chunks(windows: np.ndarray, dtype: type = np.int64) -> Iterator[np.ndarray]:
    """``windows`` [N, ...] in consecutive in-memory pieces of up to ``CHUNK`` windows, as ``dtype``."""
    for start in range(0, len(windows), CHUNK):
        yield np.asarray(windows[start:start + CHUNK], dtype)


def unigram_nll(train_windows: np.ndarray, windows: np.ndarray, depths: Sequence[int]) -> float:
    """Mean nats per window of ``windows`` [N, T, ...] under add-one smoothed token frequencies of ``train_windows``,
    one distribution per column ``k`` of the last axis with ``depths[k]`` classes (later columns are ignored)."""
    counts = [np.ones(depth) for depth in depths]
    for chunk in chunks(train_windows):
        for column, depth in enumerate(depths):
            counts[column] += np.bincount(chunk[..., column].ravel(), minlength=depth)
    log_p = [np.log(c / c.sum()) for c in counts]
    total = 0.0
    for chunk in chunks(windows):
        total -= sum(float(log_p[column][chunk[..., column]].sum()) for column in range(len(depths)))
    return total / len(windows) if len(windows) else math.nan


def verdict(name: str, value: float, baseline: float, baseline_name: str, higher_is_better: bool,
            digits: int = 3) -> str:
    """E.g. "accuracy 0.801 vs 0.600 for always predicting hold (+0.201): the model beats it"."""
    beats = value > baseline if higher_is_better else value < baseline
    return (f"{name} {value:.{digits}f} vs {baseline:.{digits}f} for {baseline_name} ({value - baseline:+.{digits}f}): "
            + ("the model beats it" if beats else "the model does not beat it"))
