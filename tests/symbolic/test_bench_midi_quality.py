"""What the symbolic quality benchmark does to its sources and how it sums up a posterior, against hand computations
(scripts/bench_midi_quality.py; nothing here trains or runs the benchmark)."""
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from symbolic.data.converters import PianorollConverter

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture
def quality(monkeypatch):
    """The benchmark imported as it imports its neighbours when run as a file: from scripts/ on the path."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    return importlib.import_module("bench_midi_quality")


def test_a_four_two_piece_is_rebarred_as_two_two_and_then_gives_piano_roll_windows(quality, score_of):
    notes = [(48 + i, 8 * i, 8 * i + 8) for i in range(32)]  # rising half notes: 8 bars of 4/2, 16 of 2/2
    score = score_of([(0, False, notes)], meters=((0, 4, 2),))
    converter = PianorollConverter(slice_bars=4, pitch_range=(48, 83))
    assert converter.encode(score, "four-two").reason  # 32-step bars: skipped for their meter
    rebarred = quality.halve_four_two(score.copy())
    assert [(t.time, t.numerator, t.denominator) for t in rebarred.time_signatures] == [(0, 2, 2)]
    assert [(n.time, n.duration, n.pitch) for n in rebarred.tracks[0].notes] == \
        [(n.time, n.duration, n.pitch) for n in score.tracks[0].notes]  # the notes untouched
    windows = converter.encode(rebarred, "two-two").windows
    assert len(windows) == 16 - 4 + 1  # every run of 4 of the 16 bars (no two alike)
    three_two = score_of([(0, False, notes)], meters=((0, 3, 2),))
    assert quality.halve_four_two(three_two).time_signatures[0].numerator == 3  # other meters stay


def test_the_aggregate_posterior_is_the_mixture_of_the_windows_posteriors(quality):
    mu = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    sigma = torch.tensor([[0.5, 1.0], [0.5, 1.0]])

    class Encoded:  # stands in for a TrainedModel's encode_windows, which the benchmark calls
        @staticmethod
        def encode_windows(windows):
            return mu, mu, sigma

    summary = quality.aggregate_posterior(Encoded, np.zeros(2))
    # dimension 0: mean 2, variance 0.25 + var([1, 3]) = 0.25 + 2 (unbiased); dimension 1: mean 0, variance 1
    assert summary["mean_abs_mean"] == pytest.approx(1.0)
    assert summary["max_std"] == pytest.approx(round(2.25 ** 0.5, 3)) and summary["min_std"] == 1.0
    assert summary["mean_std"] == pytest.approx(round((1.5 + 1.0) / 2, 3))
