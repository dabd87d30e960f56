"""Baselines and sample quality in `midi evaluate`, and the example's configuration trained and sampled."""
import json
import math

import numpy as np
import pytest

import music_composer
from engine.checkpoint import load_checkpoint
from symbolic.baselines import unigram_nll
from symbolic.configs import get_config
from symbolic.evaluate import baselines, verdicts
from symbolic.train import EXAMPLE_DATA, EXAMPLE_NUM_STEPS, beta_rate_for, example_hparams


def test_baselines_by_hand():
    # melody codes: 0 hold, 1 note-off, 2.. onsets; train frequencies of 0, 1, 2 are 4, 1, 3 of 8 (+1 each: 5, 2, 4)
    train = np.array([[[0], [0], [2], [0]], [[2], [1], [2], [0]]])
    held_out = np.array([[[2], [0], [0], [1]]])
    assert baselines(train, held_out, get_config("cat-mel_2bar_small"))["always_hold_accuracy"] == 0.5
    p = np.array([5, 2, 4]) / 11
    assert unigram_nll(train, held_out, depths=(3,)) == pytest.approx(-(np.log(p[2]) + 2 * np.log(p[0]) + np.log(p[1])))


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
