"""Batches of rendered clips for training loops: shuffled per epoch, deterministic."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from vidbook.distributed import rank_and_world
from vidbook.errors import BadValueError


class ClipLoader:
    """Iterate over a data set in batches rendered with its ``batch`` method.

    ``ClipLoader(ds, batch_size=64, shuffle=True, seed=0, device=None, drop_last=False)``.
    Each batch is ``ds.batch(indices, device=device, captions=False)``: a dict with ``clip``
    (B, C, T, H, W), ``label`` (B,) and the rest. The order depends only on ``seed`` and the epoch set with
    ``set_epoch`` (like ``DistributedSampler``), so a resumed run sees the same batches.

    In a process group of ``world_size`` processes (``torchrun``; by default read from
    ``vidbook.distributed``) each process serves every ``world_size``-th clip of the epoch's order,
    starting at its ``rank``: together the processes' i-th batches are the i-th batch of
    ``batch_size * world_size`` clips that one process would serve. With ``shuffle`` (training)
    the order is padded by repeating its first clips so that every process has the same number of
    batches, as ``DistributedSampler`` does; without it (evaluation) the shards are uneven and
    every clip is served exactly once.
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 64,
        shuffle: bool = True,
        seed: int = 0,
        device: torch.device | str | None = None,
        drop_last: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if not hasattr(dataset, "batch"):
            raise BadValueError(
                f"ClipLoader needs a data set with a batch(indices, device) method, got "
                f"{type(dataset).__name__}; wrap other data sets in torch.utils.data.DataLoader"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise BadValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.seed, self.device, self.drop_last = seed, device, drop_last
        self.epoch = 0
        group_rank, group_size = rank_and_world()
        self.rank = group_rank if rank is None else rank
        self.world_size = group_size if world_size is None else world_size
        if isinstance(self.world_size, bool) or not isinstance(self.world_size, int):
            raise BadValueError(f"world_size must be a positive int, got {self.world_size!r}")
        if self.world_size < 1 or not (
            isinstance(self.rank, int) and 0 <= self.rank < self.world_size
        ):
            raise BadValueError(
                f"rank must be an int in [0, world_size={self.world_size}), got {self.rank!r}"
            )

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffled order the next iteration uses."""
        self.epoch = int(epoch)

    def _shard_size(self) -> int:
        n, w = len(self.dataset), self.world_size
        if self.shuffle:
            return -(-n // w)  # padded: the same on every process
        return len(range(self.rank, n, w))

    def __len__(self) -> int:
        n = self._shard_size()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self) -> torch.Tensor:
        """The indices this process serves in one epoch, in order."""
        n = len(self.dataset)
        if not self.shuffle:
            return torch.arange(self.rank, n, self.world_size)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(n, generator=gen)
        if self.world_size > 1:
            padded = self._shard_size() * self.world_size
            order = order.repeat(-(-padded // n))[:padded][self.rank :: self.world_size]
        return order

    def __iter__(self) -> Iterator[dict]:
        order = self.order()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = order[start : start + self.batch_size]
            yield self.dataset.batch(indices, device=self.device, captions=False)
