"""Building blocks shared by the book's video models (detection, segmentation, captioning, QA).

``factorised_conv`` is the (2+1)D convolution of R(2+1)D (Tran et al., 2018): a 3 x 3 convolution
in space, then (if ``temporal``) one over 3 frames, each followed by batch norm and ReLU; with
``temporal=False`` it is a per-frame 2D convolution with the same widths, the baseline that
cannot see motion. ``ResidualBlock`` adds two of them to their input. ``CELL_CLASSES`` sizes the
*cell head* of the models taught what is where (``vidbook.train.scene_cells``).
"""

from __future__ import annotations

import torch
from torch import nn

from vidbook.data.synth import CLASSES, COLOURS, SHAPES

# What a cell head says of each cell of a video grid (0 = background in each): the colour, shape
# and motion class of the actor there, and whether it is moving at that moment (1 no, 2 yes).
CELL_CLASSES = (len(COLOURS) + 1, len(SHAPES) + 1, len(CLASSES) + 1, 3)


def factorised_conv(cin: int, cout: int, temporal: bool, stride: int = 1) -> nn.Sequential:
    """A 3 x 3 convolution in space, then (if ``temporal``) one over 3 frames: (2+1)D."""
    layers = [
        nn.Conv3d(cin, cout, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    ]
    if temporal:
        layers += [
            nn.Conv3d(cout, cout, (3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(cout),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, temporal: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            factorised_conv(channels, channels, temporal),
            factorised_conv(channels, channels, temporal),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
