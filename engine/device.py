"""Device choice: CUDA when present, CPU otherwise, or what the user asked for (with a clear error if absent); its
autocast dtype; moving a batch onto it."""
from __future__ import annotations

from typing import Any

import torch

from engine.errors import UserError


def select_device(name: str = "auto") -> torch.device:
    """Resolve ``auto``/``cpu``/``cuda``/``cuda:N``/``mps`` to an available torch device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise UserError(f"unknown device {name!r} (use auto, cpu, mps, cuda or cuda:N)") from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device {name!r} requested but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' requested but it is not available on this machine")
    return device


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for ``precision`` ('auto', 'bf16', 'fp32') on ``device``; None means full precision."""
    if precision not in ("auto", "bf16", "fp32"):
        raise UserError(f"unknown precision {precision!r} (use auto, bf16 or fp32)")
    if precision == "fp32":
        return None
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if precision == "bf16":
        raise UserError(f"bf16 was requested but {device} does not support it; use --precision fp32")
    return None  # 'auto' on CPU: bf16 autocast is slower than fp32 for small recurrent models


def to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors (also inside lists, tuples and dicts) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
