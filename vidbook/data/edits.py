"""Edits of clips that the world's masks make exact: tint, blur or remove the background (or the
actor).

They make two experiments of chapter 8 possible. A **shortcut**: tint the background of each
training clip with a colour chosen by its class, and a classifier can score well without looking
at the actor at all. **Privacy**: blur or remove what should not be shown — the background (the
room behind a person) or the actor (the person) — and measure what recognition loses.

Shapes: clips (B, C, T, H, W) float in [0, 1]; masks (B, T, H, W) bool, True on the actor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidbook.errors import BadValueError

REGIONS = ("background", "actor")
# Ten background tints, one per class when a shortcut is planted (RGB in [0, 1]).
TINTS = torch.tensor([
    (0.55, 0.10, 0.10), (0.10, 0.45, 0.10), (0.10, 0.10, 0.55), (0.50, 0.45, 0.05),
    (0.45, 0.05, 0.45), (0.05, 0.45, 0.45), (0.60, 0.30, 0.05), (0.30, 0.30, 0.30),
    (0.05, 0.25, 0.45), (0.40, 0.20, 0.35),
])  # fmt: skip


def _check(clips: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    b, _, t, h, w = clips.shape if clips.ndim == 5 else (None,) * 5
    if clips.ndim != 5 or masks.shape != (b, t, h, w) or masks.dtype != torch.bool:
        raise BadValueError(f"clips (B, C, T, H, W) and bool masks (B, T, H, W) expected, got "
                            f"{tuple(clips.shape)} and {tuple(masks.shape)} {masks.dtype}")  # fmt: skip
    return masks[:, None].to(clips.device)  # (B, 1, T, H, W)


def _region(masks: torch.Tensor, region: str) -> torch.Tensor:
    if region not in REGIONS:
        raise BadValueError(f"region must be one of {REGIONS}, got {region!r}")
    return masks if region == "actor" else ~masks


def tint_background(
    clips: torch.Tensor, masks: torch.Tensor, tint: torch.Tensor, strength: float = 0.5
) -> torch.Tensor:
    """Mix each clip's background with the colour ``TINTS[tint]`` (tint (B,) ints in 0..9)
    in the proportion ``strength``; the actor is untouched."""
    inside = _check(clips, masks)
    if tint.shape != (len(clips),) or int(tint.min()) < 0 or int(tint.max()) >= len(TINTS):
        raise BadValueError(f"tint must be (B,) = ({len(clips)},) ints in 0..{len(TINTS) - 1}, "
                            f"got {tuple(tint.shape)}")  # fmt: skip
    colour = TINTS.to(clips.device)[tint].view(len(clips), 3, 1, 1, 1)
    tinted = (1 - strength) * clips + strength * colour
    return torch.where(inside, clips, tinted)


def remove_region(clips: torch.Tensor, masks: torch.Tensor, region: str = "background",
                  value: float | None = 0.5) -> torch.Tensor:  # fmt: skip
    """Replace the ``region`` ("background" or "actor") by the grey ``value``, or, with
    ``value=None``, by the mean colour of the rest of each frame (removing the actor then
    leaves no silhouette on a plain background: a crude inpainting)."""
    inside = _check(clips, masks)
    gone = _region(inside, region).expand_as(clips)
    if value is not None:
        return torch.where(gone, torch.full_like(clips, value), clips)
    rest = (~gone).to(clips.dtype)
    mean = (clips * rest).sum((3, 4), keepdim=True) / rest.sum((3, 4), keepdim=True).clamp_min(1)
    return torch.where(gone, mean.expand_as(clips), clips)


def gaussian_blur(clips: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur every frame with a Gaussian of ``sigma`` pixels (reflecting the borders)."""
    if sigma <= 0:
        raise BadValueError(f"sigma must be > 0 pixels, got {sigma!r}")
    radius = max(1, int(3 * sigma + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=clips.dtype, device=clips.device)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    b, c, t, h, w = clips.shape
    frames = clips.permute(0, 2, 1, 3, 4).reshape(b * t * c, 1, h, w)
    frames = F.pad(frames, (radius, radius, radius, radius), mode="reflect")
    frames = F.conv2d(frames, kernel.view(1, 1, 1, -1))
    frames = F.conv2d(frames, kernel.view(1, 1, -1, 1))
    return frames.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)


def blur_region(clips: torch.Tensor, masks: torch.Tensor, region: str = "background",
                sigma: float = 2.0) -> torch.Tensor:  # fmt: skip
    """Blur the ``region`` ("background" or "actor") with a Gaussian of ``sigma`` pixels."""
    inside = _check(clips, masks)
    return torch.where(_region(inside, region), gaussian_blur(clips, sigma), clips)
