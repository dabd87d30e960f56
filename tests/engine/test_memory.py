"""The memory estimate before the first step, and training in micro-batches: the same weights as whole batches,
the micro-batch chosen from the free memory, a model that cannot fit refused in one line."""
import pytest
import torch
from torch import nn

from engine import memory
from engine.errors import UserError
from engine.step import StepOutput
from engine.trainer import TrainConfig, Trainer
from tests.engine.test_trainer import data, train


class Linear(nn.Module):
    """A regressor without dropout, so that whole batches and micro-batches draw nothing random."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))

    def training_loss(self, batch, step):
        x, y = batch
        mse = ((self.net(x) - y) ** 2).mean()
        return StepOutput(loss=mse, metrics={"mse": mse}, count=len(x))


def fit(tmp_path, name, **overrides):
    torch.manual_seed(0)
    model = Linear()
    settings = dict(batch_size=16, epochs=2, learning_rate=1e-2, progress=False, tensorboard=False)
    trainer = Trainer(model, data(), None, TrainConfig(run_dir=str(tmp_path / name), **{**settings, **overrides}))
    rows = trainer.fit()
    return model, rows, trainer


@pytest.mark.parametrize("micro_batch", [4, 5])  # 5: micro-batches of 5, 5, 5 and 1 make each batch of 16
def test_micro_batches_give_the_weights_and_metrics_of_whole_batches(tmp_path, micro_batch):
    whole, whole_rows, _ = fit(tmp_path, "whole", micro_batch=16)
    parts, parts_rows, trainer = fit(tmp_path, "parts", micro_batch=micro_batch)
    assert trainer.micro_batch == micro_batch and trainer.step == 8
    for a, b in zip(whole.state_dict().values(), parts.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for row, part_row in zip(whole_rows, parts_rows):
        assert part_row["train/loss"] == pytest.approx(row["train/loss"], rel=1e-5)
        assert part_row["train/grad_norm"] == pytest.approx(row["train/grad_norm"], rel=1e-4)


def test_the_estimate_counts_what_autograd_saves_per_example():
    layer = nn.Linear(1000, 1000)
    estimate = memory.estimate(layer, lambda n: layer(torch.randn(n, 1000)).tanh().sum(), torch.device("cpu"))
    # per example: the linear's input and the tanh's output, 1000 floats each (the weights are counted apart)
    assert estimate.per_example == int(memory.ACTIVATION_MARGIN * 2 * 1000 * 4)
    weights = 1000 * 1001 * 4
    assert estimate.fixed == 4 * weights  # gradients, Adam's moments, the update; no activations without examples


def test_a_batch_that_does_not_fit_trains_in_micro_batches_that_do(tmp_path, monkeypatch, capsys):
    real = memory.estimate

    def tight(*args, **kwargs):  # free memory for the fixed part and 6 examples, once the share is taken
        e = real(*args, **kwargs)
        return memory.Estimate(e.fixed, e.per_example, int((e.fixed + 6.5 * e.per_example) / memory.FREE_FRACTION))

    monkeypatch.setattr(memory, "estimate", tight)
    whole, _, _ = fit(tmp_path, "whole", micro_batch=16)
    parts, _, trainer = fit(tmp_path, "parts")
    assert trainer.micro_batch == 6
    assert "each step accumulates 3 micro-batches of up to 6 examples" in capsys.readouterr().out
    for a, b in zip(whole.state_dict().values(), parts.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_model_that_cannot_train_one_example_is_refused_before_any_step(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "free_bytes", lambda device: 1000)
    with pytest.raises(UserError, match=r"needs about .* to train even one example at a time .* has 0.0 GB free"):
        fit(tmp_path, "run")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_the_estimate_changes_nothing_the_run_computes(tmp_path):
    """Estimating runs examples through the model (here one with dropout): the random draws and the buffers are
    put back as they were."""
    given, _, _ = train(tmp_path, "given", epochs=2, micro_batch=8)
    estimated, _, trainer = train(tmp_path, "estimated", epochs=2)
    assert trainer.micro_batch == 8  # a tiny model fits
    for a, b in zip(given.state_dict().values(), estimated.state_dict().values()):
        assert torch.equal(a, b)


def test_the_free_memory_of_this_machine_is_known_on_linux():
    free = memory.free_bytes(torch.device("cpu"))
    assert free is None or free > 0
