"""Which frames of a video make a clip: uniform, dense, TSN segments and test-time views.

Every sampler takes the video's length ``num_frames`` first and returns an int64 tensor of 0-based
frame indices in ``[0, num_frames)``, ready for ``video[:, indices]`` or a decoder's
``read_frames(path, indices)``. Randomness comes only from the optional ``torch.Generator``, so a
seeded generator gives the same clips on every run.

- ``uniform_indices``: ``clip_len`` frames spread over the whole video (the centres of equal parts).
- ``dense_indices``: ``clip_len`` consecutive frames ``stride`` apart (3D CNNs: C3D, R(2+1)D, I3D).
- ``segment_indices``: one frame from each of ``num_segments`` equal segments (TSN, TSM).
- ``multi_view_indices``: ``num_clips`` dense clips with evenly spaced starts (test-time views).

A video shorter than what is asked repeats frames rather than failing: real data sets hold a few
very short clips, and a training run should not stop on them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vidbook.checks import check_int, is_int
from vidbook.errors import BadValueError


def _check_generator(generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise BadValueError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )


def uniform_indices(num_frames: int, clip_len: int) -> Tensor:
    """``clip_len`` frames spread over the whole video: the centre of each of ``clip_len`` equal parts.

    Frame ``i`` is ``floor((i + 1/2) * num_frames / clip_len)``, computed exactly in integers.
    Returns (clip_len,) int64, non-decreasing. A video with fewer than ``clip_len`` frames repeats
    frames. These are the frames :func:`segment_indices` picks at test time.
    """
    num_frames = check_int("num_frames", num_frames)
    clip_len = check_int("clip_len", clip_len)
    i = torch.arange(clip_len, dtype=torch.int64)
    return (2 * i + 1) * num_frames // (2 * clip_len)


def dense_indices(
    num_frames: int,
    clip_len: int,
    stride: int = 1,
    *,
    generator: torch.Generator | None = None,
    start: int | None = None,
) -> Tensor:
    """``clip_len`` consecutive frames ``stride`` apart, from a random start (or the given ``start``).

    The clip spans ``(clip_len - 1) * stride + 1`` frames; its start is drawn uniformly from every
    start that keeps the clip inside the video, ``[0, num_frames - span]``, using ``generator``.
    A given ``start`` must lie in that range too. A video shorter than the span starts at frame 0
    and repeats its last frame to fill the clip (for example 5 frames, ``clip_len=4``,
    ``stride=2`` give ``[0, 2, 4, 4]``). Returns (clip_len,) int64.
    """
    num_frames = check_int("num_frames", num_frames)
    clip_len = check_int("clip_len", clip_len)
    stride = check_int("stride", stride)
    _check_generator(generator)
    last_start = max(num_frames - ((clip_len - 1) * stride + 1), 0)
    if start is None:
        start = int(torch.randint(last_start + 1, (1,), generator=generator))
    elif not is_int(start) or not 0 <= start <= last_start:
        raise BadValueError(
            f"start must be an int in [0, {last_start}] (a clip of clip_len={clip_len}, "
            f"stride={stride} inside a video of num_frames={num_frames}), got {start!r}"
        )
    indices = start + stride * torch.arange(clip_len, dtype=torch.int64)
    return indices.clamp_(max=num_frames - 1)


def segment_indices(
    num_frames: int,
    num_segments: int,
    *,
    train: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """TSN sampling: the video cut into ``num_segments`` equal segments, one frame from each.

    Segment ``i`` covers frames ``[i * num_frames / num_segments, (i + 1) * num_frames /
    num_segments)``. Training (``train=True``) takes a uniformly random frame inside each segment
    (drawn with ``generator``); testing takes its centre, the same frames as
    :func:`uniform_indices`. Returns (num_segments,) int64, non-decreasing; a video with fewer
    frames than segments repeats frames.
    """
    num_frames = check_int("num_frames", num_frames)
    num_segments = check_int("num_segments", num_segments)
    if not isinstance(train, bool):
        raise BadValueError(f"train must be True or False, got {train!r}")
    _check_generator(generator)
    if not train:
        return uniform_indices(num_frames, num_segments)
    offsets = torch.rand(num_segments, generator=generator, dtype=torch.float64)  # in [0, 1)
    positions = (torch.arange(num_segments, dtype=torch.float64) + offsets) * num_frames
    return (positions / num_segments).floor_().long().clamp_(max=num_frames - 1)


def multi_view_indices(num_frames: int, clip_len: int, num_clips: int, stride: int = 1) -> Tensor:
    """Test-time views: ``num_clips`` dense clips whose starts are evenly spaced over the video.

    The starts are the centres of ``num_clips`` equal parts of the valid starts
    ``[0, num_frames - span]`` (mmaction2's test-time ``SampleFrames``), so one clip sits in the
    middle of the video and ten clips are spread over all of it. Row ``k`` is
    ``dense_indices(num_frames, clip_len, stride, start=starts[k])``; a video shorter than the
    span gives ``num_clips`` copies of the clip starting at frame 0 (its last frame repeated).
    Returns (num_clips, clip_len) int64.
    """
    num_frames = check_int("num_frames", num_frames)
    clip_len = check_int("clip_len", clip_len)
    num_clips = check_int("num_clips", num_clips)
    stride = check_int("stride", stride)
    valid_starts = max(num_frames - ((clip_len - 1) * stride + 1), 0) + 1
    starts = uniform_indices(valid_starts, num_clips)
    indices = starts[:, None] + stride * torch.arange(clip_len, dtype=torch.int64)
    return indices.clamp_(max=num_frames - 1)
