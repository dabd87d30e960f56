"""MidiMe (Dinculescu 2019, magenta-js ``midi_me.ts``): a small VAE of a trained model's latent codes, and the
personalised run dir that holds it.

The small VAE learns the posterior means of the user's song windows (an MLP z_base -> [1024, 256, 64] -> z of 4 and
back, for a base z of 256; squared error with unit variance + β·KL, Adam at 1e-3, full batch). Its prior draws,
decoded by its decoder, are latent codes of the base model: decoded by the frozen base decoder, they are samples
that sound like the songs. A personalised run dir holds ``personalised.pt`` (the small model and what it was made
from) and ``personalised.json`` (the same record, for people); the base model is not copied but named by its path
(relative to the personalised dir) and a digest of its weights, and opening the dir refuses a base that is missing
or changed. This module imports no other symbolic module but the latent helpers: ``symbolic.trained_model`` reads
these run dirs, ``symbolic.studies.personalised`` makes them.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from engine.atomic import write_json
from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.errors import UserError
from symbolic.models.latent import gaussian_kl, gaussian_posterior

PERSONALISED_NAME = "personalised.pt"
RECORD_NAME = "personalised.json"
BASE_CHECKPOINT = "checkpoint.pt"  # symbolic.trained_model.CHECKPOINT_NAME, which imports this module
FORMAT = 1


@dataclass
class MidiMeConfig:
    """The small VAE and its training; ``layers`` None is Magenta's [1024, 256, 64] (made for a base z of 256), or
    [4s, s, s/4] for a larger base z size s."""

    latent_size: int = 4
    layers: list[int] | None = None  # encoder widths, the decoder's mirrored
    beta: float = 1.0  # weight of the KL term
    steps: int = 300  # full-batch Adam steps
    learning_rate: float = 1e-3
    draws: int = 0  # posterior draws z = μ + σ·ε per window added to each step's batch (0: the means alone)

    def widths(self, input_size: int) -> list[int]:
        """The encoder's hidden widths for base latent codes of ``input_size``."""
        return self.layers or [4 * max(input_size, 256), max(input_size, 256), max(input_size, 256) // 4]

    def problems(self) -> list[str]:
        """What is wrong with these values, one line each."""
        found = [f"{name} must be at least {low}, got {getattr(self, name)}"
                 for name, low in (("latent_size", 1), ("steps", 1), ("draws", 0)) if getattr(self, name) < low]
        found += [f"{name} must be > 0, got {getattr(self, name)}"
                  for name in ("beta", "learning_rate") if not getattr(self, name) > 0]
        return found + ([f"layers must be positive widths, got {self.layers}"]
                        if self.layers is not None and (not self.layers or min(self.layers) < 1) else [])


def _mlp(widths: list[int]) -> nn.Sequential:
    """Linear + ReLU for each pair of consecutive widths."""
    return nn.Sequential(*(layer for a, b in zip(widths, widths[1:]) for layer in (nn.Linear(a, b), nn.ReLU())))


class MidiMe(nn.Module):
    """The small VAE of base latent codes [B, input_size]; ``sample(n)`` gives n base latent codes."""

    def __init__(self, input_size: int, config: MidiMeConfig):
        super().__init__()
        self.input_size, self.config = input_size, config
        widths = config.widths(input_size)
        self.encoder = _mlp([input_size, *widths])
        self.mu = nn.Linear(widths[-1], config.latent_size)
        self.sigma = nn.Linear(widths[-1], config.latent_size)
        self.decoder = nn.Sequential(_mlp([config.latent_size, *reversed(widths)]), nn.Linear(widths[0], input_size))

    def losses(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Batch means of the reconstruction's squared error / 2 (a unit-variance Gaussian) and of the KL, in nats."""
        z, mu, sigma = gaussian_posterior(self.encoder(x), self.mu, self.sigma)
        return 0.5 * (self.decoder(z) - x).square().sum(-1).mean(), gaussian_kl(mu, sigma).mean()

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """n base latent codes [n, input_size]: z drawn from N(0, I), decoded by the small decoder."""
        return self.decoder(torch.randn(n, self.config.latent_size, device=self.mu.weight.device))


def fit(means: Tensor, sigmas: Tensor, config: MidiMeConfig, seed: int = 0,
        progress: bool = True) -> tuple[MidiMe, dict[str, float]]:
    """A MidiMe trained on the posterior means [N, D] (and, with ``config.draws``, draws with scales ``sigmas``) of
    the song windows, seeded with ``seed``; with the last step's losses."""
    if problems := config.problems():
        raise UserError(f"personalise: {'; '.join(problems)}")
    torch.manual_seed(seed)
    model = MidiMe(means.shape[1], config).to(means.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    with tqdm(range(config.steps), desc="personalising", unit="step", disable=not progress, leave=False) as steps:
        for _ in steps:
            draws = [means + sigmas * torch.randn_like(sigmas) for _ in range(config.draws)]
            recon, kl = model.losses(torch.cat([means, *draws]))
            loss = recon + config.beta * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()
    return model, {"loss": loss.item(), "reconstruction": recon.item(), "kl": kl.item()}


@dataclass
class Personalised:
    """A personalised run dir as read back: the base run it builds on and the small model's saved state."""

    run_dir: Path
    base_dir: Path
    state: dict[str, Any]

    @staticmethod
    def read(run_dir: str | os.PathLike) -> Personalised | None:
        """The personalised run in ``run_dir``; None for any other folder; an error when its base run is gone."""
        path = Path(run_dir) / PERSONALISED_NAME
        if not path.is_file():
            return None
        state = load_checkpoint(path)
        if state.get("format") != FORMAT:
            raise UserError(f"{path}: not a personalised model of format {FORMAT}; run `midi personalise` again")
        base_dir = Path(run_dir) / state["base_run_dir"]
        if not (base_dir / BASE_CHECKPOINT).is_file():
            raise UserError(f"{run_dir}: its base run {os.path.normpath(base_dir)} is missing (no {BASE_CHECKPOINT}); "
                            "restore it or personalise another run")
        return Personalised(Path(run_dir), base_dir, state)

    def prior(self, base_digest: str, device: torch.device) -> MidiMe:
        """The small model (eval mode, on ``device``), after checking that the base has the weights it was made on."""
        if base_digest != self.state["base_weights_digest"]:
            raise UserError(f"{self.run_dir}: its base run {os.path.normpath(self.base_dir)} has changed since it "
                            "was personalised (other weights); run `midi personalise` again")
        model = MidiMe(self.state["input_size"], MidiMeConfig(**self.state["config"]))
        model.load_state_dict(self.state["model"])
        return model.to(device).eval()


def save_personalised(output_dir: str | os.PathLike, base_dir: str | os.PathLike, base_digest: str, model: MidiMe,
                      record: dict[str, Any]) -> list[Path]:
    """Write ``personalised.pt`` (the small model, the base's path and digest, ``record``) and ``personalised.json``
    (all but the weights) into ``output_dir``, atomically."""
    output_dir = Path(output_dir)
    if (output_dir / BASE_CHECKPOINT).exists():
        raise UserError(f"{output_dir}: holds a trained model ({BASE_CHECKPOINT}); personalise into another folder")
    about = {"format": FORMAT, "base_run_dir": os.path.relpath(Path(base_dir).resolve(), output_dir.resolve()),
             "base_weights_digest": base_digest, "input_size": model.input_size,
             "config": dataclasses.asdict(model.config), **record}
    paths = [output_dir / PERSONALISED_NAME, output_dir / RECORD_NAME]
    save_checkpoint(paths[0], {**about, "model": {k: v.cpu() for k, v in model.state_dict().items()}})
    write_json(paths[1], about)
    return paths
