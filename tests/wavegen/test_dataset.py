"""Windows: inside one file, target = input shifted by one frame, any stride, views, validation tail split."""
import numpy as np

from wavegen.dataset import Windows, split_segments


def numbered(n: int, start: int = 0, dim: int = 3) -> np.ndarray:
    """Frames whose every value is the frame's index, so windows reveal which frames they hold."""
    return np.repeat(np.arange(start, start + n, dtype=np.float32)[:, None], dim, axis=1)


def first_values(windows: Windows) -> list[list[float]]:
    return [windows[i][:, 0].tolist() for i in range(len(windows))]


def test_windows_stay_inside_files_at_every_stride():
    files = [numbered(7), numbered(5, start=100)]
    windows = Windows(files, length=3, stride=2, mean=np.zeros(3, np.float32), std=np.ones(3, np.float32))
    assert first_values(windows) == [[0, 1, 2, 3], [2, 3, 4, 5], [100, 101, 102, 103]]
    one = Windows(files, length=3, stride=1, mean=np.zeros(3, np.float32), std=np.ones(3, np.float32))
    assert len(one) == 4 + 2 and all(w[-1] - w[0] == 3 for w in first_values(one))


def test_windows_are_normalised_float32():
    windows = Windows([numbered(4).astype(np.float16)], length=2, stride=1, mean=np.full(3, 1.0, np.float32),
                      std=np.full(3, 2.0, np.float32))
    assert windows[1].dtype == np.float32 and windows[1][:, 0].tolist() == [0.0, 0.5, 1.0]


def test_window_length_shrinks_to_the_longest_segment():
    windows = Windows([numbered(4), numbered(6)], length=40, stride=40, mean=np.zeros(3, np.float32),
                      std=np.ones(3, np.float32))
    assert windows.length == 5 and first_values(windows) == [[0, 1, 2, 3, 4, 5]]
    assert len(Windows([numbered(1)], 40, 40, np.zeros(3, np.float32), np.ones(3, np.float32))) == 0


def test_validation_is_the_tail_of_every_file_and_too_short_files_train_whole():
    files = [numbered(20), numbered(10, start=100), numbered(3, start=200)]
    train, val = split_segments(files, 0.2)
    assert [(s[0, 0], len(s)) for s in train] == [(0, 16), (100, 8), (200, 3)]
    assert [(s[0, 0], len(s)) for s in val] == [(16, 4), (108, 2)]
    assert all(np.shares_memory(s, f) for s, f in zip(train, files))  # views, no copies
    assert split_segments(files, 0.0) == (files, [])
