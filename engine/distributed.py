"""DDP under torchrun: process-group set-up, rank queries and teardown; a no-op in a single process."""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import NoReturn

import torch
import torch.distributed as dist

from engine.errors import UserError

_kept = 0  # depth of one_group blocks: inside one, teardown leaves the group in place


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def is_main_process() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def exit_process(code: int) -> NoReturn:
    """End a torchrun rank with ``code`` once its output is flushed, without the interpreter's finalisation.

    gloo's worker threads outlive destroy_process_group once DDP has used the group (torch keeps the group alive:
    two ``pt_gloo_runloop`` threads and a ``gloo_tcp_loop`` are still running after ``teardown``), and one of them
    touching Python while the interpreter finalises aborts the rank ("terminate called without an active
    exception"), failing a run that finished. Everything a run writes is written and closed before this.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def choose_backend(device_name: str, cuda_devices: int, local_rank: int) -> tuple[str, str, str | None]:
    """(backend, this rank's device, a note for the user or None) for a torchrun rank asked for ``device_name``.

    CUDA ranks use NCCL, each on its own GPU ``cuda:LOCAL_RANK`` (an explicit index cannot hold for every rank, so
    it is replaced, with a note); everything else uses gloo.
    """
    cuda_asked = device_name == "cuda" or device_name.startswith("cuda:")
    if not cuda_asked and not (device_name == "auto" and cuda_devices > 0):
        return "gloo", device_name if device_name != "auto" else "cpu", None
    if cuda_devices == 0:
        raise UserError(f"device {device_name!r} requested but CUDA is not available on this machine")
    if local_rank >= cuda_devices:
        raise UserError(f"torchrun started local rank {local_rank}, but this machine has only {cuda_devices} CUDA "
                        "device(s): start at most one process per GPU (--nproc_per_node)")
    note = None
    if device_name.startswith("cuda:"):
        note = (f"note: under torchrun each rank uses its own GPU, cuda:LOCAL_RANK; "
                f"--device {device_name} is taken as cuda")
    return "nccl", f"cuda:{local_rank}", note


def setup(device_name: str) -> str:
    """Initialise the process group when launched by torchrun (once); return the device name this rank uses."""
    if not launched_by_torchrun():
        return device_name
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend, device, note = choose_backend(device_name, torch.cuda.device_count(), local_rank)
    if not dist.is_initialized():
        if note and os.environ.get("RANK") == "0":
            print(note, file=sys.stderr)
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return device


def teardown() -> None:
    """Leave the process group, after a barrier on the normal path so that no rank leaves with a collective in flight.

    While an exception propagates the other ranks may never arrive at the barrier, so the group is only destroyed.
    Inside ``one_group`` the group stays: the barrier alone lets no rank go on before rank 0 has written what the
    training ends with.
    """
    if not is_initialized():
        return
    try:
        # gloo's worker threads outlive destroy_process_group once DDP has used the group (torch keeps it alive), so
        # they run until the process exits: a worker releasing a finished collective's tensors while the interpreter
        # finalises must take the GIL, which aborts ("terminate called without an active exception").
        if sys.exc_info()[1] is None:
            dist.barrier()
    finally:
        if not _kept:
            dist.destroy_process_group()


@contextlib.contextmanager
def one_group(device_name: str) -> Iterator[str]:
    """For a command that trains several models in turn (``midi compare``): join the group once (under torchrun),
    keep it through every training's teardown, and leave it at the end of the block; yields this rank's device name.

    A process group cannot be joined again once left, so each training leaving it would stop the next one.
    """
    global _kept
    device = setup(device_name)
    _kept += 1
    try:
        yield device
    finally:
        _kept -= 1
        teardown()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all ranks (identity in a single process)."""
    if is_initialized():
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def min_over_ranks(value: int) -> int:
    """The smallest of every rank's ``value`` (``value`` itself in a single process)."""
    if not is_initialized():
        return value
    values = torch.tensor([value], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(values, op=dist.ReduceOp.MIN)
    return int(values.item())


def all_keys(keys: list[str]) -> list[str]:
    """The sorted union of every rank's ``keys`` (a rank may have seen no batch, hence no keys)."""
    if not is_initialized():
        return sorted(set(keys))
    gathered: list[list[str] | None] = [None] * world_size()
    dist.all_gather_object(gathered, keys)
    return sorted({key for rank_keys in gathered for key in rank_keys or []})


def all_ranks_ok(ok: bool) -> bool:
    """True when ``ok`` holds on every rank (lets the other ranks stop cleanly when rank 0 cannot go on)."""
    if not is_initialized():
        return ok
    flag = torch.tensor([1.0 if ok else 0.0], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. building a shared cache); the other ranks then run it and find it done."""
    if is_initialized() and not is_main_process():
        dist.barrier()
    yield
    if is_initialized() and is_main_process():
        dist.barrier()
