"""Latent-space pieces shared by the recurrent VAEs (MusicVAE, the VRASH note models).

The posterior is N(μ, σ²) with μ = Linear(h) and σ = softplus(Linear(h)); the prior is N(0, I). The KL term is
penalised only above ``free_bits`` bits per sequence and weighted by β = (1 - beta_rate**step) * max_beta.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LN2 = math.log(2.0)


def gaussian_kl(mu: Tensor, sigma: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) in nats per sequence: [B, z_size] -> [B]."""
    return (0.5 * (mu ** 2 + sigma ** 2) - torch.log(sigma) - 0.5).sum(dim=-1)


def kl_above_free_bits(kl: Tensor, free_bits: float) -> Tensor:
    """The KL cost left after `free_bits` bits per sequence go unpenalised: max(KL - free_bits·ln 2, 0)."""
    return (kl - free_bits * LN2).clamp(min=0.0)


def gaussian_posterior(h: Tensor, mu_layer: nn.Module, sigma_layer: nn.Module) -> tuple[Tensor, Tensor, Tensor]:
    """z = μ + σ·ε, μ = mu_layer(h) and σ = softplus(sigma_layer(h)) (Magenta's order), each [B, z_size].

    μ and σ are float32 even under autocast: the KL term needs the precision.
    """
    mu = mu_layer(h).float()
    sigma = F.softplus(sigma_layer(h).float())
    return mu + sigma * torch.randn_like(sigma), mu, sigma


def posterior_path(encode: Callable[[Tensor], tuple[Tensor, Tensor, Tensor]], x1: Tensor, x2: Tensor,
                   n: int) -> Tensor:
    """n latent codes [n, D] along the slerp from x1's posterior mean to x2's, both endpoints included."""
    _, mu, _ = encode(torch.stack([x1, x2]))
    return slerp(mu[0], mu[1], torch.linspace(0.0, 1.0, n, device=mu.device))


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between vectors a and b [D] at fractions t [n] -> [n, D]."""
    omega = torch.arccos(F.cosine_similarity(a, b, dim=0).clamp(-1.0, 1.0))
    t = t.unsqueeze(1)
    if torch.sin(omega) < 1e-6:  # (anti)parallel: the great circle is undefined, interpolate linearly
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
