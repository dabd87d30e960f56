"""Checkpoints: atomic save, Ctrl-C held back while one is written, load, RNG capture for exact resume, and a
compatibility check of hyperparameters."""
from __future__ import annotations

import contextlib
import os
import pickle
import random
import signal
import threading
from collections.abc import Iterator
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


@contextlib.contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block ends, then deliver it to the handler in place before.

    So a checkpoint written (and recorded as saved) inside it is complete before the interrupt goes on. Only the main
    thread receives signals and may set their handlers; elsewhere the block runs as it is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:  # None: not set by Python
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        signal.raise_signal(signal.SIGINT)


# The only globals a checkpoint may name besides torch's own: numpy arrays of numbers (the normalisation statistics
# in ``extra``, numpy's RNG state). Arrays pickled by numpy 1.x name the rebuilding function under its old module.
_RECONSTRUCT = np.array(0).__reduce__()[0]
_NUMERIC_DTYPES = list(dict.fromkeys(type(np.dtype(code)) for code in "?bhilqBHILQefd"))
_SAFE_GLOBALS = [(_RECONSTRUCT, "numpy._core.multiarray._reconstruct"),
                 (_RECONSTRUCT, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype, *_NUMERIC_DTYPES]
_SAFE_NAMES = {"numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct", "numpy.ndarray",
               "numpy.dtype", *(f"{t.__module__}.{t.__qualname__}" for t in _NUMERIC_DTYPES)}


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint without running code from it (tensors, plain data, numeric numpy arrays only)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        refused = _refused_globals(path)
        if refused or "add_safe_globals" in str(e):
            raise UserError(f"checkpoint {path} holds code or objects other than tensors and plain data "
                            f"({refused or _loader_reason(e)}); it was not loaded") from None
        raise UserError(f"checkpoint {path} is unreadable ({_loader_reason(e)}); delete it or pick another") from None
    except Exception as e:
        raise UserError(f"checkpoint {path} is unreadable ({type(e).__name__}: {e}); delete it or pick another") from e


def _refused_globals(path: Path) -> str:
    """The functions and classes the checkpoint's pickle names beyond the allowed ones (read, never run)."""
    try:
        return ", ".join(sorted(set(torch.serialization.get_unsafe_globals_in_checkpoint(path)) - _SAFE_NAMES))
    except Exception:  # not a zip checkpoint: the loader's own message says what it refused
        return ""


def _loader_reason(error: Exception) -> str:
    """The one informative sentence of the safe loader's long message."""
    text = str(error).split("WeightsUnpickler error:", 1)[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0].split(". ")[0] if lines else type(error).__name__


def trained_weights(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict to use a trained model with: its ``model`` weights, with the moving averages of its parameters
    in their place when the training kept them (``TrainConfig.ema_decay``), or the weights of its lowest validation
    loss when it kept those (``TrainConfig.keep_best``)."""
    return {**state["model"], **state.get("ema", {}), **state.get("best", {}).get("weights", {})}


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
