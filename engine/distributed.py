"""DDP under torchrun: process-group set-up, rank queries and teardown; a no-op in a single process."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist


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


def setup(device_name: str) -> str:
    """Initialise the process group when launched by torchrun; return the device name this rank should use."""
    if not launched_by_torchrun() or dist.is_initialized():
        return device_name
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return f"cuda:{local_rank}" if use_cuda else "cpu"


def teardown() -> None:
    if is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all ranks (identity in a single process)."""
    if is_initialized():
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values



@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. building a shared cache); the other ranks then run it and find it done."""
    if is_initialized() and not is_main_process():
        dist.barrier()
    yield
    if is_initialized() and is_main_process():
        dist.barrier()
