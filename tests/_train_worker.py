"""Toy data, toy model and a training run that ``tests/test_train.py`` launches as a subprocess.

``python tests/_train_worker.py OUT [--checkpoint-dir DIR] [--resume] [--epochs N]`` trains the
toy model on the CPU with one thread and saves ``{"model": state_dict, "history": [...]}`` to
``OUT``. The environment variable ``VIDBOOK_TEST_BATCH_SLEEP`` (seconds) slows every training
batch down, so that a test has time to kill the run mid-training.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

SLEEP_ENV = "VIDBOOK_TEST_BATCH_SLEEP"
CLIP_SHAPE = (3, 4, 8, 8)  # (C, T, H, W)


class ToyClips:
    """``n`` fixed random clips ``(3, 4, 8, 8)``; label 1 where channel 0 is shifted up.

    Iterating yields dict batches ``{"clip": (B, 3, 4, 8, 8), "label": (B,), "index": (B,)}``;
    ``set_epoch(e)`` reshuffles with ``torch.Generator().manual_seed(seed + e)``; ``tuples=True``
    yields ``(clip, label)`` pairs instead.
    """

    def __init__(
        self,
        n: int = 64,
        batch_size: int = 16,
        seed: int = 0,
        sleep: float = 0.0,
        tuples: bool = False,
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 2, (n,), generator=gen)
        self.clips = torch.randn(n, *CLIP_SHAPE, generator=gen)
        self.clips[:, 0] += (2.0 * self.labels - 1.0).view(-1, 1, 1, 1) * 0.5
        self.batch_size, self.seed, self.sleep, self.tuples = batch_size, seed, sleep, tuples
        self.order = torch.arange(n)

    def set_epoch(self, epoch: int) -> None:
        gen = torch.Generator().manual_seed(self.seed + epoch)
        self.order = torch.randperm(len(self.labels), generator=gen)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        for start in range(0, len(self.labels), self.batch_size):
            if self.sleep:
                time.sleep(self.sleep)
            idx = self.order[start : start + self.batch_size]
            if self.tuples:
                yield self.clips[idx], self.labels[idx]
            else:
                yield {"clip": self.clips[idx], "label": self.labels[idx], "index": idx}


def toy_model(norm: bool = True, dropout: float = 0.1, classes: int = 2) -> nn.Module:
    """Conv3d (+ BatchNorm3d) + ReLU + global average pooling + dropout + Linear."""
    layers: list[nn.Module] = [nn.Conv3d(3, 8, kernel_size=3, padding=1)]
    if norm:
        layers.append(nn.BatchNorm3d(8))
    layers += [nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Dropout(dropout)]
    layers.append(nn.Linear(8, classes))
    return nn.Sequential(*layers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", help="where to save the final state_dict and history")
    parser.add_argument("--checkpoint-dir", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from vidbook.train import Trainer

    sleep = float(os.environ.get(SLEEP_ENV, "0") or 0)
    torch.manual_seed(0)
    model = toy_model()
    trainer = Trainer(
        model,
        device="cpu",
        epochs=args.epochs,
        lr=1e-2,
        checkpoint_dir=args.checkpoint_dir,
        resume=args.resume,
        progress=False,
    )
    history = trainer.fit(ToyClips(sleep=sleep), ToyClips(seed=1))
    torch.save({"model": model.state_dict(), "history": history}, args.out)


if __name__ == "__main__":
    main()
