"""The Gaussian that a trained MusicVAE's prior samples are drawn from: fitted to its aggregate posterior.

A VAE trained for minutes on a CPU does not pull its posteriors' mixture (the aggregate posterior) onto N(0, I):
codes drawn from N(0, I) then land where the decoder never trained, and prior samples leap and leave the key where
reconstructions do not. After training, a full-covariance Gaussian is fitted to the codes of the training windows
(the mean of their posterior means; the covariance of the means plus their mean variance), and prior samples are
drawn from it: ex-post density estimation (Ghosh et al., "From variational to deterministic autoencoders", 2020).
Measured in docs/midi-models.md; a run without the file samples N(0, I) as before.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from engine.checkpoint import load_checkpoint, save_checkpoint

FILE_NAME = "latent_prior.pt"
FORMAT = 1
MAX_WINDOWS = 8192  # training windows encoded for the fit: enough for a 512-dim covariance, seconds on a CPU
JITTER = 1e-5  # added to the covariance's diagonal, so its Cholesky factor exists for rank-poor fits


@dataclass
class LatentPrior:
    """N(mean, L Lᵀ) over the latent codes of one model; ``sample(n)`` gives n codes [n, z_size]."""

    mean: Tensor
    scale_tril: Tensor

    def sample(self, n: int) -> Tensor:
        return self.mean + torch.randn(n, len(self.mean), device=self.mean.device) @ self.scale_tril.T

    def to(self, device: torch.device) -> LatentPrior:
        return LatentPrior(self.mean.to(device), self.scale_tril.to(device))

    def summary(self) -> dict[str, float]:
        """Its mean and per-dimension spread, beside N(0, I)'s 0 and 1."""
        std = self.scale_tril.pow(2).sum(1).sqrt()
        return {"mean_abs_mean": self.mean.abs().mean().item(), "mean_std": std.mean().item(),
                "min_std": std.min().item(), "max_std": std.max().item()}


def fit(mu: Tensor, sigma: Tensor) -> LatentPrior:
    """The Gaussian of the mixture of posteriors N(μ_i, σ_i²) [N, z_size] (its mean and full covariance)."""
    mu, variance = mu.double(), sigma.double().pow(2)
    mean = mu.mean(0)
    centred = mu - mean
    covariance = centred.T @ centred / len(mu) + torch.diag(variance.mean(0) + JITTER)
    return LatentPrior(mean.float(), torch.linalg.cholesky(covariance).float())


def save(run_dir: str | os.PathLike, prior: LatentPrior, weights_digest: str, windows: int) -> Path:
    """Write the fit into ``run_dir`` atomically, with the digest of the weights it was fitted to."""
    path = Path(run_dir) / FILE_NAME
    save_checkpoint(path, {"format": FORMAT, "weights_digest": weights_digest, "windows": windows,
                           "mean": prior.mean.cpu(), "scale_tril": prior.scale_tril.cpu()})
    return path


def read(run_dir: str | os.PathLike, weights_digest: str, device: torch.device) -> LatentPrior | None:
    """The run's fitted prior on ``device``; None when it has none, or (said on stderr) when the fit belongs to other
    weights, e.g. training that stopped between its last checkpoint and the fit."""
    path = Path(run_dir) / FILE_NAME
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    if state.get("weights_digest") != weights_digest:
        print(f"{path}: fitted to other weights than the run's checkpoint; sampling z from N(0, I) "
              "(training the run again refits it)", file=sys.stderr)
        return None
    return LatentPrior(state["mean"], state["scale_tril"]).to(device)
