"""FLOPs of a model on a clip, counted by ``torch.utils.flop_counter`` (not hand formulas).

The counter adds up matrix multiplications, convolutions and attention (2 FLOPs per
multiply-add); element-wise work (norms, activations) is not counted, as in every MFU figure.
Counting runs on the ``meta`` device: shapes only, no memory, no arithmetic, so a ViT-B on a
long clip is counted in a fraction of a second.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from vidbook.clip_shape import ClipShape
from vidbook.models.registry import build_for_clips

PAPER_CLIP = ClipShape(16, 112, 112)  # the clip size of the C3D and R(2+1)D papers


def count_flops(model: torch.nn.Module, clips: torch.Tensor, backward: bool = False) -> int:
    """FLOPs of ``model(clips)`` (``clips`` ``(B, C, T, H, W)``), plus its backward pass if
    ``backward`` (then the FLOPs of one training step without the optimizer)."""
    if backward:
        clips = clips.detach().requires_grad_(False)
    with FlopCounterMode(display=False) as counter:
        out = model(clips)
        if backward:
            out.float().sum().backward()
    return int(counter.get_total_flops())


def flops_per_clip(
    name: str,
    frames: int | ClipShape | None = None,
    height: int | None = None,
    width: int | None = None,
    num_classes: int = 10,
    backward: bool = False,
    *,
    clip_shape: ClipShape | None = None,
    **cfg,
) -> int:
    """FLOPs for one clip through model ``name`` (``vidbook.models.build_for_clips``, built on
    the meta device), forward only or forward and backward (in training mode). The clip's size
    is a ClipShape (the second argument or ``clip_shape=``) or ``frames, height, width``; what
    is left out is the papers' 16 x 112 x 112."""
    shape = ClipShape.resolve(frames, height, width, clip_shape=clip_shape, default=PAPER_CLIP)
    with torch.device("meta"):
        model = build_for_clips(name, num_classes, shape, **cfg)
    return clip_flops(model, shape, backward=backward)


def clip_flops(
    model: torch.nn.Module,
    frames: int | ClipShape | None = None,
    height: int | None = None,
    width: int | None = None,
    backward: bool = False,
    *,
    clip_shape: ClipShape | None = None,
) -> int:
    """FLOPs per clip ``(3, T, H, W)`` of ``model``, the size given as a ClipShape or as
    ``frames, height, width``, counted on a batch of two (batch norm in training mode needs more
    than one value per channel) and halved; the model is put in training mode with
    ``backward``, in evaluation mode without."""
    shape = ClipShape.resolve(frames, height, width, clip_shape=clip_shape)
    device = next(model.parameters()).device
    clips = torch.empty(shape.batch(2), device=device)
    model.train(backward)
    return count_flops(model, clips, backward=backward) // 2


def parameter_count(model: torch.nn.Module) -> int:
    """Number of parameters (trainable or not) of ``model``."""
    return sum(p.numel() for p in model.parameters())
