"""SynthActions: a procedural video world whose classes live in the motion.

Every clip shows one actor (a shape of some colour and size) on a textured, noisy background.
The *class* decides only how the actor moves over time: left, right, up, down, clockwise,
counter-clockwise, grow, shrink, stay still, or go out and come back. Shape, colour,
orientation, background and noise are drawn independently of the class, and so are the actor's
size and position *at mid-clip*. A bag of frames without their order therefore cannot tell a
class from its time reversal: the reversed clips of a class are distributed exactly like the
clips of the reversed class. This module is longer than 400 lines because the world is one
specification: the vocabulary, the random draws, the renderer and the data set all follow the
class rules stated here, and reading them in one place is how one checks that they agree.

A single frame is not blind to the class, though: the actor stays in view, so a clip that moves
right tends to start on the left, and a growing actor starts small. The best classifier of the
first (or last) frame alone scores about 40 %, of the middle frame about 20 % (chance: 10 %;
``vidbook.data.single_frame`` measures it, ``tests/test_synth.py`` keeps it true). What one frame
tells is *where* the actor is, never *which way* it goes.

Rendering is batched tensor code: ``ds.batch(indices, device=...)`` draws all clips of a batch
at once on any device, with no Python loop per clip. Item ``i`` of a split is the same on every
run and machine: its random draws come from a counter-based hash of (seed, split, index).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from vidbook.checks import check_int
from vidbook.clip_shape import ClipShape
from vidbook.errors import BadValueError

# --------------------------------------------------------------------------------------------
# The vocabulary of the world
# --------------------------------------------------------------------------------------------
CLASSES: tuple[str, ...] = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "rotate_cw",
    "rotate_ccw",
    "grow",
    "shrink",
    "static",
    "out_and_back",
)
# Playing a clip backwards turns its class into this one (and back again).
TIME_REVERSED: dict[str, str] = {
    "move_left": "move_right",
    "move_right": "move_left",
    "move_up": "move_down",
    "move_down": "move_up",
    "rotate_cw": "rotate_ccw",
    "rotate_ccw": "rotate_cw",
    "grow": "shrink",
    "shrink": "grow",
    "static": "static",
    "out_and_back": "out_and_back",
}
STATIC_CLASS = CLASSES.index("static")
VERBS: dict[str, str] = {
    "move_left": "moves left",
    "move_right": "moves right",
    "move_up": "moves up",
    "move_down": "moves down",
    "rotate_cw": "rotates clockwise",
    "rotate_ccw": "rotates counter-clockwise",
    "grow": "grows",
    "shrink": "shrinks",
    "static": "stays still",
    "out_and_back": "moves away and comes back",
}
SHAPES: tuple[str, ...] = ("square", "triangle", "cross", "pacman", "ellipse")
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.92, 0.16, 0.14),
    "green": (0.18, 0.80, 0.25),
    "blue": (0.20, 0.38, 0.98),
    "yellow": (0.98, 0.90, 0.15),
    "magenta": (0.90, 0.20, 0.85),
    "cyan": (0.15, 0.88, 0.92),
    "orange": (1.00, 0.55, 0.05),
    "white": (0.97, 0.97, 0.97),
}
SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_SIZES: dict[str, int] = {"train": 10_000, "val": 2_000, "test": 2_000}
# Splits live in disjoint ranges of one global index space, so they can never share a clip.
_SPLIT_OFFSET: dict[str, int] = {"train": 0, "val": 1 << 40, "test": 2 << 40}


@dataclass(frozen=True)
class Difficulty:
    """How hard the world is: actor size, amount of motion, background contrast and noise."""

    radius: tuple[float, float]  # actor radius, in units of half the shorter frame side
    travel: tuple[float, float]  # distance covered by moving classes, same units
    turn: tuple[float, float]  # total rotation of rotating classes, radians
    zoom: tuple[float, float]  # final/initial size ratio of growing classes
    texture: tuple[float, float]  # amplitude of the background texture
    noise: float  # standard deviation of the per-pixel noise


DIFFICULTIES: dict[str, Difficulty] = {
    "easy": Difficulty((0.30, 0.40), (0.8, 1.0), (2.5, 3.5), (2.0, 2.6), (0.0, 0.05), 0.0),
    "medium": Difficulty((0.25, 0.36), (0.6, 1.0), (2.0, 3.0), (1.6, 2.4), (0.05, 0.15), 0.04),
    "hard": Difficulty((0.20, 0.32), (0.4, 0.8), (1.5, 2.5), (1.35, 1.9), (0.10, 0.25), 0.08),
}
_POSITION_LIMIT = 0.6  # the actor's centre stays within [-0.6, 0.6]^2
_SPRITE = 64  # sprite resolution (pixels per side) in the shape atlas
_SPRITE_EXTENT = 1.25  # a sprite covers local coordinates [-1.25, 1.25]^2
_NOISE_BANK = 61  # number of noise frames kept per (height, width, device)


# --------------------------------------------------------------------------------------------
# Counter-based random numbers: deterministic on every machine, vectorised over clips
# --------------------------------------------------------------------------------------------
_M1, _M2, _GOLDEN = (
    np.uint64(0xBF58476D1CE4E5B9),
    np.uint64(0x94D049BB133111EB),
    np.uint64(0x9E3779B97F4A7C15),
)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective hash of uint64 arrays (wraps modulo 2**64)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _uniform(keys: np.ndarray, stream: int) -> np.ndarray:
    """Uniform floats in [0, 1), one per key, independent across ``stream`` numbers."""
    offset = np.uint64(((stream + 1) * int(_GOLDEN)) % (1 << 64))
    z = _splitmix64(keys + offset)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _between(u: np.ndarray, lo_hi: tuple[float, float]) -> np.ndarray:
    return lo_hi[0] + u * (lo_hi[1] - lo_hi[0])


# --------------------------------------------------------------------------------------------
# Clip parameters: everything random about a batch of clips, before any pixel is drawn
# --------------------------------------------------------------------------------------------
@dataclass
class ClipParams:
    """All random choices for a batch of B clips with T frames (float32 / int64 CPU tensors).

    Per frame (B, T): actor centre ``cx``, ``cy`` (units of half the shorter side, y down),
    ``scale`` (actor radius) and ``angle`` (radians; increasing = clockwise on screen), and
    ``noise_frame`` (which frame of the noise bank to add). Per clip (B,): ``label``, ``shape``,
    ``colour``, ``index``; (B, 3): ``bg_colour``, ``bg_tint``; (B, 4): ``bg_wave``
    (frequency x, frequency y, phase, amplitude); (B,): ``noise`` (its standard deviation).
    """

    label: torch.Tensor
    shape: torch.Tensor
    colour: torch.Tensor
    index: torch.Tensor
    cx: torch.Tensor
    cy: torch.Tensor
    scale: torch.Tensor
    angle: torch.Tensor
    noise_frame: torch.Tensor
    bg_colour: torch.Tensor
    bg_tint: torch.Tensor
    bg_wave: torch.Tensor
    noise: torch.Tensor

    def time_reversed(self) -> ClipParams:
        """The same clips played backwards: per-frame tracks flipped, labels mapped."""
        reverse = torch.tensor([CLASSES.index(TIME_REVERSED[c]) for c in CLASSES])
        flipped = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("cx", "cy", "scale", "angle", "noise_frame"):
            flipped[name] = flipped[name].flip(1)
        flipped["label"] = reverse[self.label]
        return ClipParams(**flipped)


def draw_params(
    global_index: np.ndarray, labels: np.ndarray, frames: int, difficulty: Difficulty, seed: int
) -> ClipParams:
    """Draw the parameters of clips ``global_index`` (int64 array, (B,)) with given labels (B,)."""
    keys = _splitmix64(global_index.astype(np.uint64) ^ _splitmix64(np.full(1, seed, np.uint64)))
    u = [_uniform(keys, k) for k in range(20)]
    b = len(global_index)
    progress = np.linspace(0.0, 1.0, frames)[None, :]  # (1, T)
    centred = progress - 0.5  # (1, T) from -0.5 to 0.5
    lim = _POSITION_LIMIT
    names = [CLASSES[i] for i in range(len(CLASSES))]
    is_ = {name: (labels == names.index(name))[:, None] for name in names}

    radius = _between(u[0], difficulty.radius)[:, None]
    travel = _between(u[1], difficulty.travel)[:, None]
    turn = _between(u[2], difficulty.turn)[:, None]
    zoom = np.log(_between(u[3], difficulty.zoom))[:, None]
    angle0 = (2 * math.pi * u[4])[:, None]
    away = (2 * math.pi * u[5])[:, None]  # direction of out_and_back

    # Direction of travel (unit vector) for the four moving classes and out_and_back.
    dx = np.select(
        [is_["move_left"], is_["move_right"], is_["out_and_back"]],
        [-1.0, 1.0, np.cos(away)],
        0.0,
    )
    dy = np.select(
        [is_["move_up"], is_["move_down"], is_["out_and_back"]],
        [-1.0, 1.0, np.sin(away)],
        0.0,
    )
    moves = is_["move_left"] | is_["move_right"] | is_["move_up"] | is_["move_down"]
    path = np.where(moves, centred, 0.0) + np.where(
        is_["out_and_back"], 0.5 * (1.0 - np.abs(2.0 * progress - 1.0)), 0.0
    )  # (B, T): position along the direction, in units of `travel`
    path = path - np.where(is_["out_and_back"], 0.25, 0.0)  # centre the out-and-back segment
    # The segment's midpoint is uniform over the positions that keep it inside the limits.
    half_x = np.abs(dx) * travel / 2 * np.where(is_["out_and_back"], 0.5, 1.0)
    half_y = np.abs(dy) * travel / 2 * np.where(is_["out_and_back"], 0.5, 1.0)
    mid_x = (2 * u[6][:, None] - 1) * (lim - half_x)
    mid_y = (2 * u[7][:, None] - 1) * (lim - half_y)
    cx = mid_x + dx * travel * path
    cy = mid_y + dy * travel * path

    spin = np.where(is_["rotate_cw"], 1.0, 0.0) - np.where(is_["rotate_ccw"], 1.0, 0.0)
    angle = angle0 + spin * turn * centred
    growth = np.where(is_["grow"], 1.0, 0.0) - np.where(is_["shrink"], 1.0, 0.0)
    scale = radius * np.exp(growth * zoom * centred)  # `radius` is the size at mid-clip

    noise_frame = np.stack(
        [np.floor(_uniform(keys, 100 + t) * _NOISE_BANK) for t in range(frames)], axis=1
    )
    grey = _between(u[8], (0.15, 0.45))[:, None]
    tint = (np.stack([u[9], u[10], u[11]], axis=1) - 0.5) * 0.2
    wave = np.stack(
        [
            _between(u[12], (0.5, 3.0)) * np.where(u[13] < 0.5, -1, 1),
            _between(u[14], (0.5, 3.0)),
            2 * math.pi * u[15],
            _between(u[16], difficulty.texture),
        ],
        axis=1,
    )

    def f32(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    def i64(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))

    return ClipParams(
        label=i64(labels),
        shape=i64(np.floor(u[17] * len(SHAPES))),
        colour=i64(np.floor(u[18] * len(COLOURS))),
        index=i64(global_index),
        cx=f32(np.broadcast_to(cx, (b, frames))),
        cy=f32(np.broadcast_to(cy, (b, frames))),
        scale=f32(np.broadcast_to(scale, (b, frames))),
        angle=f32(np.broadcast_to(angle, (b, frames))),
        noise_frame=i64(noise_frame),
        bg_colour=f32(grey + tint),
        bg_tint=f32(np.stack([u[9], u[11], u[10]], axis=1) * 0.6 + 0.4),
        bg_wave=f32(wave),
        noise=f32(np.full(b, difficulty.noise)),
    )


# --------------------------------------------------------------------------------------------
# Pixels: sprites, background, noise, and the batched renderer
# --------------------------------------------------------------------------------------------
def _shape_masks(u: torch.Tensor, v: torch.Tensor) -> list[torch.Tensor]:
    """Inside/outside of each shape in local coordinates (actor radius = 1, y down)."""
    r2 = u * u + v * v
    tri = torch.stack(
        [
            u * math.cos(a) + v * math.sin(a)
            for a in (math.pi / 2, 7 * math.pi / 6, 11 * math.pi / 6)
        ]
    )
    return [
        torch.maximum(u.abs(), v.abs()) <= 0.78,  # square
        (tri <= 0.5).all(0),  # triangle (equilateral, circumradius 1, pointing up)
        ((u.abs() <= 0.3) & (v.abs() <= 0.95)) | ((v.abs() <= 0.3) & (u.abs() <= 0.95)),  # cross
        (r2 <= 0.9**2) & ~((u > 0) & (v.abs() < 0.75 * u)),  # pacman, mouth to the right
        (u / 0.95) ** 2 + (v / 0.5) ** 2 <= 1.0,  # ellipse
    ]


def shape_atlas(supersample: int = 4) -> torch.Tensor:
    """All shapes as anti-aliased alpha sprites side by side: (1, 1, S, S * len(SHAPES))."""
    n = _SPRITE * supersample
    axis = (torch.arange(n, dtype=torch.float64) + 0.5) / n * 2 - 1
    v, u = torch.meshgrid(axis * _SPRITE_EXTENT, axis * _SPRITE_EXTENT, indexing="ij")
    tiles = []
    for inside in _shape_masks(u, v):
        alpha = F.avg_pool2d(inside[None, None].float(), supersample)[0, 0]
        alpha[[0, -1], :] = 0  # a zero border so that clamped look-ups read transparency
        alpha[:, [0, -1]] = 0
        tiles.append(alpha)
    return torch.cat(tiles, dim=1)[None, None].float()


def noise_bank(height: int, width: int) -> torch.Tensor:
    """Fixed Gaussian noise frames (_NOISE_BANK, 3, H, W), the same on every machine."""
    gen = torch.Generator().manual_seed(20_240_917 + 7919 * height + width)
    return torch.randn(_NOISE_BANK, 3, height, width, generator=gen)


_CACHE: dict[tuple, torch.Tensor] = {}


def _cached(key: tuple, make, dev: torch.device) -> torch.Tensor:
    full_key = (*key, str(dev))
    if full_key not in _CACHE:
        _CACHE[full_key] = make().to(dev)
    return _CACHE[full_key]


def _grid_axes(height: int, width: int, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates in units of half the shorter side: x (W,), y (H,)."""
    unit = min(height, width) / 2
    xs = (torch.arange(width, device=dev, dtype=torch.float32) + 0.5 - width / 2) / unit
    ys = (torch.arange(height, device=dev, dtype=torch.float32) + 0.5 - height / 2) / unit
    return xs, ys


def actor_alpha(
    cx: torch.Tensor,
    cy: torch.Tensor,
    scale: torch.Tensor,
    angle: torch.Tensor,
    shape: torch.Tensor,
    xs: torch.Tensor,
    ys: torch.Tensor,
) -> torch.Tensor:
    """Anti-aliased coverage of N actors on every frame: (N, 1, T, H, W) in [0, 1].

    ``cx``, ``cy``, ``scale``, ``angle`` (N, T) place each actor (see ClipParams), ``shape`` (N,)
    picks its sprite; ``xs`` (W,) and ``ys`` (H,) are the pixel centres (``_grid_axes``), or
    (N, T, W) and (N, T, H) for a window of its own around each actor on each frame. Every
    pixel is mapped into the sprite's frame, u = R(-angle) (x - c) / scale, and looked up.
    """
    n, t = cx.shape
    height, width = ys.shape[-1], xs.shape[-1]
    inv = 1.0 / (scale * _SPRITE_EXTENT)  # (N, T): the sprite spans [-1, 1]
    cos, sin = torch.cos(angle) * inv, torch.sin(angle) * inv
    # Shared pixel axes (W,), (H,), or each actor's own window on every frame (N, T, W).
    xs = xs.view(1, 1, 1, width) if xs.ndim == 1 else xs[:, :, None, :]
    ys = ys.view(1, 1, height, 1) if ys.ndim == 1 else ys[:, :, :, None]
    dx = xs - cx[..., None, None]  # (N, T, 1, W)
    dy = ys - cy[..., None, None]  # (N, T, H, 1)
    k = len(SHAPES)
    grid = torch.empty(n, t, height, width, 2, device=cx.device)
    gx, gy = grid[..., 0], grid[..., 1]
    torch.add(cos[..., None, None] * dx, sin[..., None, None] * dy, out=gx)
    torch.sub(cos[..., None, None] * dy, sin[..., None, None] * dx, out=gy)
    grid.clamp_(-1.0, 1.0)
    # Tile k of the atlas spans x in [2k/K - 1, 2(k+1)/K - 1].
    gx.mul_(1.0 / k).add_(((2 * shape + 1).float() / k - 1).view(n, 1, 1, 1))
    atlas = _cached(("atlas",), shape_atlas, cx.device)
    return F.grid_sample(
        atlas, grid.view(1, n * t * height, width, 2), mode="bilinear", align_corners=False
    ).view(n, 1, t, height, width)


def paint_background(
    grey: torch.Tensor, tint: torch.Tensor, wave: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor
) -> torch.Tensor:
    """Backgrounds (B, 3, 1, H, W): a tinted grey ``grey`` (B, 3) with a soft plane wave
    ``wave`` (B, 4: frequency x, frequency y, phase, amplitude) coloured by ``tint`` (B, 3)."""
    b, height, width = grey.shape[0], len(ys), len(xs)
    fx, fy, phase, amp = wave.unbind(1)
    plane = torch.sin(
        fx.view(b, 1, 1) * math.pi * xs.view(1, 1, width)
        + fy.view(b, 1, 1) * math.pi * ys.view(1, height, 1)
        + phase.view(b, 1, 1)
    )  # (B, H, W)
    background = grey.view(b, 3, 1, 1) + (amp.view(b, 1, 1, 1) * tint.view(b, 3, 1, 1)) * (
        plane.unsqueeze(1)
    )
    return background.unsqueeze(2)


def add_noise(clip: torch.Tensor, noise_frame: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Add the noise bank's frames ``noise_frame`` (B, T) times ``noise`` (B,) to ``clip``
    (B, 3, T, H, W) in place, then clamp it to [0, 1]. Returns ``clip``."""
    b, _, t, height, width = clip.shape
    if bool((noise > 0).any()):
        bank = _cached(("noise", height, width), lambda: noise_bank(height, width), clip.device)
        frames = bank.index_select(0, noise_frame.flatten()).view(b, t, 3, height, width)
        clip.addcmul_(frames.transpose(1, 2), noise.view(b, 1, 1, 1, 1))
    return clip.clamp_(0.0, 1.0)


def render(
    params: ClipParams, height: int, width: int, device: torch.device | str | None = None
) -> dict[str, torch.Tensor]:
    """Draw a batch of clips.

    Returns ``clip`` (B, 3, T, H, W) float32 in [0, 1], ``masks`` (B, T, H, W) bool (actor
    pixels), ``boxes`` (B, T, 4) float32 ``(x1, y1, x2, y2)`` in pixels enclosing each mask, and
    the per-clip ``label``, ``shape``, ``colour``, ``index`` (B,) and ``action`` (B,) bool.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    p = {f.name: getattr(params, f.name).to(dev, non_blocking=True) for f in fields(params)}
    xs, ys = _grid_axes(height, width, dev)
    alpha = actor_alpha(p["cx"], p["cy"], p["scale"], p["angle"], p["shape"], xs, ys)
    background = paint_background(p["bg_colour"], p["bg_tint"], p["bg_wave"], xs, ys)
    palette = torch.tensor(list(COLOURS.values()), device=dev)
    colour = palette[p["colour"]].view(-1, 3, 1, 1, 1)
    clip = torch.addcmul(background, alpha, colour - background)  # (B, 3, T, H, W)
    add_noise(clip, p["noise_frame"], p["noise"])
    masks = alpha[:, 0] > 0.5  # (B, T, H, W)
    boxes = boxes_from_masks(masks)
    return {
        "clip": clip,
        "label": p["label"],
        "masks": masks,
        "boxes": boxes,
        "shape": p["shape"],
        "colour": p["colour"],
        "index": p["index"],
        "action": p["label"] != STATIC_CLASS,
    }


def boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes ``(x1, y1, x2, y2)`` (pixels, x2/y2 exclusive) around masks (..., H, W).

    An empty mask gives the box (0, 0, 0, 0).
    """
    height, width = masks.shape[-2:]
    rows, cols = masks.any(-1), masks.any(-2)  # (..., H), (..., W)

    def first_last(hits: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        first = hits.to(torch.uint8).argmax(-1)
        last = n - 1 - hits.flip(-1).to(torch.uint8).argmax(-1)
        return first, last + 1

    x1, x2 = first_last(cols, width)
    y1, y2 = first_last(rows, height)
    boxes = torch.stack([x1, y1, x2, y2], dim=-1).float()
    return boxes * rows.any(-1, keepdim=True)


# --------------------------------------------------------------------------------------------
# The data set
# --------------------------------------------------------------------------------------------
def _check_choice(name: str, value: object, allowed: tuple[str, ...] | list[str]) -> None:
    if value not in allowed:
        raise BadValueError(f"{name}={value!r} is not valid; allowed values: {', '.join(allowed)}")


def split_indices(indices, split: str, size: int) -> np.ndarray:
    """``indices`` (a sequence, array or tensor of ints) as an int64 array (N,), each checked to
    lie in ``0..size - 1`` of split ``split``; BadValueError naming the first one outside."""
    idx = np.asarray(indices.cpu() if torch.is_tensor(indices) else indices).reshape(-1)
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise BadValueError(f"indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    bad = (idx < 0) | (idx >= size)
    if bad.any():
        raise BadValueError(
            f"index {int(idx[bad][0])} is out of range for split {split!r} of size {size}; "
            f"valid indices are 0..{size - 1}"
        )
    return idx


class SynthActions(Dataset):
    """Labelled clips from a procedural world where the class is the motion.

    ``SynthActions(split="train", size=None, frames=16, height=32, width=32,
    difficulty="medium", seed=0)``; ``size`` defaults to 10,000 (train) or 2,000 (val, test).
    The clip size can also come whole, ``SynthActions("train", clip_shape=ClipShape(8, 64, 64))``
    (frames, height and width left out, or equal to it); ``ds.clip_shape`` gives it back.
    ``ds[i]`` is a dict: ``clip`` (3, T, H, W) float in [0, 1], ``label``, ``boxes`` (T, 4),
    ``masks`` (T, H, W), ``shape``, ``colour``, ``action``, ``index`` and a ``caption``.
    ``ds.batch(indices, device=...)`` renders many at once, with a leading batch axis.
    """

    classes: tuple[str, ...] = CLASSES
    shapes: tuple[str, ...] = SHAPES
    colours: tuple[str, ...] = tuple(COLOURS)

    def __init__(
        self,
        split: str = "train",
        size: int | None = None,
        frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        difficulty: str = "medium",
        seed: int = 0,
        *,
        clip_shape: ClipShape | None = None,
    ) -> None:
        _check_choice("split", split, SPLITS)
        _check_choice("difficulty", difficulty, tuple(DIFFICULTIES))
        size = check_int("size", DEFAULT_SIZES[split] if size is None else size)
        shape = ClipShape.resolve(frames, height, width, clip_shape=clip_shape, default=ClipShape())
        seed = check_int("seed", seed, 0)
        if size >= 1 << 40:
            raise BadValueError(f"size must be below 2**40, got {size}")
        self.split, self.size, self.seed = split, size, seed
        self.frames, self.height, self.width = shape.frames, shape.height, shape.width
        self.difficulty = difficulty

    @property
    def clip_shape(self) -> ClipShape:
        """Frames, height and width of every clip, as one :class:`~vidbook.clip_shape.ClipShape`."""
        return ClipShape(self.frames, self.height, self.width)

    # -- the class vocabulary -----------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @staticmethod
    def time_reversed_label(label: int | torch.Tensor) -> int | torch.Tensor:
        """The class a clip of class ``label`` becomes when played backwards."""
        table = torch.tensor([CLASSES.index(TIME_REVERSED[c]) for c in CLASSES])
        return table[label] if isinstance(label, torch.Tensor) else int(table[label])

    @staticmethod
    def caption_for(label: int, shape: int, colour: int) -> str:
        """A one-sentence description, e.g. ``"a red triangle moves left"``."""
        name = tuple(COLOURS)[colour]
        article = "an" if name[0] in "aeiou" else "a"
        return f"{article} {name} {SHAPES[shape]} {VERBS[CLASSES[label]]}"

    # -- items ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.size

    def label_of(self, indices: np.ndarray) -> np.ndarray:
        """Labels of split indices: balanced, class = index mod number of classes."""
        return indices % len(self.classes)

    def _indices(self, indices) -> np.ndarray:
        return split_indices(indices, self.split, self.size)

    def params(self, indices) -> ClipParams:
        """The random choices behind clips ``indices`` (before rendering)."""
        idx = self._indices(indices)
        return draw_params(
            idx + _SPLIT_OFFSET[self.split],
            self.label_of(idx),
            self.frames,
            DIFFICULTIES[self.difficulty],
            self.seed,
        )

    def batch(
        self, indices, device: torch.device | str | None = None, captions: bool = True
    ) -> dict:
        """Render clips ``indices`` at once: ``clip`` (B, 3, T, H, W) and the rest, see render()."""
        params = self.params(indices)
        out = render(params, self.height, self.width, device)
        if captions:
            out["caption"] = [
                self.caption_for(int(lab), int(s), int(c))
                for lab, s, c in zip(params.label, params.shape, params.colour, strict=True)
            ]
        return out

    def __getitem__(self, index: int) -> dict:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise BadValueError(f"index must be an int, got {type(index).__name__}")
        one = self.batch([index])
        return {k: v[0] for k, v in one.items()}

    def __repr__(self) -> str:
        return (
            f"SynthActions(split={self.split!r}, size={self.size}, frames={self.frames}, "
            f"height={self.height}, width={self.width}, difficulty={self.difficulty!r}, "
            f"seed={self.seed})"
        )
