"""c3d: a small C3D-style network, 3x3x3 convolutions over space *and* time.

The published C3D (Tran et al., 2015) has eight convolution layers and 78M parameters for
16x112x112 clips; this one keeps its design (3x3x3 kernels everywhere, pooling, a linear
head) at a width that trains on a laptop CPU in a minute. Widths are configurable.

Sizes (``variant=``): ``tiny`` (the default), ``small`` and ``base`` (widths 64-512, as C3D's
first convolutions, but four blocks and no 4096-wide fully connected layers).

Parameters and forward FLOPs per clip (``torch.utils.flop_counter``, 2 FLOPs per multiply-add),
10 classes, checked by ``tests/test_zoo.py``:

=================  ========  ============  =================  ===============
model              variant   parameters    clip (T x H x W)   GFLOPs forward
=================  ========  ============  =================  ===============
c3d                tiny      162,674       16 x 32 x 32       0.1221
c3d                small     1,167,338     16 x 112 x 112     10.75
c3d                base      4,657,098     16 x 112 x 112     40.92
=================  ========  ============  =================  ===============
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidbook.models._checks import check_clips
from vidbook.models.registry import register

VARIANTS = {
    "tiny": {"widths": (8, 24, 48, 96)},
    "small": {"widths": (32, 64, 128, 256)},
    "base": {"widths": (64, 128, 256, 512)},
}


@dataclass
class C3DConfig:
    num_classes: int = 10
    in_channels: int = 3
    widths: tuple[int, ...] = (8, 24, 48, 96)
    stem_stride: tuple[int, int, int] = (1, 1, 1)  # (time, height, width) stride of block 1
    dropout: float = 0.0
    channels_last: bool = True  # channels-last-3d memory: faster convolutions on CPU and GPU


def conv3d_block(c_in: int, c_out: int, stride: tuple[int, int, int]) -> nn.Sequential:
    """3x3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
    )


class C3D(nn.Module):
    """(B, C, T, H, W) clips -> (B, num_classes) logits.

    The first block keeps every pixel and frame (a narrow stem: small motions and turns are
    sub-pixel details at 32x32); each later block but the last halves time and space. Global
    average pooling over what is left of (T, H, W), then a linear layer.
    """

    def __init__(self, cfg: C3DConfig) -> None:
        super().__init__()
        self.cfg = cfg
        blocks, c_in = [], cfg.in_channels
        for i, width in enumerate(cfg.widths):
            last = i == len(cfg.widths) - 1
            stride = tuple(cfg.stem_stride) if i == 0 else (1, 1, 1) if last else (2, 2, 2)
            blocks.append(conv3d_block(c_in, width, stride))
            c_in = width
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(c_in, cfg.num_classes))
        if cfg.channels_last:
            self.features.to(memory_format=torch.channels_last_3d)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        check_clips(clips, self.cfg.in_channels, "c3d")
        if self.cfg.channels_last:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        maps = self.features(clips)  # (B, F, T', H', W')
        return self.head(maps.mean(dim=(2, 3, 4)))


@register("c3d", variants=VARIANTS, default_variant="tiny")
def c3d(num_classes: int = 10, **cfg) -> C3D:
    return C3D(C3DConfig(num_classes=num_classes, **cfg))
