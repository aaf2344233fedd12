"""Pixels of SynthScenes: every actor drawn in a small window around it, then painted into the
frames back to front, with the instance map, visibility and boxes that the tasks need.

Working in windows keeps the cost per actor to the few hundred pixels it can cover: the sprite
look-up, its own pixels and its box are computed there, and only the pixels it paints are
gathered from and scattered into the frames.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import TYPE_CHECKING

import torch

from vidbook.data.synth import COLOURS, actor_alpha, add_noise, paint_background
from vidbook.data.synth import _grid_axes as _axes

if TYPE_CHECKING:
    from vidbook.data.scenes import SceneParams

MAX_ACTORS = 4  # actor slots per clip
_VISIBLE_SHARE = 0.25  # visible if at least this share of its own in-frame pixels shows ...
_VISIBLE_AREA = 0.004  # ... and at least this share of the frame
_SHAPE_REACH = 1.15  # every shape lies within this many radii of its centre


def render_scenes(
    params: SceneParams, height: int, width: int, device: torch.device | str | None = None
) -> dict[str, torch.Tensor]:
    """Draw a batch of scenes.

    Returns ``clip`` (B, 3, T, H, W) float32 in [0, 1]; ``instances`` (B, T, H, W) uint8, which
    actor shows at each pixel (0: background, k + 1: the actor of slot k; the per-actor masks
    are ``instance_masks(instances)``); per actor slot ``boxes`` (B, A, T, 4) float32
    ``(x1, y1, x2, y2)`` pixels around its visible pixels and ``visible`` (B, A, T) bool; and
    (B, A) ``active``, ``colour``, ``shape``, ``motion``, ``depth``, ``track_id`` (-1 where
    inactive), ``index`` (B,).

    Each actor is drawn only in a square window around it on each frame (its sprite's look-up,
    its own pixels and its box are computed there), then painted into the frames back to front.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    p = {f.name: getattr(params, f.name).to(dev, non_blocking=True) for f in fields(params)}
    b, a, t = p["cx"].shape
    unit = min(height, width) / 2  # pixels per unit of the world's coordinates
    bn, slot = p["active"].nonzero(as_tuple=True)  # the N actors: clip and slot of each
    cx, cy, scale = p["cx"][bn, slot], p["cy"][bn, slot], p["scale"][bn, slot]  # (N, T)
    # A window of `side` pixels covers every actor of the batch on every frame.
    side = 2 * math.ceil(float(scale.max()) * _SHAPE_REACH * unit + 1.0) if len(bn) else 2
    offsets = torch.arange(side, device=dev)
    x0 = torch.floor(cx * unit + width / 2 - side / 2).long()  # (N, T) window corner, pixels
    y0 = torch.floor(cy * unit + height / 2 - side / 2).long()
    alpha = actor_alpha(
        cx,
        cy,
        scale,
        p["angle"][bn, slot],
        p["shape"][bn, slot],
        (x0[..., None] + offsets + 0.5 - width / 2) / unit,
        (y0[..., None] + offsets + 0.5 - height / 2) / unit,
    )[:, 0]  # fmt: skip  (N, T, side, side)

    # The window pixels an actor covers inside the frame, as flat lists of length P.
    wx, wy = x0[..., None] + offsets, y0[..., None] + offsets  # (N, T, side)
    inside = ((wy >= 0) & (wy < height))[..., :, None] & ((wx >= 0) & (wx < width))[..., None, :]
    chosen = ((alpha > 0) & inside).view(-1).nonzero().squeeze(1)
    cover = alpha.view(-1)[chosen]
    group, pixel = chosen // (side * side), chosen % (side * side)  # group = actor * T + frame
    actor, frame = group // t, group % t
    x = x0.view(-1)[group] + pixel % side
    y = y0.view(-1)[group] + pixel // side
    frame_size = t * height * width
    at = (frame * height + y) * width + x + bn[actor] * frame_size  # in (B, T, H, W)

    background = paint_background(
        p["bg_colour"], p["bg_tint"], p["bg_wave"], *_axes(height, width, dev)
    )
    clip = background.expand(b, 3, t, height, width).contiguous()
    ids = torch.zeros(b * frame_size, dtype=torch.uint8, device=dev)
    palette = torch.tensor(list(COLOURS.values()), device=dev)
    colour = palette[p["colour"][bn, slot]]  # (N, 3)
    # In (B, 3, T, H, W): pixel `at` of channel c of clip k is at + (2 k + c) * frame_size.
    channels = (2 * bn[actor] * frame_size + at)[:, None] + torch.arange(3, device=dev) * frame_size
    level = p["depth"][bn, slot][actor]
    order = torch.argsort(level, stable=True)
    counts = torch.bincount(level, minlength=a).tolist()
    flat_clip = clip.view(-1)
    own = cover > 0.5
    for part in order.split(counts):  # back to front: nearer actors paint over farther ones
        if len(part) == 0:
            continue
        where = channels[part]  # (P_level, 3)
        old = flat_clip[where]
        flat_clip[where] = torch.addcmul(old, cover[part, None], colour[actor[part]] - old)
        mine = part[own[part]]
        ids[at[mine]] = (slot[actor[mine]] + 1).to(torch.uint8)
    add_noise(clip, p["noise_frame"], p["noise"])

    # Visible: enough of the actor's own in-frame pixels show, not covered by nearer actors.
    groups = len(bn) * t
    area = torch.bincount(group[own], minlength=groups)
    shows = own & (ids[at] == (slot[actor] + 1).to(torch.uint8))
    shown = torch.bincount(group[shows], minlength=groups)
    seen = (shown >= _VISIBLE_SHARE * area) & (shown >= max(1.0, _VISIBLE_AREA * height * width))
    ids[at[shows & ~seen[group]]] = 0  # hidden actors leave the instance map
    instances = ids.view(b, t, height, width)
    visible = torch.zeros(b, a, t, dtype=torch.bool, device=dev)
    visible[bn, slot] = seen.view(-1, t)
    shows &= seen[group]
    boxes = torch.zeros(b, a, t, 4, device=dev)
    if len(bn):
        corners = [torch.full((groups,), fill, dtype=torch.long, device=dev)
                   for fill in (width, height, 0, 0)]  # fmt: skip
        g = group[shows]
        corners[0].scatter_reduce_(0, g, x[shows], "amin")
        corners[1].scatter_reduce_(0, g, y[shows], "amin")
        corners[2].scatter_reduce_(0, g, x[shows] + 1, "amax")
        corners[3].scatter_reduce_(0, g, y[shows] + 1, "amax")
        found = torch.stack(corners, dim=-1).float() * seen[:, None]
        boxes[bn, slot] = found.view(-1, t, 4)
    return {
        "clip": clip,
        "instances": instances,
        "boxes": boxes,
        "visible": visible,
        **{k: p[k] for k in ("active", "colour", "shape", "motion", "depth", "track_id")},
        "index": p["index"],
    }


def instance_masks(instances: torch.Tensor, slots: int = MAX_ACTORS) -> torch.Tensor:
    """Per-actor masks from an instance map: (..., H, W) ids -> (..., slots, H, W) bool,
    mask k where the id is k + 1."""
    ids = torch.arange(1, slots + 1, device=instances.device, dtype=instances.dtype)
    return instances.unsqueeze(-3) == ids.view(-1, 1, 1)
