"""The step time and what the steps left will take, said once a few steps in; --max-time's budget, which stops a
run with a checkpoint and a normal return, and the rerun resumes exactly. A fake clock counts the steps taken."""
import argparse
import re

import pytest
import torch

from engine.arguments import duration, duration_text
from engine.checkpoint import load_checkpoint
from engine.trainer import TrainConfig, Trainer
from tests.engine.test_trainer import Regressor, data, train

SETTINGS = dict(batch_size=8, learning_rate=1e-2, progress=False, tensorboard=False, log_every=4)


def timed_run(tmp_path, name, seconds_per_step, **overrides):
    """Train as tests.engine.test_trainer.train does, on a clock that moves ``seconds_per_step`` per step taken."""
    torch.manual_seed(123)
    model = Regressor()
    trainer = Trainer(model, data(), data(16, seed=1), TrainConfig(run_dir=str(tmp_path / name),
                                                                   **{**SETTINGS, **overrides}))
    trainer.clock = lambda: seconds_per_step * trainer.step
    return model, trainer.fit(), trainer


def pace_lines(out):
    return [line for line in out.splitlines() if " steps left " in line]


def test_the_step_time_and_the_time_left_are_said_once_after_the_warm_up(tmp_path, capsys):
    timed_run(tmp_path, "run", 2.0, max_steps=40)
    # measured over steps 3 .. 12 (the first two are the warm-up), said after step 12
    assert pace_lines(capsys.readouterr().out) == ["28 steps left of 40 at 2 s/step: about 56 s on this CPU"]


def test_an_epoch_run_counts_its_batches(tmp_path, capsys):
    timed_run(tmp_path, "run", 3.0, epochs=3)  # 20 s of measure are over before 10 steps are
    assert pace_lines(capsys.readouterr().out) == [
        "15 steps left (3 epochs of 8 batches) at 3 s/step: about 45 s on this CPU"]


def test_slow_steps_are_measured_from_the_start_within_a_minute_and_a_long_run_names_max_time(tmp_path, capsys):
    timed_run(tmp_path, "run", 40.0, max_steps=5)
    timed_run(tmp_path, "long", 900.0, max_steps=40)
    assert pace_lines(capsys.readouterr().out) == [
        "3 steps left of 5 at 40 s/step: about 2.0 min on this CPU",
        "39 steps left of 40 at 900 s/step: about 9.8 h on this CPU; --max-time (e.g. 1h) stops it at a time budget "
        "with a checkpoint, and the same command resumes"]


def test_a_run_longer_than_its_budget_says_where_it_will_stop(tmp_path, capsys):
    _, _, trainer = timed_run(tmp_path, "run", 2.0, max_steps=40, max_time=30)
    out = capsys.readouterr().out
    assert pace_lines(out) == ["28 steps left of 40 at 2 s/step: about 56 s on this CPU; --max-time stops it after 30 s"]
    assert "at step 15 of 40;" in out and trainer.step == 15


def test_fast_steps_are_counted_per_second(tmp_path, capsys):
    timed_run(tmp_path, "run", 0.004, max_steps=20)
    assert pace_lines(capsys.readouterr().out) == ["8 steps left of 20 at 250 steps/s: about 0.0 s on this CPU"]


@pytest.mark.parametrize("budget", [dict(max_steps=13), dict(epochs=2)])
def test_the_time_budget_saves_returns_and_the_same_command_resumes_exactly(budget, tmp_path, capsys):
    straight, _, _ = train(tmp_path, "straight", **budget)
    model, rows, trainer = timed_run(tmp_path, "split", 2.0, max_time=11, **budget)  # 12 s after step 6
    last = 13 if "max_steps" in budget else 16
    assert trainer.stopped_by_time and trainer.step == 6 and rows[-1]["step"] == 6 and "train/loss" in rows[-1]
    state = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert (state["step"], state["examples_in_epoch"]) == (6, 48)
    out = capsys.readouterr().out
    assert f"stopped at the time budget (--max-time 11 s) at step 6 of {last}; the same command resumes" in out
    _, _, trainer = timed_run(tmp_path, "split", 2.0, max_time=11, **budget)
    assert trainer.stopped_by_time and trainer.step == 12
    resumed, _, trainer = timed_run(tmp_path, "split", 2.0, max_time=11, **budget)
    assert not trainer.stopped_by_time and trainer.step == last
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_a_budget_spent_at_a_logged_step_adds_no_second_row(tmp_path):
    _, rows, trainer = timed_run(tmp_path, "run", 2.0, max_time=7, max_steps=13)  # 8 s after step 4: a row is due
    assert trainer.stopped_by_time and [row["step"] for row in rows] == [4]


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("15m", 900), ("1.5h", 5400), ("2d", 172800),
                                           ("0.5", 0.5), (" 15M ", 900)])
def test_durations_parse_to_seconds(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "0m", "-5", "15x", "m", "", "inf", "nan", "1e3", "15 min"])
def test_bad_durations_name_the_rule(text):
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(
            f"{text!r} is not a positive duration: seconds, or a number followed by s, m, h or d")):
        duration(text)


@pytest.mark.parametrize("seconds, text", [(5, "5.0 s"), (45, "45 s"), (90, "1.5 min"), (720, "12 min"),
                                           (12600, "3.5 h"), (380000, "4.4 days")])
def test_durations_are_written_in_a_readable_unit(seconds, text):
    assert duration_text(seconds) == text
