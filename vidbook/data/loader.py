"""Batches for training loops, shuffled per epoch and deterministic.

:class:`ClipLoader` renders batches of a data set with a ``batch`` method (SynthActions and its
views) in the training process; :func:`video_loader` is a ``DataLoader`` over a video data set
(:class:`~vidbook.data.folders.VideoFolder` and the official layouts) that decodes in worker
processes. Both draw the order from the seed and the epoch only, and both serve each process of
a ``torchrun`` group its share.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from vidbook.checks import check_int
from vidbook.distributed import rank_and_world
from vidbook.errors import BadValueError


# --------------------------------------------------------------------------------------------
# Rendered data sets: batches made by the data set itself
# --------------------------------------------------------------------------------------------
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
        batch_size = check_int("batch_size", batch_size)
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.seed, self.device, self.drop_last = seed, device, drop_last
        self.epoch = 0
        group_rank, group_size = rank_and_world()
        self.rank = group_rank if rank is None else rank
        self.world_size = group_size if world_size is None else world_size
        self.world_size = check_int("world_size", self.world_size)
        if not (isinstance(self.rank, int) and 0 <= self.rank < self.world_size):
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

    def load(self, indices: torch.Tensor) -> dict:
        """One batch of clips ``indices``; a loader that adds words (captions, questions)
        overrides this and inherits the order, the epochs and the sharding."""
        return self.dataset.batch(indices, device=self.device, captions=False)

    def __iter__(self) -> Iterator[dict]:
        order = self.order()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self.load(order[start : start + self.batch_size])


# --------------------------------------------------------------------------------------------
# Video data sets: a DataLoader that decodes in worker processes
# --------------------------------------------------------------------------------------------
class EpochShuffle(Sampler[int]):
    """Indices ``0..n-1`` in an order that depends only on ``seed`` and the epoch (like
    ``DistributedSampler``, for one process): iterating twice gives the same order."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, np.uint64)
        gen = torch.Generator().manual_seed(int(state[0]))
        return iter(torch.randperm(self.n, generator=gen).tolist())


def _one_decoder_thread(worker_id: int) -> None:
    """In a DataLoader worker: decode with one FFmpeg thread unless the data set says otherwise."""
    dataset = torch.utils.data.get_worker_info().dataset
    if getattr(dataset, "threads", 0) is None:
        dataset.threads = 1


class VideoLoader(DataLoader):
    """A ``DataLoader`` whose ``set_epoch(epoch)`` picks the epoch's order and random clips."""

    def set_epoch(self, epoch: int) -> None:
        """Shuffle for epoch ``epoch`` (0-based) and draw that epoch's clips, crops and flips."""
        self.epoch = int(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(self.epoch)


def video_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    num_workers: int = 0,
    seed: int = 0,
    drop_last: bool = False,
) -> VideoLoader:
    """Batches of a video data set: dicts with ``clip`` (B, C, T, H, W), ``label`` (B,) and
    ``path`` (a list of B strings).

    The order depends only on ``seed`` and the epoch given to ``set_epoch`` (the ``Trainer``
    calls it), in any number of ``num_workers`` decoding processes. Under ``torchrun`` each
    process reads its share: a ``DistributedSampler`` when shuffling (training), every
    ``world_size``-th video otherwise (evaluation: each video exactly once).
    """
    batch_size = check_int("batch_size", batch_size)
    num_workers = check_int("num_workers", num_workers, 0)
    seed = check_int("seed", seed, 0)
    if len(dataset) == 0:
        raise BadValueError("the data set is empty: nothing to load")
    rank, world = rank_and_world()
    if world > 1 and shuffle:
        sampler = DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=drop_last
        )
    elif world > 1:
        sampler = range(rank, len(dataset), world)
    elif shuffle:
        sampler = EpochShuffle(len(dataset), seed)
    else:
        sampler = None  # in order
    loader = VideoLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available(),
        worker_init_fn=_one_decoder_thread,
        generator=torch.Generator().manual_seed(seed),  # worker seeds; not the global RNG
    )
    loader.set_epoch(0)
    return loader
