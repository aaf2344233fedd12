"""How much one frame of SynthActions tells about the class: the best single-frame accuracy.

A single frame shows the actor's position, size, orientation, shape and colour, and the
background. Shape, colour, orientation and background are drawn independently of the class.
Position and size are not quite: the actor must stay in view, so a clip that moves right starts
left of the middle more often, and a growing actor is small on its first frame. On the middle
frame the difference is smallest, on the first and last frames it is largest.
``single_frame_accuracy`` measures how much that tells: the accuracy of the rule that predicts
the most frequent class of each cell of a grid over those attributes, fitted and scored on the
same clips — the best any classifier of that one frame can do, up to the grid's resolution and
a slight upward bias (each cell's largest count is a little lucky). Chance is 10 %.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vidbook.checks import is_int
from vidbook.data.synth import _POSITION_LIMIT, DIFFICULTIES, SynthActions
from vidbook.errors import BadValueError

ATTRIBUTES = ("x", "y", "size", "angle")


def frame_attributes(
    world: SynthActions, frame: int, clips: int | None = None
) -> dict[str, np.ndarray]:
    """What frame ``frame`` of clips ``0..clips-1`` (default: all of ``world``) shows of the actor, each (clips,) in [0, 1):
    ``x`` and ``y`` (its centre as a fraction of the frame), ``size`` (log radius as a fraction
    of the difficulty's range) and ``angle`` (a fraction of a turn); and ``label`` (clips,)."""
    if not -world.frames <= frame < world.frames:
        raise BadValueError(f"frame must be in -{world.frames}..{world.frames - 1}, got {frame}")
    clips = len(world) if clips is None else clips
    if not is_int(clips) or not 1 <= clips <= len(world):
        raise BadValueError(
            f"clips must be an int in 1..{len(world)} (the world's size), got {clips!r}"
        )
    params = world.params(np.arange(clips))
    d = DIFFICULTIES[world.difficulty]
    lo = math.log(d.radius[0]) - math.log(d.zoom[1]) / 2  # the smallest and largest radius
    hi = math.log(d.radius[1]) + math.log(d.zoom[1]) / 2
    log_size = (params.scale[:, frame].double().log() - lo) / (hi - lo)
    reach = _POSITION_LIMIT  # the centre stays in [-reach, reach]^2

    def unit(v: torch.Tensor) -> np.ndarray:
        return ((v.double() / reach + 1) / 2).clamp(0, 1 - 1e-9).numpy()

    return {
        "x": unit(params.cx[:, frame]),
        "y": unit(params.cy[:, frame]),
        "size": log_size.clamp(0, 1 - 1e-9).numpy(),
        "angle": (params.angle[:, frame].double() / (2 * math.pi)).numpy() % 1.0,
        "label": params.label.numpy(),
    }


def cell_accuracy(features: np.ndarray, labels: np.ndarray, bins: int) -> float:
    """Accuracy of predicting the most frequent label in each cell of a grid.

    ``features`` (N, D) in [0, 1), ``bins`` cells per dimension, ``labels`` (N,) ints.
    """
    cells = np.minimum((features * bins).astype(np.int64), bins - 1)
    cell = np.ravel_multi_index(cells.T, (bins,) * features.shape[1])
    k = int(labels.max()) + 1
    counts = np.bincount(cell * k + labels, minlength=bins ** features.shape[1] * k)
    return float(counts.reshape(-1, k).max(axis=1).sum() / len(labels))


def single_frame_accuracy(
    world: SynthActions, frame: int, clips: int | None = None, bins: int = 4
) -> float:
    """The best accuracy a classifier of frame ``frame`` alone can reach on ``world``,
    measured on its first ``clips`` clips (default: all) over a ``bins``-per-side grid of the actor's position,
    size and angle (an upper bound up to sampling noise; chance is 1 / number of classes)."""
    seen = frame_attributes(world, frame, clips)
    features = np.stack([seen[name] for name in ATTRIBUTES], axis=1)
    return cell_accuracy(features, seen["label"], bins)


__all__ = ["ATTRIBUTES", "cell_accuracy", "frame_attributes", "single_frame_accuracy"]
