"""Seed windows for generation: distinct while there are enough, evenly reused when there are not, those ending
sounding first."""
from collections import Counter

import numpy as np
import pytest

from engine.errors import UserError
from wavegen.dataset import Windows
from wavegen.framer import LOG_FLOOR, FrameSpec
from wavegen.generate import pick_seeds


def numbered_windows(count: int) -> Windows:
    """``count`` one-frame windows whose values are their index."""
    frames = np.arange(count + 1, dtype=np.float32)[:, None]
    return Windows([frames], length=1, stride=1, mean=np.zeros(1, np.float32), std=np.ones(1, np.float32))


def picked(windows: Windows, count: int, seed: int = 0) -> list[int]:
    return [int(w[0, 0]) for w in pick_seeds(windows, count, np.random.default_rng(seed), FrameSpec())]


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
        pick_seeds(numbered_windows(0), 1, np.random.default_rng(0), FrameSpec())


def test_seeds_ending_in_a_pause_come_last():
    """Of 40 log-magnitude windows, the odd ones end in half a second of silence: clips start from the even ones
    while there are enough, and the odd ones only fill up the rest."""
    length, silence = 29, np.log(LOG_FLOOR)
    frames = np.zeros((40 * (length + 1), 3), dtype=np.float32)
    for i in range(40):
        window = frames[i * (length + 1):(i + 1) * (length + 1)]
        window[0, 0] = i  # which window it is (the first frame is not part of the measured ending)
        if i % 2:
            window[-25:] = silence
    windows = Windows([frames], length, length + 1, mean=np.zeros(3, np.float32), std=np.ones(3, np.float32))
    spec = FrameSpec()
    assert round(0.5 * spec.frames_per_second) < 25  # the measured ending lies inside the silence

    def picked_with_spec(count: int, seed: int) -> list[int]:
        return [int(w[0, 0]) for w in pick_seeds(windows, count, np.random.default_rng(seed), spec)]

    for seed in range(3):
        assert sorted(picked_with_spec(20, seed)) == list(range(0, 40, 2))
        assert all(i % 2 for i in picked_with_spec(30, seed)[20:])
