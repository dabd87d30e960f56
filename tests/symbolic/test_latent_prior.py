"""The Gaussian fitted to a MusicVAE's aggregate posterior: it matches a known mixture, training writes it, sampling
draws from it, and a fit that belongs to other weights is ignored with a note."""
import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from symbolic import latent_prior
from symbolic.trained_model import CHECKPOINT_NAME, TrainedModel
from tests.symbolic.test_music_vae_commands import TINY, examples, midi, run  # noqa: F401


def test_the_fit_is_the_mixture_of_the_posteriors_mean_and_covariance():
    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(4, 4, generator=g)
    means = torch.randn(20000, 4, generator=g) @ mixing.T + torch.tensor([1.0, -2.0, 0.0, 3.0])
    sigmas = torch.full_like(means, 0.5)  # each posterior N(μ_i, 0.5²): the mixture adds 0.25 to every variance
    prior = latent_prior.fit(means, sigmas)
    expected = mixing @ mixing.T + 0.25 * torch.eye(4)
    assert prior.mean.tolist() == pytest.approx([1.0, -2.0, 0.0, 3.0], abs=0.05)
    assert (prior.scale_tril @ prior.scale_tril.T).numpy() == pytest.approx(expected.numpy(), abs=0.1)
    drawn = prior.sample(20000)
    assert torch.cov(drawn.T).numpy() == pytest.approx(expected.numpy(), abs=0.15)


def test_a_rank_poor_fit_still_samples():
    prior = latent_prior.fit(torch.ones(3, 16), torch.zeros(3, 16))  # three identical, certain codes in 16-D
    assert torch.isfinite(prior.sample(5)).all()


def test_training_fits_the_prior_and_sampling_draws_from_it(run):
    model = TrainedModel(run, "cpu")
    saved = load_checkpoint(run / latent_prior.FILE_NAME)
    assert saved["weights_digest"] == model.weights_digest() and saved["windows"] > 0
    assert model.prior is model.fitted_prior is not None
    model.fitted_prior.mean.fill_(100.0)  # a prior far from N(0, I): prior_z must come from it
    assert model.prior_z(64).mean().item() > 90
    assert len(model.sample(3, 0.5)) == 3


def test_a_fit_of_other_weights_is_ignored_with_a_note(run, tmp_path, capsys):
    state = load_checkpoint(run / CHECKPOINT_NAME)
    for name, tensor in state["model"].items():
        state["model"][name] = tensor + 0.01  # other weights, as after training that stopped before refitting
    save_checkpoint(tmp_path / CHECKPOINT_NAME, state)
    (tmp_path / latent_prior.FILE_NAME).write_bytes((run / latent_prior.FILE_NAME).read_bytes())
    model = TrainedModel(tmp_path, "cpu")
    assert model.prior is None and "fitted to other weights" in capsys.readouterr().err
    assert np.asarray(model.sample_windows(2, 0.5)).shape[0] == 2
