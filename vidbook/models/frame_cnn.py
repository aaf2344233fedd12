"""frame_cnn: a 2D CNN applied to every frame, averaged over time.

It sees appearance but not order: shuffling (or reversing) the frames of a clip leaves its
output unchanged, so it cannot tell "move left" from "move right".

Sizes (``variant=``): ``tiny`` (the default), ``small`` and ``base`` (four stages, 64-512).

Parameters and forward FLOPs per clip (``torch.utils.flop_counter``, 2 FLOPs per multiply-add),
10 classes, checked by ``tests/test_zoo.py``:

=================  ========  ============  =================  ===============
model              variant   parameters    clip (T x H x W)   GFLOPs forward
=================  ========  ============  =================  ===============
frame_cnn          tiny      156,186       16 x 32 x 32       0.02661
frame_cnn          small     620,586       16 x 112 x 112     1.028
frame_cnn          base      5,751,882     16 x 112 x 112     5.857
=================  ========  ============  =================  ===============
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidbook.models._checks import check_clips
from vidbook.models.registry import register

VARIANTS = {
    "tiny": {"widths": (16, 32, 64), "embed_dim": 128},
    "small": {"widths": (32, 64, 128), "embed_dim": 256},
    "base": {"widths": (64, 128, 256, 512), "embed_dim": 512},
}


@dataclass
class FrameCNNConfig:
    num_classes: int = 10
    in_channels: int = 3
    widths: tuple[int, ...] = (16, 32, 64)
    grid: int = 4  # the last feature map is pooled to grid x grid cells, so "where" survives
    embed_dim: int = 128
    dropout: float = 0.0


def conv2d_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class FrameEncoder(nn.Module):
    """(B, C, T, H, W) clips -> per-frame feature vectors (B, T, embed_dim), frames independent."""

    def __init__(self, cfg: FrameCNNConfig) -> None:
        super().__init__()
        layers, c_in = [], cfg.in_channels
        for width in cfg.widths:
            layers.append(conv2d_block(c_in, width, stride=2))
            c_in = width
        self.features = nn.Sequential(*layers)
        # Keep a coarse map (not a global average): the frame vector then says *where* the
        # actor is, so the time-average is a histogram of positions, sizes and poses.
        self.embed = nn.Sequential(
            nn.AdaptiveAvgPool2d(cfg.grid),
            nn.Flatten(),
            nn.Linear(c_in * cfg.grid**2, cfg.embed_dim),
            nn.ReLU(inplace=True),
        )

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = clips.shape
        frames = clips.transpose(1, 2).reshape(b * t, c, h, w)  # every frame is an image
        return self.embed(self.features(frames)).view(b, t, -1)  # (B, T, embed_dim)


class FrameCNN(nn.Module):
    """(B, C, T, H, W) clips -> (B, num_classes) logits, via per-frame features averaged over T."""

    def __init__(self, cfg: FrameCNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = FrameEncoder(cfg)
        self.head = nn.Sequential(
            nn.Dropout(cfg.dropout), nn.Linear(cfg.embed_dim, cfg.num_classes)
        )

    def frame_features(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> per-frame feature vectors (B, T, F)."""
        check_clips(clips, self.cfg.in_channels, "frame_cnn")
        return self.encoder(clips)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(self.frame_features(clips).mean(dim=1))  # average over time


@register("frame_cnn", variants=VARIANTS, default_variant="tiny")
def frame_cnn(num_classes: int = 10, **cfg) -> FrameCNN:
    return FrameCNN(FrameCNNConfig(num_classes=num_classes, **cfg))
