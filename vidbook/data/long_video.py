"""Long videos made by joining SynthActions clips, with where each action starts and ends.

A video of :class:`JoinedActions` is ``clips_per_video`` clips played one after another. Each
slot is, with probability ``background``, a clip of the ``static`` class (an actor that stands
still: nothing happens), otherwise a clip of one of the nine action classes. The ground truth of a
video lists its action segments ``(start, end, label)`` in frames (end exclusive); the static
slots are background and are not listed. Videos are reproducible: video ``i`` of a split is the
same for every seed it was made with, and the splits use SynthActions' disjoint splits.

Shapes: frames (C, T, H, W) with T = clips_per_video x the clip's frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vidbook.checks import check_int
from vidbook.clip_shape import ClipShape
from vidbook.data.synth import CLASSES, STATIC_CLASS, SynthActions
from vidbook.errors import BadValueError

ACTIONS = tuple(c for c in range(len(CLASSES)) if c != STATIC_CLASS)


@dataclass(frozen=True)
class ActionSegment:
    """One action of a long video: frames ``start`` to ``end`` (exclusive), class ``label``."""

    start: int
    end: int
    label: int


class JoinedActions:
    """``videos`` long videos of a SynthActions ``split``; ``video(i)`` gives
    ``{"frames": (C, T, H, W), "segments": [ActionSegment, ...], "labels": (slots,)}``."""

    def __init__(
        self,
        split: str = "test",
        videos: int = 100,
        clips_per_video: int = 8,
        background: float = 0.5,
        difficulty: str = "medium",
        seed: int = 0,
        clip_shape: ClipShape | None = None,
    ) -> None:
        self.videos = check_int("videos", videos, 1)
        self.clips_per_video = check_int("clips_per_video", clips_per_video, 1)
        if not 0.0 <= background < 1.0:
            raise BadValueError(f"background must be a share in [0, 1), got {background!r}")
        self.background, self.seed = float(background), check_int("seed", seed, 0)
        shape = clip_shape or ClipShape()
        # every slot of every video is its own clip: index 10 k + class, k = the slot's number
        self.world = SynthActions(split, size=videos * clips_per_video * len(CLASSES),
                                  difficulty=difficulty, seed=seed, clip_shape=shape)  # fmt: skip

    def __len__(self) -> int:
        return self.videos

    def slot_labels(self, index: int) -> np.ndarray:
        """The class of each slot of video ``index`` (static = background)."""
        index = self._check(index)
        rng = np.random.default_rng([self.seed, index, 7])
        still = rng.random(self.clips_per_video) < self.background
        actions = rng.choice(ACTIONS, size=self.clips_per_video)
        return np.where(still, STATIC_CLASS, actions)

    def video(self, index: int, device: torch.device | str | None = None) -> dict:
        labels = self.slot_labels(index)
        slots = index * self.clips_per_video + np.arange(self.clips_per_video)
        clips = self.world.batch(slots * len(CLASSES) + labels, device=device, captions=False)
        frames = clips["clip"].permute(1, 0, 2, 3, 4).flatten(1, 2)  # (C, slots x T, H, W)
        length = self.world.frames
        segments = [ActionSegment(k * length, (k + 1) * length, int(label))
                    for k, label in enumerate(labels) if label != STATIC_CLASS]  # fmt: skip
        return {"frames": frames, "segments": segments, "labels": torch.as_tensor(labels)}

    def _check(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise BadValueError(f"index must be an int, got {type(index).__name__}")
        if not 0 <= index < self.videos:
            raise BadValueError(f"video {index} is out of range: there are {self.videos} videos")
        return int(index)
