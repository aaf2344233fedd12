"""How much of a masked clip can be filled in without learning anything: the copy baseline.

Fill every hidden tubelet with the nearest *visible* tubelet — along time (same place, nearest
time slice) or along space (same time slice, nearest place) — and measure the mean squared error
on the hidden tubelets. Where copying is already good, reconstruction is a task a model can solve
without understanding the clip; this is why VideoMAE masks more of a video than MAE masks of an
image, and why it hides whole tubes over time (no visible tubelet at the same place to copy).

Shapes: clips (B, C, T, H, W); masks (B, L) bool, True = hidden, tokens ordered by (time slice,
row, column) as :func:`vidbook.models.mae.tubelets` orders them (the masks of
:func:`vidbook.models.mae.tube_mask` and :func:`vidbook.models.mae.random_mask`).
"""

from __future__ import annotations

import torch

from vidbook.errors import BadValueError
from vidbook.models.mae import tubelets

DIRECTIONS = ("time", "space")


def _distances(grid: tuple[int, int, int], along: str) -> torch.Tensor:
    """(L, L): distance from each token to each token it may copy from (inf where it may not)."""
    slices, rows, cols = grid
    axes = torch.meshgrid(
        torch.arange(slices), torch.arange(rows), torch.arange(cols), indexing="ij"
    )
    where = torch.stack(axes, dim=-1).reshape(-1, 3).float()  # (L, 3): time, row, column
    same_time = where[:, None, 0] == where[None, :, 0]
    same_place = (where[:, None, 1:] == where[None, :, 1:]).all(-1)
    if along == "time":
        return torch.where(same_place, (where[:, None, 0] - where[None, :, 0]).abs(), torch.inf)
    space = (where[:, None, 1:] - where[None, :, 1:]).abs().sum(-1)
    return torch.where(same_time, space, torch.inf)


def copy_fill_error(
    clips: torch.Tensor, mask: torch.Tensor, tubelet: tuple[int, int, int], along: str
) -> float:
    """Mean squared error on the hidden tubelets of ``clips`` when each is filled with the
    nearest visible tubelet ``along`` "time" or "space" (a hidden tubelet with nothing to copy
    gets the mean colour of the clip's visible tubelets)."""
    if along not in DIRECTIONS:
        raise BadValueError(f"along must be one of {DIRECTIONS}, got {along!r}")
    pixels = tubelets(clips.float(), tubelet)  # (B, L, t p p, C)
    b, tokens = pixels.shape[:2]
    grid = (
        clips.shape[2] // tubelet[0],
        clips.shape[3] // tubelet[1],
        clips.shape[4] // tubelet[2],
    )
    if mask.shape != (b, tokens) or mask.dtype != torch.bool:
        raise BadValueError(f"mask: expected a bool tensor of shape {(b, tokens)}, got "
                            f"{mask.dtype} {tuple(mask.shape)}")  # fmt: skip
    if bool(mask.all(dim=1).any()):
        raise BadValueError("every clip must keep at least one visible tubelet")
    distance = _distances(grid, along)[None].expand(b, -1, -1)  # (B, L, L)
    distance = distance.masked_fill(mask[:, None, :], torch.inf)  # copy from visible ones only
    nearest, source = distance.min(dim=2)  # (B, L)
    copied = torch.gather(pixels, 1, source[..., None, None].expand_as(pixels))
    visible_mean = (pixels * (~mask)[..., None, None]).sum(dim=(1, 2)) / (
        (~mask).sum(dim=1)[:, None] * pixels.shape[2]
    )  # (B, C)
    fallback = visible_mean[:, None, None, :].expand_as(pixels)
    filled = torch.where(torch.isinf(nearest)[..., None, None], fallback, copied)
    return float(((filled - pixels) ** 2)[mask].mean())
