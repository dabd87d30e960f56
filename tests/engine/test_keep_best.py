"""TrainConfig.keep_best: the weights of the lowest validation loss are kept, saved, resumed and handed back."""
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from engine.checkpoint import load_checkpoint, trained_weights
from engine.metrics import evaluate
from engine.trainer import TrainConfig, Trainer
from tests.engine.test_trainer import Regressor, data


def unlike_training(n=16, seed=1):
    """Validation music the training data contradicts (the opposite target): its loss rises once the model learns."""
    x, y = data(n, seed).tensors
    return TensorDataset(x, -y)


def train(tmp_path, name="run", val=None, **overrides):
    torch.manual_seed(123)
    model = Regressor()
    settings = dict(batch_size=8, learning_rate=1e-2, progress=False, tensorboard=False, log_every=4, keep_best=True)
    config = TrainConfig(run_dir=str(tmp_path / name), **{**settings, **overrides})
    trainer = Trainer(model, data(), unlike_training() if val is None else val, config)
    return model, trainer.fit()


def val_loss(model, val) -> float:
    return evaluate(model, DataLoader(val, batch_size=8), torch.device("cpu"))["loss"]


def test_the_lowest_validation_loss_is_kept_saved_and_handed_back(tmp_path):
    model, rows = train(tmp_path, epochs=5, ema_decay=0.9)
    losses = [row["val/loss"] for row in rows if "val/loss" in row]
    lowest = min(range(len(losses)), key=losses.__getitem__)
    assert lowest < len(losses) - 1  # the validation loss rose: the last weights are not the best
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["best"]["epoch"] == lowest + 1 and state["best"]["metrics"]["val/loss"] == losses[lowest]
    assert all(torch.equal(trained_weights(state)[name], value) for name, value in model.state_dict().items())
    assert val_loss(model, unlike_training()) == pytest.approx(losses[lowest], rel=1e-6)
    assert not torch.equal(state["model"]["net.0.weight"], model.net[0].weight)  # training went on from the last


def test_resuming_keeps_the_best_so_far_exactly(tmp_path):
    straight, _ = train(tmp_path, "straight", epochs=5)
    train(tmp_path, "split", epochs=1)
    resumed, _ = train(tmp_path, "split", epochs=5)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    straight_state = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    split_state = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert all(torch.equal(straight_state["model"][k], v) for k, v in split_state["model"].items())


def test_a_resumed_run_measures_the_kept_weights_on_its_own_validation_data(tmp_path):
    train(tmp_path, epochs=2)
    kept = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["best"]
    other = unlike_training(16, seed=7)  # e.g. files were added: the old loss is no longer comparable
    model, rows = train(tmp_path, val=other, epochs=3)
    best = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["best"]
    assert best["step"] == kept["step"]  # still the lowest, now measured on the other data
    assert best["metrics"]["val/loss"] != kept["metrics"]["val/loss"]
    assert best["metrics"]["val/loss"] == pytest.approx(val_loss(model, other), rel=1e-6)
    assert best["metrics"]["val/loss"] < min(row["val/loss"] for row in rows if "val/loss" in row)


def test_without_validation_or_without_the_option_the_last_weights_stay(tmp_path):
    model, _ = train(tmp_path, "plain", epochs=3, keep_best=False)
    assert "best" not in load_checkpoint(tmp_path / "plain" / "checkpoint.pt")
    last, _ = train(tmp_path, "none", val=TensorDataset(torch.empty(0, 4), torch.empty(0, 1)), epochs=3)
    assert "best" not in load_checkpoint(tmp_path / "none" / "checkpoint.pt")
    for a, b in zip(model.state_dict().values(), last.state_dict().values()):
        assert torch.equal(a, b)


def test_a_lower_loss_at_the_extra_last_validation_is_saved_with_the_rng_of_the_save_before_it(tmp_path):
    ordinary = data(16, seed=1)  # validation that keeps improving: the extra last one (step 10) is the lowest
    train(tmp_path, "kept", val=ordinary, max_steps=10, val_every=4)
    train(tmp_path, "plain", val=ordinary, max_steps=10, val_every=4, keep_best=False)
    kept, plain = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("kept", "plain"))
    assert kept["best"]["step"] == kept["step"] == 10
    assert torch.equal(kept["rng"]["torch"], plain["rng"]["torch"])  # resuming either draws the same
    assert all(torch.equal(kept["model"][k], v) for k, v in plain["model"].items())
