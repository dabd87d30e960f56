"""Will a training fit in memory? An estimate made before the first step, and the micro-batch that fits.

What a training adds to the memory once its model is on the device: gradients, Adam's two moments and the
update's temporaries (four times the weights), a weight average if one is kept, and the activations the forward
pass saves for the backward one. The activations are measured, not guessed: a forward pass on one and on two
examples counts the bytes of every tensor autograd saves (``torch.autograd.graph.saved_tensors_hooks``), which
gives the bytes per example of a batch. Every family's windows have one length, so two examples stand for all.
The total is compared with the memory free on the device: RAM (MemAvailable and the cgroup's limit) on a CPU,
``torch.cuda.mem_get_info`` on a GPU.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

GIB = 2 ** 30
ACTIVATION_MARGIN = 1.5  # the backward pass's own buffers and the allocator's slack, measured on hierdec-mel_16bar
FREE_FRACTION = 0.85  # of the free memory a training may plan to use; the rest stays for the OS and other work


@dataclass(frozen=True)
class Estimate:
    """Bytes a training adds to the device: ``fixed`` whatever the batch, ``per_example`` for each example of a
    (micro-)batch; ``free`` bytes are there to take (None: unknown)."""

    fixed: int
    per_example: int
    free: int | None

    def needs(self, batch: int) -> int:
        return self.fixed + self.per_example * batch

    def largest_batch(self) -> int:
        """The largest batch whose estimate fits in the share of the free memory a training may use (0: none)."""
        if self.free is None:
            raise ValueError("the free memory is unknown")
        room = self.free * FREE_FRACTION - self.fixed
        return max(int(room // max(self.per_example, 1)), 0)


def gib(size: int) -> str:
    return f"{size / GIB:.1f} GB"


def free_bytes(device: torch.device) -> int | None:
    """Memory free for this process on ``device``; None where it cannot be told."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type != "cpu":
        return None
    available = _meminfo_available()
    limit = _cgroup_room()
    if available is None:
        return limit
    return min(available, limit) if limit is not None else available


def _meminfo_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (Linux)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def _cgroup_room() -> int | None:
    """What this process's cgroup (v2) may still take: memory.max less memory.current; None without a limit."""
    try:
        cgroup = Path("/proc/self/cgroup").read_text().splitlines()[0].split(":", 2)[2]
        folder = Path("/sys/fs/cgroup") / cgroup.lstrip("/")
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((folder / "memory.current").read_text())
    except (OSError, ValueError, IndexError):
        return None


def saved_bytes(forward: Callable[[], object], exclude: set[int]) -> int:
    """Bytes of the tensors autograd saves for the backward pass while ``forward`` runs, each storage once and none
    of those in ``exclude`` (data pointers of the weights, which are counted apart)."""
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in exclude:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        forward()
    return sum(seen.values())


def estimate(model: nn.Module, loss_of: Callable[[int], object], device: torch.device,
             weight_copies: int = 0) -> Estimate:
    """What training ``model`` adds to ``device``'s memory; ``loss_of(n)`` runs the training forward pass on a
    batch of ``n`` examples (callers keep it from touching the random generators and the model's buffers);
    ``weight_copies``: how many more copies of the weights training keeps (an average, the best so far)."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    exclude = {p.untyped_storage().data_ptr() for p in model.parameters()}
    one, two = (saved_bytes(lambda n=n: loss_of(n), exclude) for n in (1, 2))
    per_example = max(two - one, 0)
    # Gradients, Adam's two moments, one more for the update's temporaries and the allocator (measured on
    # cat-mel_2bar_big, whose weights outweigh its activations), and the copies kept.
    state = weights * (4 + weight_copies)
    fixed = state + int(ACTIVATION_MARGIN * max(one - per_example, 0))
    return Estimate(fixed, int(ACTIVATION_MARGIN * per_example), free_bytes(device))
