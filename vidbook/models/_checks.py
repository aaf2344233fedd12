"""Input checks shared by the video models."""

from __future__ import annotations

import torch

from vidbook.errors import BadValueError


def check_clips(clips: torch.Tensor, channels: int, model: str, min_frames: int = 1) -> None:
    """Raise a ValueError unless ``clips`` is a float (B, channels, T, H, W) tensor."""
    if not isinstance(clips, torch.Tensor):
        raise BadValueError(f"{model} expects a tensor of clips, got {type(clips).__name__}")
    if clips.ndim != 5 or clips.shape[1] != channels:
        raise BadValueError(
            f"{model} expects clips of shape (B, {channels}, T, H, W), got {tuple(clips.shape)}"
            + (
                " — is the time axis before the channels? use clips.transpose(1, 2)"
                if clips.ndim == 5 and clips.shape[2] == channels
                else ""
            )
        )
    if not clips.is_floating_point():
        raise BadValueError(
            f"{model} expects floating-point clips (e.g. in [0, 1]), got dtype {clips.dtype}"
        )
    if clips.shape[2] < min_frames:
        raise BadValueError(f"{model} needs at least {min_frames} frames, got {clips.shape[2]}")
