"""A short training run that ``tests/test_distributed.py`` starts once with ``torchrun
--nproc_per_node 2`` and once as one process with twice the batch.

``python tests/_ddp_worker.py OUT --batch-size B [--accumulate A]`` trains a small timesformer
(layer norm only, so per-process batch statistics play no part) in float64 on 64 SynthActions
clips for two epochs on the CPU with Gloo, and rank 0 saves ``{"model": state_dict, "history": [...],
"world_size": N}`` to ``OUT``.
"""

from __future__ import annotations

import argparse

import torch

from vidbook.data import ClipLoader, SynthActions
from vidbook.distributed import cleanup, init_distributed, is_main_process
from vidbook.models import build
from vidbook.train import Trainer


class Float64:
    """A loader's batches in float64: Adam turns float32 rounding noise in gradients that are
    zero in exact arithmetic (the key biases of attention) into steps of size lr."""

    def __init__(self, loader: ClipLoader) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __iter__(self):
        for batch in self.loader:
            yield batch["clip"].double(), batch["label"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--accumulate", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = init_distributed("cpu")
    world = dict(frames=4, height=16, width=16)
    train = Float64(ClipLoader(SynthActions("train", size=64, **world), args.batch_size))
    val = Float64(ClipLoader(SynthActions("val", size=30, **world), 8, shuffle=False))
    torch.manual_seed(0)
    model = build("timesformer", 10, frames=4, size=16, tubelet=(2, 4, 4), dim=16, depth=1, heads=2)
    model = model.double()
    trainer = Trainer(
        model, device=device, epochs=2, lr=3e-3, accumulate=args.accumulate, progress=False
    )
    history = trainer.fit(train, val)
    if is_main_process():
        torch.save(
            {"model": model.state_dict(), "history": history, "world_size": trainer.world_size},
            args.out,
        )
    cleanup()


if __name__ == "__main__":
    main()
