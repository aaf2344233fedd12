"""Input checks shared by the video models."""

from __future__ import annotations

import torch
from torch import nn

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


def check_even_clips(clips: torch.Tensor, model: str) -> None:
    """:func:`check_clips` (3 channels), and even H and W: for models with one stride-2 stage
    whose outputs return to (or are read at) full resolution."""
    check_clips(clips, 3, model)
    if clips.shape[-1] % 2 or clips.shape[-2] % 2:
        raise BadValueError(
            f"{model} needs even frame sizes (one stride-2 stage), got {tuple(clips.shape[-2:])}"
        )


def check_model(model: object, what: str) -> None:
    """ValueError unless ``model`` is an ``nn.Module``; ``what`` names the caller."""
    if not isinstance(model, nn.Module):
        raise BadValueError(
            f"{what} expects a torch.nn.Module as model, got {type(model).__name__}"
        )


def check_batch(clips: object, what: str) -> None:
    """ValueError unless ``clips`` is a floating-point (B, C, T, H, W) tensor."""
    if not isinstance(clips, torch.Tensor):
        raise BadValueError(f"{what} expects a tensor of clips, got {type(clips).__name__}")
    if clips.ndim != 5:
        hint = (
            " — one clip (C, T, H, W)? add the batch axis: clips.unsqueeze(0)"
            if clips.ndim == 4
            else ""
        )
        raise BadValueError(
            f"{what} expects a batch of clips (B, C, T, H, W), got shape {tuple(clips.shape)}"
            + hint
        )
    if not clips.is_floating_point():
        raise BadValueError(
            f"{what} expects floating-point clips, got dtype {clips.dtype}; decoded uint8 frames "
            "need preprocessing first (preprocess(), or clips.float() / 255)"
        )
