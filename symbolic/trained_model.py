"""A trained model of any family loaded from its run dir (Magenta's TrainedModel): MIDI in, pretty_midi out.

A run dir holds the engine checkpoint, whose ``hparams`` carry the config name, its family and the full config dict,
so the model is rebuilt from the run dir alone (a checkpoint without a family is a MusicVAE's, from before there
were others). Operations a family does not have (interpolating with a language model) fail with one line. A MIDI
file is encoded through the config's converter; a file may hold several windows (e.g. a song gives one 2-bar window
per bar), and encoding uses the first one, saying so.
"""
from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import torch
from tqdm import tqdm

from engine.checkpoint import load_checkpoint, trained_weights
from engine.device import select_device
from engine.errors import UserError
from symbolic import latent_prior
from symbolic.configs import ModelConfig, config_from_dict
from symbolic.data.chords import parse_progression
from symbolic.data.converters import converter_from_spec
from symbolic.data.midi_io import read_score
from symbolic.data.prepare import PrepareResult, load_or_prepare
from symbolic.data.splits import EXAMPLE_SPLITS, SPLITS
from symbolic.defaults import DEFAULT_TEMPERATURE
from symbolic.models.families import build_model, require
from symbolic.models.latent import posterior_path
from symbolic.personalise import Personalised

CHECKPOINT_NAME = "checkpoint.pt"
PREPARED_DIR = "prepared"  # examples converted for the run's model, one cached dataset per examples folder
SAMPLE_BATCH_SIZE = 256  # prior samples decoded at once


def run_hparams(config_name: str, config: ModelConfig) -> dict[str, Any]:
    """What a run's checkpoint stores as ``hparams``: enough to rebuild the model."""
    return {"config_name": config_name, "family": config.family, "config": config.to_dict()}


def config_from_hparams(hparams: Any, source: str) -> tuple[str, ModelConfig]:
    """The config name and config stored by ``run_hparams`` in the checkpoint ``source``."""
    if not isinstance(hparams, dict) or not isinstance(hparams.get("config"), dict):
        raise UserError(f"{source}: not a checkpoint of a MIDI model (its hparams hold no model config)")
    try:
        return hparams.get("config_name", "unnamed"), config_from_dict(hparams.get("family"), hparams["config"])
    except UserError as e:
        raise UserError(f"{source}: {e}") from e


def check_temperature(temperature: float) -> None:
    """Sampling temperatures are >= 0 (0 takes the most likely class at every step)."""
    if temperature < 0:
        raise UserError(f"temperature must be >= 0, got {temperature}")


class TrainedModel:
    """The model of a run dir, in eval mode, with its converter; every method is inference only."""

    def __init__(self, run_dir: str | os.PathLike, device: str = "auto"):
        self.run_dir = Path(run_dir)
        self.personalised = Personalised.read(self.run_dir)  # None unless `midi personalise` wrote run_dir
        path = (self.personalised.base_dir if self.personalised else self.run_dir) / CHECKPOINT_NAME
        if not path.is_file():
            raise UserError(f"{self.run_dir}: no trained model here (no {CHECKPOINT_NAME}); "
                            "train one with `music-composer midi train`")
        self.device = select_device(device)
        state = load_checkpoint(path, map_location=self.device)
        self.config_name, self.config = config_from_hparams(state.get("hparams"), str(path))
        self.step: int = state["step"]
        self.model = build_model(self.config).to(self.device)
        try:
            self.model.load_state_dict(trained_weights(state))
        except (RuntimeError, KeyError) as e:
            raise UserError(f"{path}: the weights do not fit its own config ({e})") from e
        self.model.eval()
        self.converter = converter_from_spec(self.config.data)
        # the Gaussian fitted to the aggregate posterior after training (symbolic.latent_prior); None: N(0, I)
        self.fitted_prior = (latent_prior.read(path.parent, self.weights_digest(), self.device)
                             if (path.parent / latent_prior.FILE_NAME).is_file() else None)  # no digest without one
        # prior draws go through a personalised run's small model, else the fitted prior; None: the family's own
        self.prior = self.personalised.prior(self.weights_digest(), self.device) if self.personalised \
            else self.fitted_prior

    def weights_digest(self) -> str:
        """A digest of the model's weights, to key caches of what it computed (a retrained model gets another)."""
        digest = hashlib.blake2b(digest_size=16)
        for name, tensor in self.model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    @property
    def description(self) -> str:
        """E.g. "2-bar melody" for messages."""
        return self.config.description

    def require(self, capability: str, command: str) -> None:
        """A one-line error when this run's model cannot do ``capability``, which ``command`` needs."""
        require(self.config, self.config_name, capability, command)

    # ------------------------------------------------------------------------------------------- inputs
    def windows(self, midi_path: str | os.PathLike) -> np.ndarray:
        """Every window [N, T, n_tracks] the model's converter finds in one MIDI file; an error when none."""
        result = self.converter.encode(read_score(midi_path), str(midi_path))
        if not len(result.windows):
            raise UserError(f"{midi_path}: no {self.description} window for this model ({result.reason})")
        return result.windows

    def first_window(self, midi_path: str | os.PathLike) -> np.ndarray:
        """The first window [T, n_tracks] of one MIDI file, with a note on stderr when there are more."""
        windows = self.windows(midi_path)
        if len(windows) > 1:
            print(f"{midi_path}: {len(windows)} {self.description} windows; using the first", file=sys.stderr)
        return windows[0]

    def example_windows(self, examples_path: str | os.PathLike, split: str = "all",
                        progress: bool = True) -> np.ndarray:
        """The windows [N, T, n_tracks] of one split (or "all") of a MIDI folder or prepared dataset.

        A MIDI folder is prepared once into the run dir's cache and brought up to date on later calls. One split is
        memory-mapped read-only (read from disk as it is used, whatever its size); "all" is read into memory.
        """
        return self._examples(examples_path, split, progress)[0]

    def example_windows_and_sources(self, examples_path: str | os.PathLike, split: str = "all",
                                    progress: bool = True) -> tuple[np.ndarray, list[str]]:
        """``example_windows`` and, for each window, the path (relative to the MIDI folder) of its file."""
        windows, result, names = self._examples(examples_path, split, progress)
        return windows, [rel for name in names for rel in result.window_sources(name)]

    def _examples(self, examples_path: str | os.PathLike, split: str,
                  progress: bool) -> tuple[np.ndarray, PrepareResult, tuple[str, ...]]:
        """The windows of ``split``, the prepared dataset they come from and the splits they concatenate."""
        if split not in EXAMPLE_SPLITS:
            raise UserError(f"unknown split {split!r}; choose one of {', '.join(EXAMPLE_SPLITS)}")
        result = load_or_prepare(self.converter, examples_path, self.run_dir / PREPARED_DIR, progress=progress)
        names = SPLITS if split == "all" else (split,)
        arrays = [np.load(result.split_path(name), mmap_mode="r") for name in names]
        windows = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        if not len(windows):
            detail = result.note or f"see {result.output_dir / 'prepared.json'} for skipped files"
            hint = "; use split all for every file" if split != "all" else ""
            raise UserError(f"{examples_path}: no {self.description} windows in split {split} ({detail}){hint}")
        return windows, result, names

    # ------------------------------------------------------------------------------------- latent space
    def encode_windows(self, windows: np.ndarray, batch_size: int = 256,
                       progress: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z, posterior mean μ and scale σ (Magenta's order), each [N, z_size], of windows [N, T, n_tracks]."""
        self.require("encode", "encoding")
        parts = []
        with torch.no_grad():
            for start in tqdm(range(0, len(windows), batch_size), desc="encoding", unit="batch",
                              disable=not progress, leave=False):
                x = torch.from_numpy(np.asarray(windows[start:start + batch_size], np.int64)).to(self.device)
                parts.append(self.model.encode(x))
        return tuple(torch.cat(tensors) for tensors in zip(*parts))

    def encode(self, midi_paths: Sequence[str | os.PathLike]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z, μ and σ [len(midi_paths), z_size] of the first window of each MIDI file."""
        return self.encode_windows(np.stack([self.first_window(path) for path in midi_paths]))

    def decode_windows(self, z: torch.Tensor, temperature: float = DEFAULT_TEMPERATURE,
                       chords: np.ndarray | None = None) -> np.ndarray:
        """Windows [N, T, n_tracks] decoded from latent codes z [N, z_size] (a chord-conditioned model's under
        ``chords``, the triad class of every step of every window [N, T]; None: no chord)."""
        self.require("encode", "decoding latent codes")
        check_temperature(temperature)
        given = () if chords is None else (torch.from_numpy(np.asarray(chords, np.int64)).to(self.device),)
        decoded = self.model.decode(z.to(self.device), self.config.seq_len, temperature, *given)
        return decoded.cpu().numpy().astype(self.converter.dtype)

    # ------------------------------------------------------------------------------------------- chords
    @property
    def chord_conditioned(self) -> bool:
        """Whether the model decodes under a chord at every step (cat-mel_2bar_med_chords)."""
        return bool(getattr(self.config, "chord_depth", 0))

    def window_chords(self, windows: np.ndarray) -> np.ndarray | None:
        """The chord track [N, T] of a chord-conditioned model's windows (None for other models)."""
        return np.asarray(windows)[..., -1] if self.chord_conditioned else None

    def progression(self, text: str) -> tuple[np.ndarray, int]:
        """A progression such as "C G Am F" (one chord per ``chords_per_bar`` of a bar) as the triad classes of the
        steps of the model's windows [W, T], the last chord held to fill the last one, and its length in steps."""
        if not self.chord_conditioned:
            raise UserError(f"--chords: {self.config_name} is not chord-conditioned (cat-mel_2bar_med_chords is)")
        steps = np.repeat(parse_progression(text), self.converter.steps_per_chord)
        length = self.config.seq_len
        padded = np.concatenate([steps, np.full(-len(steps) % length, steps[-1], steps.dtype)])
        return padded.reshape(-1, length), len(steps)

    def decode_progression(self, z: torch.Tensor, temperature: float, rows: np.ndarray, steps: int) -> np.ndarray:
        """Each latent code [N, z_size] decoded under every window of a progression (``progression``) and the
        windows stitched: [N, steps, n_tracks]."""
        decoded = self.decode_windows(z.repeat_interleave(len(rows), 0), temperature, np.tile(rows, (len(z), 1)))
        return decoded.reshape(len(z), -1, decoded.shape[-1])[:, :steps]

    def fit_latent_prior(self, windows: np.ndarray, seed: int = 0, progress: bool = False) -> Path:
        """Fit the Gaussian that prior samples are drawn from to the posteriors of (at most
        ``latent_prior.MAX_WINDOWS``, drawn with ``seed``, of) ``windows`` [N, T, n_tracks], the training split, and
        save it in the run dir; later loads of the run sample from it."""
        self.require("encode", "fitting a latent prior")
        if len(windows) > latent_prior.MAX_WINDOWS:
            chosen = np.random.default_rng(seed).choice(len(windows), latent_prior.MAX_WINDOWS, replace=False)
            windows = windows[np.sort(chosen)]
        _, mu, sigma = self.encode_windows(windows, progress=progress)
        self.fitted_prior = latent_prior.fit(mu, sigma)
        if not self.personalised:
            self.prior = self.fitted_prior
        return latent_prior.save(self.run_dir, self.fitted_prior, self.weights_digest(), len(windows))

    def prior_z(self, n: int) -> torch.Tensor:
        """n latent codes from the prior: the personalised run's, else the fitted one, else N(0, I)."""
        return self.prior.sample(n) if self.prior is not None else torch.randn(n, self.config.z_size,
                                                                               device=self.device)

    def to_midi(self, windows: np.ndarray) -> list[pretty_midi.PrettyMIDI]:
        """One MIDI object per window [N, T, n_tracks]."""
        return [self.converter.decode(window) for window in windows]

    def decode(self, z: torch.Tensor, temperature: float = DEFAULT_TEMPERATURE) -> list[pretty_midi.PrettyMIDI]:
        """One MIDI object per latent code [N, z_size]."""
        return self.to_midi(self.decode_windows(z, temperature))

    # ----------------------------------------------------------------------------------------- generate
    def sample(self, n: int, temperature: float = DEFAULT_TEMPERATURE,
               chords: str | None = None) -> list[pretty_midi.PrettyMIDI]:
        """n sequences: decoded from latent codes drawn from the prior (N(0, I), or a personalised run's small model),
        or a language model run freely; a chord-conditioned model's under the progression ``chords`` ("C G Am F", any
        length: one latent code per sample decoded under each of its windows, stitched)."""
        return [midi for batch in self.sample_batches(n, temperature, chords=chords) for midi in batch]

    def sample_batches(self, n: int, temperature: float = DEFAULT_TEMPERATURE, batch_size: int = SAMPLE_BATCH_SIZE,
                       chords: str | None = None) -> Iterator[list[pretty_midi.PrettyMIDI]]:
        """``sample`` in batches of up to ``batch_size``, decoded as they are consumed (bounded memory for any n)."""
        if n < 1:
            raise UserError(f"the number of samples must be at least 1, got {n}")
        check_temperature(temperature)
        sizes = [min(batch_size, n - start) for start in range(0, n, batch_size)]
        if chords is not None:
            rows, steps = self.progression(chords)
            return (self.to_midi(self.decode_progression(self.prior_z(size), temperature, rows, steps))
                    for size in sizes)
        if self.chord_conditioned:
            raise UserError(f"{self.config_name} is chord-conditioned: give the chords to play over, one per half "
                            f"bar, e.g. --chords \"C G Am F\"")
        return (self.to_midi(self.sample_windows(size, temperature)) for size in sizes)

    def sample_windows(self, n: int, temperature: float = DEFAULT_TEMPERATURE,
                       chords: np.ndarray | None = None) -> np.ndarray:
        """n windows [n, ...] of the converter's dtype sampled from the model (prior, or the LM run freely); a
        chord-conditioned model's under ``chords`` [n, T] (see ``decode_windows``)."""
        if chords is not None:
            return self.decode_windows(self.prior_z(n), temperature, chords)
        with torch.no_grad():
            if self.prior is None:
                windows = self.model.sample(n, self.config.seq_len, temperature)
            else:
                windows = self.model.decode(self.prior.sample(n), self.config.seq_len, temperature)
        return windows.cpu().numpy().astype(self.converter.dtype)

    def interpolate(self, midi_a: str | os.PathLike, midi_b: str | os.PathLike, n: int,
                    temperature: float = DEFAULT_TEMPERATURE,
                    chords: str | None = None) -> list[pretty_midi.PrettyMIDI]:
        """n sequences along the slerp from the posterior mean of A's first window to B's, endpoints included; a
        chord-conditioned model's each under the progression ``chords`` (None: A's chords)."""
        self.require("interpolate", "interpolate")
        if n < 2:
            raise UserError(f"an interpolation needs at least 2 steps (its endpoints), got {n}")
        check_temperature(temperature)
        progression = None if chords is None else self.progression(chords)
        a, b = (torch.from_numpy(self.first_window(p).astype(np.int64)).to(self.device) for p in (midi_a, midi_b))
        if progression is not None:
            with torch.no_grad():
                z = posterior_path(self.model.encode, a, b, n)
            return self.to_midi(self.decode_progression(z, temperature, *progression))
        decoded = self.model.interpolate(a, b, n, temperature)
        return self.to_midi(decoded.cpu().numpy().astype(self.converter.dtype))

    def reconstruct(self, midi_path: str | os.PathLike,
                    temperature: float = DEFAULT_TEMPERATURE) -> pretty_midi.PrettyMIDI:
        """The first window of a MIDI file decoded again from its posterior mean."""
        self.require("reconstruct", "reconstruct")
        check_temperature(temperature)
        x = torch.from_numpy(self.first_window(midi_path)[None].astype(np.int64)).to(self.device)
        return self.to_midi(self.model.reconstruct(x, temperature).cpu().numpy().astype(self.converter.dtype))[0]
