"""Trivial predictors every model must beat, and the one wording in which a verdict against one is given.

Torch-free: the families' evaluation functions and the benchmarks use it on numpy windows.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def unigram_nll(train_windows: np.ndarray, windows: np.ndarray, depths: Sequence[int]) -> float:
    """Mean nats per window of ``windows`` [N, T, ...] under add-one smoothed token frequencies of ``train_windows``,
    one distribution per column ``k`` of the last axis with ``depths[k]`` classes (later columns are ignored)."""
    nll = 0.0
    for column, depth in enumerate(depths):
        counts = np.bincount(np.asarray(train_windows[..., column], np.int64).ravel(), minlength=depth) + 1.0
        log_p = np.log(counts / counts.sum())
        tokens = np.asarray(windows[..., column], np.int64)
        nll += float(-log_p[tokens].reshape(len(tokens), -1).sum(axis=1).mean())
    return nll


def verdict(name: str, value: float, baseline: float, baseline_name: str, higher_is_better: bool,
            digits: int = 3) -> str:
    """E.g. "accuracy 0.801 vs 0.600 for always predicting hold (+0.201): the model beats it"."""
    beats = value > baseline if higher_is_better else value < baseline
    return (f"{name} {value:.{digits}f} vs {baseline:.{digits}f} for {baseline_name} ({value - baseline:+.{digits}f}): "
            + ("the model beats it" if beats else "the model does not beat it"))
