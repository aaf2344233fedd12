"""SynthScenes: the SynthActions world with several actors, for detection, tracking,
segmentation, captioning, question answering and retrieval.

Every clip shows 1 to 4 actors (``actors=(lo, hi)``) on the same textured, noisy backgrounds as
SynthActions. Each actor has its own shape and colour (no two alike in a clip), size, depth
(which actor hides which) and motion class; the moving ones differ in motion too, and several
may stay still. An actor moves during its own window of the clip (``start`` to ``end``), and the
windows start at least ``_START_GAP[0]`` of the clip apart, so "which actor starts moving first"
always has one answer. Paths are long enough to cross and to leave or enter the frame.

Per frame each actor has a *visible* mask (its own pixels minus those of actors in front of it)
and a tight box around it; an actor with too little of itself in view (hidden, or outside the
frame) has no box on that frame (``visible`` is False, the box is zeros). The slot of an actor
in its clip is its track id within the clip; ``track_id`` makes it unique across the data set.
Captions (English and Chinese) and questions come from ``vidbook.data.scene_text``.

Rendering is batched like SynthActions' (one sprite look-up for all actors of a batch), and item
``i`` of a split is the same on every run and machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from vidbook.checks import check_int
from vidbook.clip_shape import ClipShape
from vidbook.data import scene_text
from vidbook.data.scene_render import MAX_ACTORS, instance_masks, render_scenes  # noqa: F401
from vidbook.data.synth import (
    _SPLIT_OFFSET,
    CLASSES,
    COLOURS,
    DEFAULT_SIZES,
    DIFFICULTIES,
    SHAPES,
    SPLITS,
    _between,
    _splitmix64,
    _uniform,
    draw_params,
    split_indices,
)
from vidbook.errors import BadValueError

__all__ = ["MAX_ACTORS", "SceneParams", "SynthScenes", "draw_scene_params", "instance_masks",
           "render_scenes"]  # fmt: skip

STATIC = CLASSES.index("static")
MOVING = tuple(i for i in range(len(CLASSES)) if i != STATIC)
_SEED_SALT = 0x5CE7E5  # scenes and SynthActions with the same seed draw different worlds
_RADIUS = (0.17, 0.26)  # actor radius at mid-motion, units of half the shorter side
_TRAVEL = (0.8, 1.6)  # long enough to cross one another and to leave or enter the frame
_MID_LIMIT = 0.65  # the centre of an actor's path lies in [-0.65, 0.65]^2
_START_GAP = (0.12, 0.22)  # motion windows start this far apart (fractions of the clip)
_DURATION = (0.3, 0.7)  # how long a motion lasts (fractions of the clip, at most to its end)
_P_STATIC = 0.25  # chance that an actor stays still


@dataclass
class SceneParams:
    """All random choices for B scenes of T frames, A = MAX_ACTORS actor slots (CPU tensors).

    (B, A): ``active`` (bool), ``colour``, ``shape``, ``motion`` (-1 where inactive), ``depth``
    (0 = at the back), ``start``, ``end`` (fractions of the clip), ``track_id``; (B, A, T):
    ``cx``, ``cy``, ``scale``, ``angle`` as in SynthActions; background and noise as there.
    """

    index: torch.Tensor
    active: torch.Tensor
    colour: torch.Tensor
    shape: torch.Tensor
    motion: torch.Tensor
    depth: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    track_id: torch.Tensor
    cx: torch.Tensor
    cy: torch.Tensor
    scale: torch.Tensor
    angle: torch.Tensor
    noise_frame: torch.Tensor
    bg_colour: torch.Tensor
    bg_tint: torch.Tensor
    bg_wave: torch.Tensor
    noise: torch.Tensor

    def actors(self, clip: int) -> list[scene_text.Actor]:
        """The actors of clip ``clip`` of the batch, in slot order, for captions and questions."""
        return [
            scene_text.Actor(
                int(self.colour[clip, a]),
                int(self.shape[clip, a]),
                int(self.motion[clip, a]),
                float(self.start[clip, a]),
                float(self.end[clip, a]),
            )
            for a in range(MAX_ACTORS)
            if bool(self.active[clip, a])
        ]


def _ranks(u: np.ndarray) -> np.ndarray:
    """Each row's argsort: a random permutation per row from uniforms (B, K)."""
    return np.argsort(u, axis=1, kind="stable")


def draw_scene_params(
    global_index: np.ndarray,
    frames: int,
    actors: tuple[int, int],
    difficulty: str,
    seed: int,
) -> SceneParams:
    """Draw scenes ``global_index`` (int64 (B,)) with ``actors[0]``..``actors[1]`` actors."""
    seed = (seed ^ _SEED_SALT) & ((1 << 63) - 1)
    base = draw_params(global_index, np.full(len(global_index), STATIC), frames,
                       DIFFICULTIES[difficulty], seed)  # fmt: skip
    keys = _splitmix64(global_index.astype(np.uint64) ^ _splitmix64(np.full(1, seed, np.uint64)))
    b, a, lo, hi = len(global_index), MAX_ACTORS, actors[0], actors[1]

    def per_actor(stream: int) -> np.ndarray:  # (B, A) uniforms
        return np.stack([_uniform(keys, 1000 + 64 * slot + stream) for slot in range(a)], axis=1)

    def per_item(stream: int, k: int) -> np.ndarray:  # (B, k) uniforms
        return np.stack([_uniform(keys, 5000 + 64 * stream + i) for i in range(k)], axis=1)

    count = lo + np.floor(_uniform(keys, 900) * (hi - lo + 1)).astype(np.int64)
    active = np.arange(a)[None, :] < count[:, None]
    colour = _ranks(per_item(0, len(COLOURS)))[:, :a]
    shape = _ranks(per_item(1, len(SHAPES)))[:, :a]
    moving = np.asarray(MOVING)[_ranks(per_item(2, len(MOVING)))[:, :a]]
    motion = np.where(per_actor(0) < _P_STATIC, STATIC, moving)
    depth = np.argsort(_ranks(per_item(3, a)), axis=1)
    order = np.argsort(_ranks(per_item(4, a)), axis=1)  # which actor starts when
    gaps = _between(per_item(5, a), _START_GAP)  # (B, A): the k-th gap precedes the k-th start
    gaps[:, 0] = 0.05 * per_item(6, 1)[:, 0]  # the first motion starts within 5 % of the clip
    start = np.take_along_axis(np.cumsum(gaps, axis=1), order, axis=1)
    end = np.minimum(start + _between(per_actor(2), _DURATION), 1.0)
    still = motion == STATIC
    start, end = np.where(still, 0.0, start), np.where(still, 0.0, end)

    t = np.linspace(0.0, 1.0, frames)[None, None, :]  # (1, 1, T)
    span = np.maximum(end - start, 1e-6)[..., None]
    progress = np.clip((t - start[..., None]) / span, 0.0, 1.0)  # (B, A, T)
    centred = progress - 0.5
    is_ = {name: (motion == CLASSES.index(name))[..., None] for name in CLASSES}
    away = 2 * math.pi * per_actor(3)[..., None]
    dx = np.select([is_["move_left"], is_["move_right"], is_["out_and_back"]],
                   [-1.0, 1.0, np.cos(away)], 0.0)  # fmt: skip
    dy = np.select([is_["move_up"], is_["move_down"], is_["out_and_back"]],
                   [-1.0, 1.0, np.sin(away)], 0.0)  # fmt: skip
    moves = is_["move_left"] | is_["move_right"] | is_["move_up"] | is_["move_down"]
    bounce = 0.5 * (1.0 - np.abs(2.0 * progress - 1.0)) - 0.25
    path = np.where(moves, centred, 0.0) + np.where(is_["out_and_back"], bounce, 0.0)
    travel = _between(per_actor(4), _TRAVEL)[..., None]
    mid_x = ((2 * per_actor(5) - 1) * _MID_LIMIT)[..., None]
    mid_y = ((2 * per_actor(6) - 1) * _MID_LIMIT)[..., None]
    level = DIFFICULTIES[difficulty]
    turn = _between(per_actor(7), level.turn)[..., None]
    zoom = np.log(_between(per_actor(8), level.zoom))[..., None]
    spin = is_["rotate_cw"].astype(float) - is_["rotate_ccw"].astype(float)
    growth = is_["grow"].astype(float) - is_["shrink"].astype(float)
    radius = _between(per_actor(9), _RADIUS)[..., None]
    angle0 = (2 * math.pi * per_actor(10))[..., None]
    full = (b, a, frames)

    def f32(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.broadcast_to(x, full), dtype=np.float32))

    def i64(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.where(active, x, -1).astype(np.int64))

    return SceneParams(
        index=torch.from_numpy(global_index.astype(np.int64)),
        active=torch.from_numpy(active),
        colour=i64(colour),
        shape=i64(shape),
        motion=i64(motion),
        depth=i64(depth),
        start=torch.from_numpy(np.where(active, start, 0.0).astype(np.float32)),
        end=torch.from_numpy(np.where(active, end, 0.0).astype(np.float32)),
        track_id=i64(global_index[:, None] * a + np.arange(a)[None, :]),
        cx=f32(mid_x + dx * travel * path),
        cy=f32(mid_y + dy * travel * path),
        scale=f32(radius * np.exp(growth * zoom * centred)),
        angle=f32(angle0 + spin * turn * centred),
        noise_frame=base.noise_frame,
        bg_colour=base.bg_colour,
        bg_tint=base.bg_tint,
        bg_wave=base.bg_wave,
        noise=base.noise,
    )


class SynthScenes(Dataset):
    """Scenes of 1 to 4 actors with boxes, masks, track ids, captions and questions.

    ``SynthScenes(split="train", size=None, clip_shape=ClipShape(16, 32, 32), actors=(1, 4),
    difficulty="medium", seed=0)``. ``ds.batch(indices, device=...)`` renders scenes at once
    (see :func:`render_scenes`) and adds ``caption`` ({"en": [...], "zh": [...]}) and
    ``questions`` (a list of :class:`~vidbook.data.scene_text.Question` per scene);
    ``ds[i]`` is one scene without the batch axis.
    """

    def __init__(
        self,
        split: str = "train",
        size: int | None = None,
        clip_shape: ClipShape | None = None,
        actors: tuple[int, int] = (1, MAX_ACTORS),
        difficulty: str = "medium",
        seed: int = 0,
    ) -> None:
        if split not in SPLITS:
            raise BadValueError(f"split must be one of {SPLITS}, got {split!r}")
        if difficulty not in DIFFICULTIES:
            raise BadValueError(
                f"difficulty must be one of {tuple(DIFFICULTIES)}, got {difficulty!r}"
            )
        if not (isinstance(actors, tuple) and len(actors) == 2):
            raise BadValueError(f"actors must be a pair (fewest, most), got {actors!r}")
        lo = check_int("actors[0]", actors[0], 1)
        hi = check_int("actors[1]", actors[1], lo)
        if hi > MAX_ACTORS:
            raise BadValueError(f"actors[1] must be at most {MAX_ACTORS}, got {hi}")
        self.split, self.seed, self.difficulty = split, check_int("seed", seed, 0), difficulty
        self.size = check_int("size", DEFAULT_SIZES[split] if size is None else size)
        if self.size >= 1 << 40:
            raise BadValueError(f"size must be below 2**40, got {self.size}")
        self.clip_shape = ClipShape.resolve(clip_shape=clip_shape, default=ClipShape())
        self.actors = (lo, hi)

    def __len__(self) -> int:
        return self.size

    def params(self, indices) -> SceneParams:
        """The random choices behind scenes ``indices`` (before rendering)."""
        idx = split_indices(indices, self.split, self.size) + _SPLIT_OFFSET[self.split]
        return draw_scene_params(
            idx, self.clip_shape.frames, self.actors, self.difficulty, self.seed
        )

    def batch(
        self, indices, device: torch.device | str | None = None, captions: bool = True
    ) -> dict:
        """Render scenes ``indices``; with ``captions``, add their captions and questions."""
        params = self.params(indices)
        out = render_scenes(params, self.clip_shape.height, self.clip_shape.width, device)
        out["start"], out["end"] = params.start, params.end
        if captions:
            scenes = [params.actors(i) for i in range(len(params.index))]
            out["caption"] = {
                lang: [scene_text.caption_text(scene_text.caption_tokens(s, lang), lang)
                       for s in scenes]
                for lang in scene_text.LANGUAGES
            }  # fmt: skip
            out["questions"] = [scene_text.questions_for(s) for s in scenes]
        return out

    def __getitem__(self, index: int) -> dict:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise BadValueError(f"index must be an int, got {type(index).__name__}")
        one = self.batch([index])
        item = {k: v[0] for k, v in one.items() if k != "caption"}
        item["caption"] = {lang: text[0] for lang, text in one["caption"].items()}
        return item

    def __repr__(self) -> str:
        return (
            f"SynthScenes(split={self.split!r}, size={self.size}, clip_shape={self.clip_shape}, "
            f"actors={self.actors}, difficulty={self.difficulty!r}, seed={self.seed})"
        )
