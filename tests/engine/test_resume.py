"""Resuming: another batch size, Ctrl-C, validation at the end of short runs, and the rows the log gets."""
import csv
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from torch.utils.data import TensorDataset

from engine.checkpoint import load_checkpoint
from engine.trainer import TrainConfig, Trainer
from tests.engine.test_trainer import Regressor, data, train

SETTINGS = dict(learning_rate=1e-2, progress=False, tensorboard=False)


class Recorder(Regressor):
    """Remembers which examples it trained on (each example carries its index)."""

    def __init__(self):
        super().__init__()
        self.seen: list[int] = []

    def training_loss(self, batch, step):
        x, y, index = batch
        if self.training:
            self.seen += index.tolist()
        return super().training_loss((x, y), step)


def indexed(n=64):
    x, y = data(n).tensors
    return TensorDataset(x, y, torch.arange(n))


def fit_recorder(tmp_path, **overrides):
    """Train a Recorder; the micro-batch is given, so no memory estimate runs examples through it."""
    model = Recorder()
    settings = {**SETTINGS, **overrides, "micro_batch": overrides["batch_size"]}
    Trainer(model, indexed(), None, TrainConfig(run_dir=str(tmp_path / "run"), **settings)).fit()
    return model.seen


def test_resuming_with_another_batch_size_visits_every_example_once(tmp_path, capsys):
    first = fit_recorder(tmp_path, batch_size=8, max_steps=3)
    rest = fit_recorder(tmp_path, batch_size=16, epochs=1)
    assert len(first) == 24 and sorted(first + rest) == list(range(64))
    assert "batch size changed from 8 to 16 on resuming" in capsys.readouterr().out
    rows = [row for row in csv.DictReader(open(tmp_path / "run" / "metrics.csv"))]
    assert all(row["train/loss"] for row in rows)


def test_an_old_checkpoint_resumed_with_another_batch_size_continues_at_its_example(tmp_path, capsys):
    """Old checkpoints count batches: 5 of 8 examples, then batches of 16 (which used to skip the epoch's rest)."""
    fit_recorder(tmp_path, batch_size=8, max_steps=5)
    path = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    state["batch_in_epoch"] = state.pop("examples_in_epoch") // 8
    torch.save(state, path)
    order = torch.randperm(64, generator=torch.Generator().manual_seed(0)).tolist()
    assert fit_recorder(tmp_path, batch_size=16, epochs=1) == order[40:]
    assert "batch size changed from 8 to 16" in capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [r["step"] for r in rows] == ["5", "7"] and all(r["train/loss"] for r in rows)


class Interrupted(Regressor):
    """Raises KeyboardInterrupt in training step ``at`` (0-based) after its forward pass drew dropout masks, or in
    validation after training step ``in_validation_after``."""

    def __init__(self, at=None, in_validation_after=None):
        super().__init__()
        self.at, self.in_validation_after = at, in_validation_after

    def training_loss(self, batch, step):
        out = super().training_loss(batch, step)
        if (step == self.at and self.training) or (step == self.in_validation_after and not self.training):
            raise KeyboardInterrupt
        return out


def run(tmp_path, name, model, **overrides):
    torch.manual_seed(123)
    config = TrainConfig(run_dir=str(tmp_path / name), batch_size=8, log_every=4, **{**SETTINGS, **overrides})
    trainer = Trainer(model, data(), data(16, seed=1), config)
    return trainer.fit(), trainer


def test_ctrl_c_saves_the_steps_taken_and_resuming_continues_exactly(tmp_path, capsys):
    straight, _, _ = train(tmp_path, "straight", max_steps=13)
    torch.manual_seed(123)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "split", Interrupted(at=6), max_steps=13)
    assert "interrupted: saved" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["step"] == 6
    torch.manual_seed(123)
    resumed = Regressor()
    _, trainer = run(tmp_path, "split", resumed, max_steps=13)
    assert trainer.resumed
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_ctrl_c_mid_epoch_in_a_run_that_saves_at_epoch_ends_only_keeps_the_steps_taken(tmp_path):
    """As the audio pipeline trains: epochs, no checkpoint_every; Ctrl-C in the second epoch's fourth step."""
    straight, _, _ = train(tmp_path, "straight", epochs=2)
    torch.manual_seed(123)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "split", Interrupted(at=11), epochs=2)
    state = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert (state["epoch"], state["step"], state["examples_in_epoch"]) == (1, 11, 24)
    torch.manual_seed(123)
    resumed = Regressor()
    run(tmp_path, "split", resumed, epochs=2)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


@pytest.fixture
def ctrl_c_raises():
    """Python's own Ctrl-C handler, as in a terminal: a test runner started in the background inherits SIGINT
    ignored, and a signal sent then would never become a KeyboardInterrupt."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_while_a_checkpoint_is_written_finishes_the_write_then_stops(tmp_path, monkeypatch, ctrl_c_raises):
    """The signal arrives inside torch.save of step 10's checkpoint: the write completes, then KeyboardInterrupt."""
    straight, _, _ = train(tmp_path, "straight", max_steps=13)
    real_save = torch.save

    def interrupted_save(state, *args, **kwargs):
        if state["step"] == 10:
            signal.raise_signal(signal.SIGINT)
        real_save(state, *args, **kwargs)

    monkeypatch.setattr(torch, "save", interrupted_save)
    handler = signal.getsignal(signal.SIGINT)
    torch.manual_seed(123)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "split", Regressor(), max_steps=13, checkpoint_every=5)
    assert signal.getsignal(signal.SIGINT) is handler
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["step"] == 10
    torch.manual_seed(123)
    resumed = Regressor()
    run(tmp_path, "split", resumed, max_steps=13, checkpoint_every=5)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_a_trainer_outside_the_main_thread_saves_its_checkpoints(tmp_path):
    """Only the main thread may hold Ctrl-C back during a write; elsewhere the write goes ahead as is."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(run, tmp_path, "run", Regressor(), max_steps=3).result()
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 3


def test_ctrl_c_during_the_epoch_end_validation_resumes_without_an_empty_row(tmp_path):
    torch.manual_seed(123)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "run", Interrupted(in_validation_after=8), epochs=2)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert (state["epoch"], state["step"], state["examples_in_epoch"]) == (0, 8, 64)
    torch.manual_seed(123)
    rows, trainer = run(tmp_path, "run", Regressor(), epochs=2)
    assert (trainer.epoch, trainer.step) == (2, 16)
    assert [(r["step"], r["epoch"]) for r in rows] == [(4, 1), (12, 2), (16, 2)]
    assert all("train/loss" in r and "lr" in r for r in rows)


class DrawsInValidation(Regressor):
    """Draws from the global RNG in validation too (like a VAE sampling z), so extra validations would show."""

    def training_loss(self, batch, step):
        out = super().training_loss(batch, step)
        out.metrics["noise"] = torch.rand(())
        return out


def test_short_runs_validate_at_the_end_and_still_resume_exactly(tmp_path):
    torch.manual_seed(123)
    straight = DrawsInValidation()
    rows, _ = run(tmp_path, "straight", straight, max_steps=13, val_every=100)
    assert [r["step"] for r in rows if "val/mse" in r] == [13]
    torch.manual_seed(123)
    rows, _ = run(tmp_path, "split", DrawsInValidation(), max_steps=5, val_every=100)
    assert [r["step"] for r in rows if "val/mse" in r] == [5]
    torch.manual_seed(123)
    resumed = DrawsInValidation()
    run(tmp_path, "split", resumed, max_steps=13, val_every=100)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_validation_every_few_steps_and_at_the_end(tmp_path):
    rows, _ = run(tmp_path, "run", Regressor(), max_steps=7, val_every=3)
    assert [r["step"] for r in rows if "val/mse" in r] == [3, 6, 7]


def test_an_epoch_run_logs_one_row_per_event_with_epoch_and_lr(tmp_path):
    """8 steps per epoch, log_every 4: the window row at an epoch's end is the epoch's row, not a second one."""
    run(tmp_path, "run", Regressor(), epochs=2)
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [(int(r["step"]), int(r["epoch"])) for r in rows] == [(4, 1), (8, 1), (12, 2), (16, 2)]
    assert all(r["lr"] and r["train/loss"] for r in rows)
    assert [bool(r["val/mse"]) for r in rows] == [False, True, False, True]


def test_a_step_budget_shows_a_bar_over_all_steps(tmp_path, capsys):
    run(tmp_path, "run", Regressor(), max_steps=13, progress=True)
    assert "13/13" in capsys.readouterr().err
