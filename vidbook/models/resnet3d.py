"""r3d_18 and r2plus1d_18: the video ResNets of Tran et al. (2018), "A Closer Look at
Spatiotemporal Convolutions for Action Recognition".

Both are ResNet-18 (a stem, then four stages of two residual blocks, widths 64, 128, 256, 512,
global average pooling and a linear layer) made three-dimensional:

- ``r3d_18``: every 3x3 convolution becomes a full 3x3x3 one (time x height x width);
- ``r2plus1d_18``: every 3x3x3 convolution is factorised into a 1x3x3 spatial convolution, batch
  norm and ReLU, then a 3x1x1 temporal one. The middle width ``M`` is chosen so that the pair has
  as many parameters as the 3x3x3 convolution it replaces:
  ``M = floor(27 c_in c_out / (9 c_in + 3 c_out))``; the extra ReLU doubles the non-linearities.

Module names and layer order are those of ``torchvision.models.video`` (``stem``, ``layer1``
... ``layer4``, ``fc``), so a state dict of one loads into the other; with ``num_classes=400``
the parameter counts are the published 33,371,472 and 31,505,325 (tested).

Sizes (``variant=``): ``base`` is the published network (the default), ``small`` halves every
width, ``tiny`` quarters them and keeps one block per stage, for a laptop CPU.

Parameters and forward FLOPs per clip (``torch.utils.flop_counter``, which counts a
multiply-add as 2 FLOPs; published "GFLOPs" for these networks count multiply-adds, so they are
half of these), 10 classes, checked by ``tests/test_zoo.py``:

=================  ========  ============  =================  ===============
model              variant   parameters    clip (T x H x W)   GFLOPs forward
=================  ========  ============  =================  ===============
r3d_18             tiny      905,274       16 x 32 x 32       0.2463
r3d_18             small     8,303,594     16 x 112 x 112     21.06
r3d_18             base      33,171,402    16 x 112 x 112     81.39
r2plus1d_18        tiny      784,393       16 x 32 x 32       0.2105
r2plus1d_18        small     7,832,972     16 x 112 x 112     20.41
r2plus1d_18        base      31,305,255    16 x 112 x 112     81.04
=================  ========  ============  =================  ===============
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidbook.errors import BadValueError
from vidbook.models._checks import check_clips
from vidbook.models.registry import register

VARIANTS = {
    "tiny": {"widths": (16, 32, 64, 128), "blocks": (1, 1, 1, 1)},
    "small": {"widths": (32, 64, 128, 256), "blocks": (2, 2, 2, 2)},
    "base": {"widths": (64, 128, 256, 512), "blocks": (2, 2, 2, 2)},
}


@dataclass
class ResNet3DConfig:
    num_classes: int = 10
    in_channels: int = 3
    widths: tuple[int, ...] = (64, 128, 256, 512)  # one per stage
    blocks: tuple[int, ...] = (2, 2, 2, 2)  # residual blocks per stage
    factorised: bool = False  # False: r3d (3x3x3), True: r(2+1)d (1x3x3 then 3x1x1)
    dropout: float = 0.0
    channels_last: bool = True  # channels-last-3d memory: faster convolutions on CPU and GPU


def middle_width(c_in: int, c_out: int) -> int:
    """Width M of a (2+1)D pair with the parameters of a 3x3x3 convolution c_in -> c_out:
    27 c_in c_out = 9 c_in M + 3 M c_out, rounded down."""
    return (c_in * c_out * 27) // (c_in * 9 + 3 * c_out)


def conv3x3x3(c_in: int, c_out: int, stride: int) -> nn.Module:
    """Full 3D convolution, (B, c_in, T, H, W) -> (B, c_out, T/stride, H/stride, W/stride)."""
    return nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


def conv2plus1d(c_in: int, c_out: int, middle: int, stride: int) -> nn.Sequential:
    """1x3x3 spatial convolution to ``middle`` channels, batch norm, ReLU, then a 3x1x1
    temporal one to ``c_out``; strides as the 3x3x3 convolution it replaces."""
    return nn.Sequential(
        nn.Conv3d(
            c_in, middle, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False
        ),
        nn.BatchNorm3d(middle),
        nn.ReLU(inplace=True),
        nn.Conv3d(middle, c_out, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
    )


class BasicBlock(nn.Module):
    """Two (2+1)D or 3D convolutions with batch norm and a shortcut:
    (B, c_in, T, H, W) -> (B, c_out, T/stride, H/stride, W/stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int, factorised: bool) -> None:
        super().__init__()
        middle = middle_width(c_in, c_out)  # torchvision uses the same M for both convolutions

        def conv(a: int, b: int, s: int) -> nn.Module:
            return conv2plus1d(a, b, middle, s) if factorised else conv3x3x3(a, b, s)

        self.conv1 = nn.Sequential(
            conv(c_in, c_out, stride), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True)
        )
        self.conv2 = nn.Sequential(conv(c_out, c_out, 1), nn.BatchNorm3d(c_out))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv3d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm3d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)


def stem(in_channels: int, width: int, factorised: bool) -> nn.Sequential:
    """(B, C, T, H, W) -> (B, width, T, H/2, W/2): a 3x7x7 convolution (r3d), or a 1x7x7 one to
    45 channels and a 3x1x1 one (r(2+1)d; 45 = M for 3 -> 64 channels in the paper)."""
    if not factorised:
        return nn.Sequential(
            nn.Conv3d(
                in_channels, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False
            ),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
    middle = (45 * width) // 64
    return nn.Sequential(
        nn.Conv3d(in_channels, middle, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(middle),
        nn.ReLU(inplace=True),
        nn.Conv3d(middle, width, (3, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


class ResNet3D(nn.Module):
    """(B, C, T, H, W) clips -> (B, num_classes) logits.

    The stem halves H and W; stages 2-4 each halve T, H and W (a 16 x 112 x 112 clip ends as
    2 x 7 x 7 maps of 512 channels), which are averaged and classified.
    """

    def __init__(self, cfg: ResNet3DConfig) -> None:
        super().__init__()
        if len(cfg.widths) != len(cfg.blocks) or not cfg.widths:
            raise BadValueError(
                f"widths {tuple(cfg.widths)} and blocks {tuple(cfg.blocks)} need one entry per "
                "stage, the same number of each"
            )
        if min(cfg.widths) < 1 or min(cfg.blocks) < 1:
            raise BadValueError(
                f"widths and blocks must be >= 1, got {cfg.widths} and {cfg.blocks}"
            )
        self.cfg = cfg
        self.stem = stem(cfg.in_channels, cfg.widths[0], cfg.factorised)
        c_in = cfg.widths[0]
        for i, (width, count) in enumerate(zip(cfg.widths, cfg.blocks, strict=True)):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(c_in, width, stride, cfg.factorised)]
            stage += [BasicBlock(width, width, 1, cfg.factorised) for _ in range(count - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
            c_in = width
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(c_in, cfg.num_classes)
        self._init_weights()
        if cfg.channels_last:
            self.to(memory_format=torch.channels_last_3d)

    def _init_weights(self) -> None:
        """torchvision's initialisation: He (fan-out) convolutions, BN 1/0, head N(0, 0.01)."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    @property
    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, f"layer{i + 1}") for i in range(len(self.cfg.widths))]

    def features(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, T, H, W) -> the last stage's maps (B, widths[-1], T', H', W')."""
        name = "r2plus1d_18" if self.cfg.factorised else "r3d_18"
        check_clips(clips, self.cfg.in_channels, name)
        if self.cfg.channels_last:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        x = self.stem(clips)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        pooled = self.avgpool(self.features(clips)).flatten(1)  # (B, widths[-1])
        return self.fc(self.dropout(pooled))


def _config(num_classes: int, factorised: bool, cfg: dict) -> ResNet3DConfig:
    for key in ("widths", "blocks"):
        if key in cfg:
            cfg[key] = tuple(cfg[key])
    return ResNet3DConfig(num_classes=num_classes, factorised=factorised, **cfg)


@register("r3d_18", variants=VARIANTS, default_variant="base")
def r3d_18(num_classes: int = 10, **cfg) -> ResNet3D:
    return ResNet3D(_config(num_classes, False, cfg))


@register("r2plus1d_18", variants=VARIANTS, default_variant="base")
def r2plus1d_18(num_classes: int = 10, **cfg) -> ResNet3D:
    return ResNet3D(_config(num_classes, True, cfg))
