"""Shared helpers for the symbolic data tests: hand-made scores on a 16th-note grid and the real fixtures."""
from __future__ import annotations

from pathlib import Path

import pytest
import symusic

FIXTURES = Path(__file__).parent / "fixtures"
TPQ = 480
STEP = TPQ // 4  # one 16th note


def make_score(tracks: list[tuple[int, bool, list[tuple[int, int, int]]]], meters=((0, 4, 4),),
               tempos=((0, 120.0),)) -> symusic.Score:
    """A score from (program, is_drum, [(pitch, start step, end step)]) tracks; meters and tempos at given steps."""
    score = symusic.Score(TPQ)
    for step, numerator, denominator in meters:
        score.time_signatures.append(symusic.TimeSignature(step * STEP, numerator, denominator))
    for step, qpm in tempos:
        score.tempos.append(symusic.Tempo(step * STEP, qpm=qpm))
    for program, is_drum, notes in tracks:
        track = symusic.Track(f"track {len(score.tracks)}", program=program, is_drum=is_drum)
        for pitch, start, end in notes:
            track.notes.append(symusic.Note(start * STEP, (end - start) * STEP, pitch, 90))
        score.tracks.append(track)
    return score


def write_score(path: Path, score: symusic.Score) -> Path:
    """Write ``score`` as a MIDI file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(path)
    return path


def scale_line(first_step: int, bars: int, pitch: int = 60) -> list[tuple[int, int, int]]:
    """Quarter notes rising by semitones from ``pitch`` (repeating every 6 bars) for ``bars`` bars."""
    return [(pitch + i % 24, first_step + 4 * i, first_step + 4 * i + 4) for i in range(4 * bars)]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine their synchronisation costs 10-50x."""
    import torch  # here, not at the top: the data-layer tests run without torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.mid"))


@pytest.fixture
def score_of():
    """``make_score`` as a fixture (test modules do not import conftest)."""
    return make_score


@pytest.fixture
def write_midi():
    return write_score


@pytest.fixture
def scale():
    return scale_line
