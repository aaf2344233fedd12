"""frame_cnn: a 2D CNN applied to every frame, averaged over time.

It sees appearance but not order: shuffling (or reversing) the frames of a clip leaves its
output unchanged, so it cannot tell "move left" from "move right".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidbook.models._checks import check_clips
from vidbook.models.registry import register


@dataclass
class FrameCNNConfig:
    num_classes: int = 10
    in_channels: int = 3
    widths: tuple[int, ...] = (32, 64, 128)
    dropout: float = 0.0


def conv2d_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class FrameCNN(nn.Module):
    """(B, C, T, H, W) clips -> (B, num_classes) logits, via per-frame features averaged over T."""

    def __init__(self, cfg: FrameCNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers, c_in = [], cfg.in_channels
        for i, width in enumerate(cfg.widths):
            layers.append(conv2d_block(c_in, width, stride=1 if i == 0 else 2))
            c_in = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(c_in, cfg.num_classes))

    def frame_features(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> per-frame feature vectors (B, T, F)."""
        check_clips(clips, self.cfg.in_channels, "frame_cnn")
        b, c, t, h, w = clips.shape
        frames = clips.transpose(1, 2).reshape(b * t, c, h, w)  # every frame is an image
        maps = self.features(frames)  # (B*T, F, h', w')
        return maps.mean(dim=(2, 3)).view(b, t, -1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(self.frame_features(clips).mean(dim=1))  # average over time


@register("frame_cnn")
def frame_cnn(num_classes: int = 10, **cfg) -> FrameCNN:
    return FrameCNN(FrameCNNConfig(num_classes=num_classes, **cfg))
