"""What an actor-aware video encoder is taught besides its task: per cell of its space-time
grid, the colour, shape and motion class of the actor seen there and whether it is moving at that
moment (chapter 7.2). The targets come from the world's masks, so they cost nothing to label.

A QA model or a captioner that learns only from answers or words must discover from them alone
which cells hold an actor and how it moves; this auxiliary loss says so from the first step.
``CELL_CLASSES`` (``vidbook.models.video_blocks``) sizes the cell head that reads the grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidbook.data.synth import CLASSES
from vidbook.errors import BadValueError
from vidbook.models.video_blocks import CELL_CLASSES

# The SynthScenes batch keys that cell_targets reads.
CELL_KEYS = ("instances", "colour", "shape", "motion", "start", "end")


def check_cell_weight(cell_weight: object) -> float:
    """``cell_weight`` as a float; BadValueError unless it is a number >= 0."""
    if not (isinstance(cell_weight, (int, float)) and cell_weight >= 0):
        raise BadValueError(f"cell_weight must be a number >= 0, got {cell_weight!r}")
    return float(cell_weight)


def cell_targets(batch: dict) -> torch.Tensor:
    """(B, T, H, W, 4) long: per pixel the colour, shape and motion class (+1; 0 background) of
    the actor seen there and whether it is moving then (0 background, 1 no, 2 yes), from a
    SynthScenes batch's ``instances``, ``colour``, ``shape``, ``motion``, ``start`` and ``end``."""
    instances = batch["instances"].long()  # (B, T, H, W): 0 background, k = slot k - 1
    b, t = instances.shape[:2]
    dev = instances.device

    def table(x: torch.Tensor) -> torch.Tensor:  # (B, A, ...) -> (B, 1 + A, ...), 0 first
        return torch.cat([torch.zeros_like(x[:, :1]), x], dim=1)

    when = torch.linspace(0, 1, t, device=dev)  # (T,)
    start, end = batch["start"].to(dev)[..., None], batch["end"].to(dev)[..., None]
    static = batch["motion"].to(dev) == CLASSES.index("static")
    moving = (when >= start) & (when <= end) & ~static[..., None]  # (B, A, T)
    moving = table(1 + moving.long())  # (B, 1 + A, T)
    rows = torch.arange(b, device=dev)[:, None, None, None]
    frames = torch.arange(t, device=dev)[None, :, None, None]
    out = [table(batch[k].to(dev).clamp(min=-1) + 1)[rows, instances]
           for k in ("colour", "shape", "motion")]  # fmt: skip
    out.append(moving[rows, instances, frames])
    return torch.stack(out, dim=-1)


def cell_loss(cells: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the cell logits (B, T', h, w, sum(CELL_CLASSES)) against
    ``cell_targets`` (B, T, H, W, 4), read at the centre frame and pixel of each cell: actor or
    background (the colour head) over all cells, the rest over the actors' cells only (they
    are few; averaged with the background they would teach nothing)."""
    grid, full = cells.shape[1:4], targets.shape[1:4]
    if cells.ndim != 5 or any(f % g for f, g in zip(full, grid, strict=True)):
        raise BadValueError(f"cell logits {tuple(cells.shape)} do not tile targets {tuple(full)}")
    steps = [f // g for f, g in zip(full, grid, strict=True)]
    picked = targets[:, steps[0] // 2 :: steps[0], steps[1] // 2 :: steps[1],
                     steps[2] // 2 :: steps[2]]  # fmt: skip
    parts = cells.float().split(CELL_CLASSES, dim=-1)
    actor = picked[..., 0] > 0
    loss = F.cross_entropy(parts[0].reshape(-1, CELL_CLASSES[0]), picked[..., 0].reshape(-1))
    if actor.any():
        loss = loss + sum(F.cross_entropy(part[actor], picked[..., i][actor])
                          for i, part in enumerate(parts) if i)  # fmt: skip
    return loss / len(parts)
