"""Batches of rendered clips for training loops: shuffled per epoch, deterministic."""

from __future__ import annotations

from collections.abc import Iterator

import torch


class ClipLoader:
    """Iterate over a data set in batches rendered with its ``batch`` method.

    ``ClipLoader(ds, batch_size=64, shuffle=True, seed=0, device=None, drop_last=False)``.
    Each batch is ``ds.batch(indices, device=device)``: a dict with ``clip`` (B, C, T, H, W),
    ``label`` (B,) and the rest. The order depends only on ``seed`` and the epoch set with
    ``set_epoch`` (like ``DistributedSampler``), so a resumed run sees the same batches.
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 64,
        shuffle: bool = True,
        seed: int = 0,
        device: torch.device | str | None = None,
        drop_last: bool = False,
    ) -> None:
        if not hasattr(dataset, "batch"):
            raise ValueError(
                f"ClipLoader needs a data set with a batch(indices, device) method, got "
                f"{type(dataset).__name__}; wrap other data sets in torch.utils.data.DataLoader"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.seed, self.device, self.drop_last = seed, device, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffled order the next iteration uses."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self) -> torch.Tensor:
        """The indices of one epoch, in the order they will be served."""
        n = len(self.dataset)
        if not self.shuffle:
            return torch.arange(n)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(n, generator=gen)

    def __iter__(self) -> Iterator[dict]:
        order = self.order()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = order[start : start + self.batch_size]
            yield self.dataset.batch(indices, device=self.device, captions=False)
