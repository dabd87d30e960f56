"""Checkpoints: atomic save, load, RNG capture for exact resume, and a compatibility check of hyperparameters."""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from engine.atomic import atomic_path
from engine.errors import UserError


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` with torch.save to a temporary file, then rename it over ``path``."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, with a clear error if it is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    try:
        # weights_only=False: our checkpoints hold numpy RNG state and plain dicts that we wrote ourselves.
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:
        raise UserError(f"checkpoint {path} is unreadable ({type(e).__name__}: {e}); delete it or pick another") from e


def check_compatible(saved: Mapping[str, Any], current: Mapping[str, Any], keys: list[str], source: str) -> None:
    """Raise a UserError listing every shape-defining setting in ``keys`` that differs between runs."""
    diffs = [f"{k}: checkpoint has {saved.get(k)!r}, now {current.get(k)!r}"
             for k in keys if saved.get(k) != current.get(k)]
    if diffs:
        raise UserError(f"checkpoint {source} was made with other settings ({'; '.join(diffs)}); "
                        "use the same settings, or another checkpoint location to start afresh")


def rng_state() -> dict[str, Any]:
    """Every random generator's state, so a resumed run draws the same numbers as an uninterrupted one."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
