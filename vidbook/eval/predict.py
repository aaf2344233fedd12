"""From decoded frames to a prediction: the overview's ``predict()`` done right.

``preprocess`` turns decoded frames (N, H, W, 3) uint8 into one model-ready clip; ``class_probabilities``
and ``predict`` run a model in evaluation mode and read its output as probabilities and class names.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from vidbook.checks import check_int
from vidbook.data.transforms import center_crop, resize, to_float
from vidbook.errors import BadValueError
from vidbook.models._checks import check_batch, check_model
from vidbook.runtime import eval_mode, resolve_device


def sample_indices(num_frames: int, frames: int) -> torch.Tensor:
    """``frames`` frame indices spread evenly over a video of ``num_frames`` frames, first and
    last included (repeated when the video is shorter than ``frames``): (frames,) long."""
    num_frames = check_int("num_frames", num_frames)
    frames = check_int("frames", frames)
    return torch.linspace(0, num_frames - 1, frames).round().long()


def preprocess(
    video: torch.Tensor | np.ndarray,
    frames: int = 16,
    size: int = 32,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> torch.Tensor:
    """Decoded frames (N, H, W, 3) uint8, as a video decoder gives them -> one clip
    (3, frames, size, size) float, ready for a model (add the batch axis with ``unsqueeze(0)``).

    1. sample ``frames`` frames evenly over the video (``sample_indices``);
    2. scale to [0, 1]; put the channels first;
    3. resize every frame so that its shorter side is ``size`` (bilinear, anti-aliased);
    4. cut the central ``size`` x ``size`` square;
    5. if ``mean`` and ``std`` are given (one value per channel), normalise: (x - mean) / std.
    """
    if isinstance(video, np.ndarray):
        video = torch.from_numpy(video)
    if not isinstance(video, torch.Tensor):
        raise BadValueError(
            f"preprocess expects a uint8 array or tensor, got {type(video).__name__}"
        )
    if video.ndim != 4 or video.shape[-1] != 3:
        hint = ""
        if video.ndim == 4 and 3 in video.shape[:2]:
            hint = " — channels first? preprocess takes frames as decoders give them, (N, H, W, 3)"
        raise BadValueError(
            f"preprocess expects decoded frames of shape (N, H, W, 3), got {tuple(video.shape)}"
            + hint
        )
    if video.dtype != torch.uint8:
        raise BadValueError(
            f"preprocess expects uint8 frames (0..255), got dtype {video.dtype}; clips that are "
            "already float in [0, 1] need no preprocessing"
        )
    frames = check_int("frames", frames)
    size = check_int("size", size)
    if (mean is None) != (std is None):
        raise BadValueError("preprocess: give both mean and std, or neither")
    picked = video[sample_indices(video.shape[0], frames)]  # (frames, H, W, 3)
    clip = to_float(picked.permute(3, 0, 1, 2))  # (3, frames, H, W) in [0, 1]
    x = center_crop(resize(clip, size), size).clamp(0, 1)  # (3, frames, size, size)
    if mean is not None:
        m = torch.as_tensor(mean, dtype=x.dtype)
        s = torch.as_tensor(std, dtype=x.dtype)
        if m.shape != (3,) or s.shape != (3,):
            raise BadValueError(
                f"mean and std need 3 values (R, G, B), got {list(m)} and {list(s)}"
            )
        if (s <= 0).any():
            raise BadValueError(f"std must be positive, got {s.tolist()}")
        x = (x - m[:, None, None, None]) / s[:, None, None, None]
    return x.contiguous()  # (3, frames, size, size)


def class_probabilities(model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Softmax of the model's logits: clips (B, C, T, H, W) -> (B, K) float32 on the CPU, each
    row summing to 1. Eval mode (dropout off, batch norm with its running statistics) and no
    gradient tape; the modes are restored afterwards."""
    check_model(model, "class_probabilities")
    check_batch(clips, "class_probabilities")
    with eval_mode(model):
        logits = model(clips.to(resolve_device(model=model)))
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or len(logits) != len(clips):
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise BadValueError(
            f"the model must return logits of shape (B, K) = ({len(clips)}, K), got {got}"
        )
    return logits.float().softmax(dim=1).cpu()


def predict(model: nn.Module, clips: torch.Tensor, class_names: Sequence[str]) -> list[str]:
    """The name of the most probable class of every clip: (B, C, T, H, W) -> B names.

    ``class_names[k]`` names output ``k`` of the model. The argmax runs over the class axis,
    one per clip (``argmax(dim=1)``), not over the flattened (B, K) scores.
    """
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise BadValueError(
            f"class_names must be a sequence of names, got {type(class_names).__name__}"
        )
    if not class_names or not all(isinstance(n, str) for n in class_names):
        raise BadValueError("class_names must be a non-empty sequence of strings")
    probs = class_probabilities(model, clips)  # (B, K)
    if probs.shape[1] != len(class_names):
        raise BadValueError(
            f"the model has {probs.shape[1]} outputs but {len(class_names)} class names were "
            "given: give one name per output"
        )
    return [class_names[k] for k in probs.argmax(dim=1).tolist()]  # one class per clip
