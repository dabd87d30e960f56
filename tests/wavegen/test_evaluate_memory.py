"""The evaluation reads the music one file at a time: its memory is that of the longest file, not of all of them."""
import tracemalloc

import numpy as np
import soundfile as sf

from wavegen.evaluate import EVAL_RATE, Music, score


def peak_bytes(files, clips) -> int:
    """The most memory (numpy buffers included) held at once while loading and scoring against ``files``."""
    tracemalloc.start()
    try:
        score(clips, Music.load(files, 0.1))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_scoring_against_many_files_holds_one_file_at_a_time(tmp_path):
    rng = np.random.default_rng(0)
    files, samples = [], 8 * EVAL_RATE
    for i in range(6):
        files.append(tmp_path / f"{i}.wav")
        sf.write(files[-1], 0.3 * rng.standard_normal(samples), EVAL_RATE, subtype="FLOAT")
    clips = [0.3 * rng.standard_normal(EVAL_RATE // 2).astype(np.float32) for _ in range(2)]
    score(clips, Music.load(files[:1], 0.1))  # imports and first-call compilation, untraced: not the music's
    one, six = peak_bytes(files[:1], clips), peak_bytes(files, clips)
    assert six - one < 4 * samples / 2, (one, six)  # not even the previous file is still held while one is read
