"""Shared fixtures: a datasets folder holding the two real-music test clips."""
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
CLIPS = sorted(FIXTURES.glob("*.flac"))


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A fresh datasets folder with copies of the test clips."""
    folder = tmp_path / "dataset"
    folder.mkdir()
    for clip in CLIPS:
        shutil.copy(clip, folder / clip.name)
    return folder
