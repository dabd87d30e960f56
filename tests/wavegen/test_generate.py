"""Seed windows for generation: distinct while there are enough, evenly reused when there are not."""
from collections import Counter

import numpy as np
import pytest

from engine.errors import UserError
from wavegen.dataset import Windows
from wavegen.generate import pick_seeds


def numbered_windows(count: int) -> Windows:
    """``count`` one-frame windows whose values are their index."""
    frames = np.arange(count + 1, dtype=np.float32)[:, None]
    return Windows([frames], length=1, stride=1, mean=np.zeros(1, np.float32), std=np.ones(1, np.float32))


def picked(windows: Windows, count: int, seed: int = 0) -> list[int]:
    return [int(w[0, 0]) for w in pick_seeds(windows, count, np.random.default_rng(seed))]


@pytest.mark.parametrize("seed", range(5))
def test_as_many_seeds_as_windows_are_all_distinct(seed):
    windows = numbered_windows(19)
    assert sorted(picked(windows, 19, seed)) == list(range(19))
    assert len(set(picked(windows, 10, seed))) == 10


def test_more_seeds_than_windows_use_each_window_evenly():
    assert sorted(Counter(picked(numbered_windows(4), 10)).values()) == [2, 2, 3, 3]


def test_same_rng_seed_same_picks_and_no_windows_is_a_clear_error():
    windows = numbered_windows(50)
    assert picked(windows, 5, seed=3) == picked(windows, 5, seed=3) != picked(windows, 5, seed=4)
    with pytest.raises(UserError, match="no audio to seed generation with"):
        pick_seeds(numbered_windows(0), 1, np.random.default_rng(0))
