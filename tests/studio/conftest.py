"""A workspace as a user has one: tiny trained MIDI runs (a melody model, a chord-conditioned one), a tiny audio
checkpoint with its music, a run still training (a metrics log, no checkpoint yet) and a file that only looks like a
checkpoint."""
import shutil
from pathlib import Path

import numpy as np
import pytest

import music_composer
from studio.actions import Studio
from tests.symbolic.test_music_vae_commands import N_FILES, TINY, write_melody

AUDIO_FIXTURES = Path(__file__).parents[1] / "wavegen" / "fixtures"


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("workspace")
    examples = root / "melodies"
    examples.mkdir()
    rng = np.random.default_rng(0)
    for i in range(N_FILES):
        steps = 1 + i % 3  # varied note lengths: attribute vectors need attributes that vary
        write_melody(examples / f"song{i:02d}.mid", 60 + np.cumsum(rng.integers(-2, 3, size=64 // steps)).clip(-12, 12),
                     steps_per_note=steps)
    assert music_composer.main(["midi", "train", "--config", "cat-mel_2bar_small", "--examples-path", str(examples),
                                "--run-dir", str(root / "runs" / "mel"), "--hparams", TINY, "--num-steps", "4",
                                "--val-every", "2", "--no-progress", "--threads", "1"]) == 0
    assert music_composer.main(["midi", "train", "--config", "cat-mel_2bar_med_chords", "--examples-path",
                                str(examples), "--run-dir", str(root / "runs" / "chords"), "--hparams", TINY,
                                "--num-steps", "2", "--no-progress", "--threads", "1"]) == 0
    music = root / "input_music_dataset"
    music.mkdir()
    for clip in AUDIO_FIXTURES.glob("*.flac"):
        shutil.copy(clip, music / clip.name)
    from wavegen.pipeline import train
    from wavegen.settings import Settings
    train(Settings(datasets_folder_path=music, traindata_folder_path=root / "train_data",
                   checkpoint=root / "checkpoints" / "wavegen.pt", hidden_layer_neurons=16, hidden_layer_count=1,
                   epochs=1, workers=1, no_progress=True))
    training = root / "runs" / "training"
    training.mkdir()
    (training / "metrics.jsonl").write_text('{"step": 1, "train/loss": 2.5}\n{"step": 2, "train/lo')  # torn line
    (root / "runs" / "notes.pt").write_bytes(b"not a checkpoint")
    return root


@pytest.fixture
def studio(workspace):
    made = Studio(workspace, device="cpu", max_upload_mb=0.01)
    yield made
    made.jobs.close()


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models gain nothing from intra-op threads (as in tests/symbolic/conftest.py)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
