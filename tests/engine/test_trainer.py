"""Trainer: learns, validates, logs, resumes exactly (between epochs and mid-epoch), rejects divergence."""
import json
import math
import os

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from engine.checkpoint import check_compatible, load_checkpoint
from engine.errors import UserError
from engine.step import StepOutput
from engine.trainer import TrainConfig, Trainer


class Regressor(nn.Module):
    """Tiny model with dropout, so exact resume also depends on restoring the RNG state."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.2), nn.Tanh(), nn.Linear(16, 1))

    def training_loss(self, batch, step):
        x, y = batch
        mse = ((self.net(x) - y) ** 2).mean()
        return StepOutput(loss=mse, metrics={"mse": mse, "zero_baseline": (y ** 2).mean()}, count=len(x))


def data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return TensorDataset(x, x.sum(dim=1, keepdim=True) * 0.5)


def train(tmp_path, name="run", **overrides):
    torch.manual_seed(123)
    model = Regressor()
    settings = dict(batch_size=8, learning_rate=1e-2, progress=False, tensorboard=False, log_every=4)
    config = TrainConfig(run_dir=str(tmp_path / name), **{**settings, **overrides})
    trainer = Trainer(model, data(), data(16, seed=1), config, hparams={"hidden": 16})
    rows = trainer.fit()
    return model, rows, trainer


def test_learns_and_logs_train_and_val_metrics(tmp_path):
    model, rows, trainer = train(tmp_path, epochs=6)
    epoch_rows = [r for r in rows if "val/mse" in r]
    assert len(epoch_rows) == 6 and epoch_rows[-1]["val/mse"] < 0.5 * epoch_rows[0]["val/mse"]
    assert epoch_rows[-1]["val/mse"] < epoch_rows[-1]["val/zero_baseline"]
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == rows
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0]
    assert "val/mse" in header and "train/loss" in header
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["epoch"] == 6 and state["step"] == 48 and state["hparams"] == {"hidden": 16}


def test_resume_between_epochs_is_exact(tmp_path):
    straight, _, _ = train(tmp_path, "straight", epochs=4)
    train(tmp_path, "split", epochs=2)
    resumed, _, trainer = train(tmp_path, "split", epochs=4)
    assert trainer.resumed
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_mid_epoch_is_exact(tmp_path):
    straight, _, _ = train(tmp_path, "straight", max_steps=13)
    train(tmp_path, "split", max_steps=5)
    resumed, rows, _ = train(tmp_path, "split", max_steps=13)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert sorted({r["step"] for r in rows}) == sorted(set(r["step"] for r in rows))


def test_finished_run_trains_no_further(tmp_path, capsys):
    train(tmp_path, epochs=1)
    _, _, trainer = train(tmp_path, epochs=1)
    assert trainer.step == 8
    assert "nothing left to train" in capsys.readouterr().out


def test_divergence_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="diverged"):
        train(tmp_path, epochs=3, learning_rate=1e30, grad_clip=None)


class Diverges(Regressor):
    """From training step ``at`` (0-based) on, its loss is NaN, or (``gradient``) its loss stays finite but the
    gradient of that step is infinite, so the update itself makes the weights NaN."""

    def __init__(self, at, gradient=False):
        super().__init__()
        self.at, self.gradient = at, gradient

    def training_loss(self, batch, step):
        out = super().training_loss(batch, step)
        if self.training and step >= self.at:
            weight = self.net[0].weight
            poison = torch.sqrt((weight - weight.detach()).sum()) if self.gradient else torch.tensor(math.nan)
            out.loss = out.loss + poison  # sqrt at 0: the value 0, the gradient infinite
        return out


@pytest.mark.parametrize("model, where", [
    (Diverges(at=5), "between steps 5 and 8"),  # the loss is read at the epoch's row
    (Diverges(at=7, gradient=True), "at step 8"),  # the loss was finite: the weights are checked before the write
])
def test_divergence_stops_with_one_line_and_keeps_the_last_finite_checkpoint(tmp_path, model, where):
    config = TrainConfig(run_dir=str(tmp_path / "run"), epochs=2, batch_size=8, log_every=100, checkpoint_every=4,
                         progress=False, tensorboard=False)
    with pytest.raises(UserError) as error:
        Trainer(model, data(), None, config).fit()
    message = str(error.value)
    assert message.startswith("training diverged: ") and "\n" not in message
    assert message.endswith(f" {where}; lower the learning rate (the last checkpoint is kept)")
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["step"] == 4 and all(torch.isfinite(w).all() for w in state["model"].values())


class Watched(torch.Tensor):
    """A loss that counts the reads of its value on the host (each one a device sync on a GPU)."""

    READS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__float__, torch.Tensor.__bool__, torch.isfinite}
    reads = 0

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in cls.READS:
            Watched.reads += 1
        return super().__torch_function__(func, types, args, kwargs or {})


class WatchedLoss(Regressor):
    def training_loss(self, batch, step):
        out = super().training_loss(batch, step)
        out.loss = out.loss.as_subclass(Watched)  # what is computed from it (the logged sums) stays watched
        return out


@pytest.mark.parametrize("progress", [False, True])
def test_the_loss_is_read_at_logged_rows_only_not_every_step(tmp_path, progress):
    Watched.reads = 0
    config = TrainConfig(run_dir=str(tmp_path / "run"), max_steps=40, batch_size=1, log_every=1000,
                         progress=progress, tensorboard=False)
    Trainer(WatchedLoss(), data(), None, config).fit()
    assert 0 < Watched.reads <= 5  # the one row at the end, not one read per step


def test_checkpoint_of_another_shape_is_rejected(tmp_path):
    train(tmp_path, epochs=1)
    other = nn.Module()
    other.net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    other.training_loss = Regressor.training_loss.__get__(other)
    config = TrainConfig(run_dir=str(tmp_path / "run"), epochs=2, progress=False, tensorboard=False)
    with pytest.raises(UserError, match="does not fit"):
        Trainer(other, data(), None, config)
    with pytest.raises(UserError, match="hidden: checkpoint has 16, now 8"):
        check_compatible({"hidden": 16}, {"hidden": 8}, ["hidden"], "run/checkpoint.pt")


def test_lr_lambda_is_applied_and_resumed(tmp_path):
    def fit(max_steps):
        torch.manual_seed(0)
        config = TrainConfig(run_dir=str(tmp_path / "lr"), max_steps=max_steps, batch_size=16, learning_rate=1.0,
                             progress=False, tensorboard=False, log_every=1)
        return Trainer(Regressor(), data(), None, config, lr_lambda=lambda s: 0.5 ** s).fit()

    assert [r["lr"] for r in fit(4)] == [1.0, 0.5, 0.25, 0.125]  # each step's own lr, not the next one's
    assert [r["lr"] for r in fit(6)][4:] == [0.0625, 0.03125]


def test_resuming_with_another_learning_rate_uses_it(tmp_path, capsys):
    train(tmp_path, epochs=1, learning_rate=1e-2)
    _, _, trainer = train(tmp_path, epochs=2, learning_rate=1e-3)
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [1e-3]
    assert "learning rate changed from 0.01 to 0.001" in capsys.readouterr().out


def test_checkpoint_and_logs_get_ordinary_permissions(tmp_path):
    train(tmp_path, epochs=1)
    mask = os.umask(0)
    os.umask(mask)
    for name in ("checkpoint.pt", "metrics.csv"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o666 & ~mask


def test_weight_average_is_validated_saved_resumed_exactly_and_handed_back(tmp_path):
    from engine.checkpoint import trained_weights
    from engine.metrics import evaluate
    model, rows, trainer = train(tmp_path, "ema", epochs=3, ema_decay=0.9)
    state = load_checkpoint(tmp_path / "ema" / "checkpoint.pt")
    assert set(state["ema"]) == {name for name, _ in model.named_parameters()}
    assert not torch.equal(state["ema"]["net.0.weight"], state["model"]["net.0.weight"])
    assert all(torch.equal(trained_weights(state)[name], value) for name, value in model.state_dict().items())
    loader = torch.utils.data.DataLoader(data(16, seed=1), batch_size=8)
    assert evaluate(model, loader, torch.device("cpu"))["mse"] == pytest.approx(rows[-1]["val/mse"], rel=1e-6)
    train(tmp_path, "split", epochs=1, ema_decay=0.9)
    resumed, _, _ = train(tmp_path, "split", epochs=3, ema_decay=0.9)
    for a, b in zip(model.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_without_a_weight_average_the_checkpoint_is_as_before(tmp_path):
    from engine.checkpoint import trained_weights
    model, _, _ = train(tmp_path, epochs=1)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert "ema" not in state
    assert all(torch.equal(trained_weights(state)[name], value) for name, value in model.state_dict().items())


def test_a_checkpoint_without_an_average_resumes_with_one_started_at_its_weights(tmp_path):
    train(tmp_path, epochs=1)
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["model"]
    _, _, trainer = train(tmp_path, epochs=1, ema_decay=0.9)  # nothing left to train: the average is the weights
    assert all(torch.equal(trainer.model.state_dict()[name], value) for name, value in saved.items())
    train(tmp_path, epochs=2, ema_decay=0.9)
    assert "ema" in load_checkpoint(tmp_path / "run" / "checkpoint.pt")
