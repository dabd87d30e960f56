"""Baselines and sample quality in `midi evaluate`, and the example's configuration trained and sampled."""
import json
import math

import numpy as np
import pytest

import music_composer
from engine.checkpoint import load_checkpoint
from symbolic.configs import get_config
from symbolic.data.datasets import prepare_dataset
from symbolic.examples import EXAMPLE_DATA, EXAMPLE_NUM_STEPS, beta_rate_for, example_hparams
from symbolic.models import baselines as baselines_module
from symbolic.models.baselines import unigram_nll
from symbolic.studies import evaluate
from symbolic.studies.evaluate import baselines, verdicts
from symbolic.trained_model import TrainedModel
from tests.symbolic.test_music_vae_commands import examples, run  # noqa: F401 (fixtures)


def test_baselines_by_hand():
    # melody codes: 0 hold, 1 note-off, 2.. onsets; train frequencies of 0, 1, 2 are 4, 1, 3 of 8 (+1 each: 5, 2, 4)
    train = np.array([[[0], [0], [2], [0]], [[2], [1], [2], [0]]])
    held_out = np.array([[[2], [0], [0], [1]]])
    assert baselines(train, held_out, get_config("cat-mel_2bar_small"))["always_hold_accuracy"] == 0.5
    p = np.array([5, 2, 4]) / 11
    assert unigram_nll(train, held_out, depths=(3,)) == pytest.approx(-(np.log(p[2]) + 2 * np.log(p[0]) + np.log(p[1])))


class ReadRecorder:
    """Windows that record how many windows each read takes (as a memory-mapped split is read)."""

    def __init__(self, windows: np.ndarray):
        self.windows, self.reads = windows, []

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, key):
        part = self.windows[key]
        self.reads.append(len(part))
        return part


def test_the_unigram_baseline_streams_its_windows_in_chunks(monkeypatch):
    rng = np.random.default_rng(0)
    train, held_out = rng.integers(0, 5, size=(10, 8, 2)), rng.integers(0, 5, size=(3, 8, 2))
    expected = unigram_nll(train, held_out, depths=(5, 5))
    monkeypatch.setattr(baselines_module, "CHUNK", 4)
    recorded = ReadRecorder(train)
    assert unigram_nll(recorded, held_out, depths=(5, 5)) == pytest.approx(expected)
    assert recorded.reads == [4, 4, 2]


def test_evaluate_memory_maps_the_training_split_and_decodes_a_capped_sample_of_windows(run, examples, tmp_path,
                                                                                        monkeypatch):
    model = TrainedModel(run, "cpu")
    prepared = prepare_dataset(model.converter, examples, tmp_path / "prepared", workers=1, progress=False)
    fitted_on, decoded = [], []
    monkeypatch.setattr(evaluate, "baselines", lambda train, windows, config: fitted_on.append(train) or baselines(
        train, windows, config))
    to_midi = TrainedModel.to_midi
    monkeypatch.setattr(TrainedModel, "to_midi", lambda self, windows: decoded.append(len(windows)) or to_midi(
        self, windows))
    monkeypatch.setattr(evaluate, "REAL_WINDOWS", 5)
    metrics = evaluate.evaluate_run(run, prepared.result.output_dir, "train", device="cpu", progress=False, samples=4)
    [train] = fitted_on
    assert isinstance(train, np.memmap) and not train.flags.owndata and len(train) == prepared.result.windows["train"]
    assert len(train) > 5 and metrics["n_samples"] == 4
    assert sorted(decoded) == [4, 5]  # the samples, and 5 of the split's windows (max(4 samples, the cap of 5))


def test_verdicts_say_whether_the_model_beats_each_baseline():
    config = get_config("cat-mel_2bar_small")
    good, bad = verdicts({"accuracy": 0.8, "always_hold_accuracy": 0.6, "elbo": -40.0, "unigram_nll": 60.0}, config), \
        verdicts({"accuracy": 0.6, "always_hold_accuracy": 0.6, "elbo": -70.0, "unigram_nll": 60.0}, config)
    assert all("the model beats it" in line for line in good)
    assert "+0.200" in good[0] and all("does not beat it" in line for line in bad)


def test_example_schedule_scales_with_the_run():
    for steps in (100, EXAMPLE_NUM_STEPS):
        config = get_config("cat-mel_2bar_small", example_hparams(steps))
        assert config.beta(steps // 2) == pytest.approx(0.99 * config.max_beta, rel=1e-3)
        assert config.free_bits > 0 and config.transpose == 5  # Magenta's augmentation of the 2-bar melody configs
    assert math.isclose(beta_rate_for(2), 0.01)


def test_example_configuration_trains_evaluates_with_samples_and_samples(tmp_path, capsys):
    run = tmp_path / "run"
    assert music_composer.main(["midi", "train", "--example", "--run-dir", str(run), "--num-steps", "4",
                                "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "validation at step 4:" in out and "for always predicting hold" in out
    config = load_checkpoint(run / "checkpoint.pt")["hparams"]["config"]
    assert config["free_bits"] == 48 and config["beta_rate"] == pytest.approx(beta_rate_for(4))
    assert music_composer.main(["midi", "evaluate", "--run-dir", str(run), "--examples-path", str(EXAMPLE_DATA),
                                "--samples", "8", "--json", "--no-progress"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0 <= metrics["sample_overlap"] <= 1 and 0.5 < metrics["sample_ceiling"] <= 1
    assert metrics["n_samples"] == 8 and set(metrics["sample_features"]) >= {"pitch_range", "repeated_note_rate"}
    assert 0 < metrics["always_hold_accuracy"] < 1 and metrics["unigram_nll"] > 0
    assert music_composer.main(["midi", "evaluate", "--run-dir", str(run), "--examples-path", str(EXAMPLE_DATA),
                                "--samples", "8", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "prior samples overlap the data's features at" in text and "mean_interval" in text
    assert music_composer.main(["midi", "sample", "--run-dir", str(run), "-n", "2", "--output-dir",
                                str(tmp_path / "samples"), "--seed", "0"]) == 0
    assert len(list((tmp_path / "samples").glob("*.mid"))) == 2
