"""Video segmentation: a mask for every frame, from a small space-time U-Net.

The encoder is the detector's: (2+1)D convolutions at full resolution, then at half
resolution (``factorised_conv`` with stride 2 and residual blocks). The decoder upsamples back
to full resolution, joins the full-resolution features (a U-Net skip, Ronneberger et al., 2015),
mixes them per pixel (1 x 1 x 1, cheap at full resolution) and predicts one logit per pixel and
frame with a 3 x 3 convolution. With ``temporal=True`` every stage also mixes 3
neighbouring frames, so a frame's mask can use the frames around it; ``temporal=False`` is the
same network frame by frame (the 2D baseline).

Two targets are taught (:data:`TARGETS`):

- ``"actors"``: every pixel of every actor (foreground against a busy background);
- ``"moving"``: only the pixels of actors that are moving at that frame (DAVIS 2016's "primary
  moving object" task in this world: a still actor is background). One frame cannot say what
  moves; a space-time decoder can.

The loss is binary cross-entropy plus the soft Dice loss (1 - soft IoU-like overlap), which
keeps small actors from being drowned by the background.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.checks import check_int
from vidbook.data.scenes import STATIC
from vidbook.errors import BadValueError
from vidbook.models._checks import check_even_clips
from vidbook.models.video_blocks import ResidualBlock, factorised_conv

TARGETS = ("actors", "moving")


@dataclass
class SegmenterConfig:
    """``width`` channels at full resolution (twice that at half), ``blocks`` residual blocks at
    half resolution, 3-frame kernels everywhere if ``temporal``."""

    width: int = 16
    blocks: int = 1
    temporal: bool = True

    def __post_init__(self) -> None:
        check_int("width", self.width, 4)
        check_int("blocks", self.blocks, 0)
        if not isinstance(self.temporal, bool):
            raise BadValueError(f"temporal must be True or False, got {self.temporal!r}")


class VideoSegmenter(nn.Module):
    """Clips (B, 3, T, H, W) -> mask logits (B, T, H, W) (H and W even)."""

    def __init__(self, config: SegmenterConfig | None = None) -> None:
        super().__init__()
        cfg = config or SegmenterConfig()
        self.config = cfg
        w, temporal = cfg.width, cfg.temporal
        self.stem = factorised_conv(3, w, temporal)
        self.down = nn.Sequential(
            factorised_conv(w, 2 * w, temporal, stride=2),
            *(ResidualBlock(2 * w, temporal) for _ in range(cfg.blocks)),
        )
        self.fuse = nn.Sequential(  # per pixel: the skip and the upsampled features, mixed
            nn.Conv3d(3 * w, w, 1, bias=False), nn.BatchNorm3d(w), nn.ReLU(inplace=True)
        )
        self.head = nn.Conv3d(w, 1, (1, 3, 3), padding=(0, 1, 1))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        check_even_clips(clips, "VideoSegmenter")
        full = self.stem(clips)
        half = self.down(full)
        upsampled = F.interpolate(half, scale_factor=(1, 2, 2), mode="nearest")
        return self.head(self.fuse(torch.cat([full, upsampled], dim=1)))[:, 0]


def moving_now(motion: torch.Tensor, start: torch.Tensor, end: torch.Tensor, frames: int
               ) -> torch.Tensor:  # fmt: skip
    """(B, A, T) bool: actor a is moving at frame t (not a still actor, and t / (T - 1) within
    its motion window [start, end]; ``motion`` (B, A) class, -1 for an empty slot)."""
    if not (motion.shape == start.shape == end.shape) or motion.ndim != 2:
        raise BadValueError(
            f"motion, start and end must all be (B, A), got {tuple(motion.shape)}, "
            f"{tuple(start.shape)} and {tuple(end.shape)}"
        )
    check_int("frames", frames, 2)
    time = torch.linspace(0, 1, frames, device=start.device)
    within = (time >= start[..., None]) & (time <= end[..., None])
    return within & ((motion >= 0) & (motion != STATIC))[..., None]


def mask_targets(batch: dict, target: str = "actors") -> torch.Tensor:
    """(B, T, H, W) bool masks of ``target`` from a SynthScenes batch (``instances``, and for
    ``"moving"`` also ``motion``, ``start`` and ``end``)."""
    if target not in TARGETS:
        raise BadValueError(f"target must be one of {TARGETS}, got {target!r}")
    instances = batch["instances"].long()  # (B, T, H, W): 0 background, k = slot k - 1
    if target == "actors":
        return instances > 0
    frames = instances.shape[1]
    moving = moving_now(batch["motion"], batch["start"], batch["end"], frames)  # (B, A, T)
    lookup = torch.cat([moving.new_zeros(moving.shape[0], 1, frames), moving], dim=1)
    by_frame = lookup.transpose(1, 2)  # (B, T, A + 1): id 0 (background) never moves
    return by_frame.gather(2, instances.flatten(2)).view_as(instances)


def segmentation_loss(logits: torch.Tensor, masks: torch.Tensor, dice_weight: float = 1.0
                      ) -> torch.Tensor:  # fmt: skip
    """Binary cross-entropy + ``dice_weight`` x soft Dice loss of logits (B, T, H, W) against
    bool masks of the same shape (Dice over each clip, averaged over clips)."""
    if not isinstance(logits, torch.Tensor) or logits.shape != masks.shape:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise BadValueError(f"logits must match the masks' shape {tuple(masks.shape)}, got {got}")
    target = masks.float()
    bce = F.binary_cross_entropy_with_logits(logits.float(), target)
    prob = torch.sigmoid(logits.float()).flatten(1)
    flat = target.flatten(1)
    dice = 1 - (2 * (prob * flat).sum(1) + 1) / (prob.sum(1) + flat.sum(1) + 1)
    return bce + dice_weight * dice.mean()
