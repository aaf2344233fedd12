"""Multi-process data parallel training, as launched by ``torchrun``.

``torchrun --nproc_per_node N script.py`` starts N copies of the script and tells each its
place through environment variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``). :func:`init_distributed` reads them and joins the process group — NCCL between
GPUs, Gloo on CPUs — and the ``Trainer`` then wraps its model in ``DistributedDataParallel``:
each process computes gradients on its share of every batch, and an all-reduce averages them, so
all copies take the same step. Run without ``torchrun``, everything here is a no-op.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from vidbook.errors import BadValueError
from vidbook.runtime import resolve_device


def env_world() -> tuple[int, int, int]:
    """``(rank, local_rank, world_size)`` from torchrun's environment; ``(0, 0, 1)`` without it."""
    values = []
    for name, default in (("RANK", 0), ("LOCAL_RANK", 0), ("WORLD_SIZE", 1)):
        raw = os.environ.get(name)
        try:
            values.append(int(raw) if raw is not None else default)
        except ValueError:
            raise BadValueError(f"environment variable {name}={raw!r} is not an integer") from None
    rank, local_rank, world_size = values
    if world_size < 1 or not 0 <= rank < world_size:
        raise BadValueError(f"RANK={rank} and WORLD_SIZE={world_size} are inconsistent")
    return rank, local_rank, world_size


def init_distributed(device: torch.device | str | None = None) -> torch.device | None:
    """Join the process group when started by torchrun with ``WORLD_SIZE > 1``.

    Returns the device this process should use (``cuda:LOCAL_RANK`` on GPUs, else ``device`` or
    the CPU); returns ``device`` unchanged (possibly None) when not distributed. The backend is
    NCCL for CUDA devices and Gloo otherwise. Calling it twice is harmless. BadValueError (a
    ValueError) naming the available devices if torch cannot use the device here.
    """
    rank, local_rank, world_size = env_world()
    dev = resolve_device(device) if device is not None else None
    if world_size == 1:
        return dev
    if dev is None:
        dev = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    elif dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)
    dev = resolve_device(dev)  # LOCAL_RANK may name a GPU this machine does not have
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        kwargs = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **kwargs)
    return dev


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the process group, or ``(0, 1)`` outside one."""
    if is_distributed():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Only rank 0 prints, logs and writes checkpoints."""
    return rank_and_world()[0] == 0


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of ``tensor`` over all processes (in place; unchanged outside a group)."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier() -> None:
    """Wait for every process (no-op outside a group)."""
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
