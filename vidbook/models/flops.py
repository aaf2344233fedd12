"""FLOPs of a model on a clip, counted by ``torch.utils.flop_counter`` (not hand formulas).

The counter adds up matrix multiplications, convolutions and attention (2 FLOPs per
multiply-add); element-wise work (norms, activations) is not counted, as in every MFU figure.
Counting runs on the ``meta`` device: shapes only, no memory, no arithmetic, so a ViT-B on a
long clip is counted in a fraction of a second.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from vidbook.models.registry import build_for_clips


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
    frames: int = 16,
    height: int = 112,
    width: int = 112,
    num_classes: int = 10,
    backward: bool = False,
    **cfg,
) -> int:
    """FLOPs for one clip ``(1, 3, frames, height, width)`` through model ``name``
    (``vidbook.models.build_for_clips(name, num_classes, frames, height, width, **cfg)``,
    built on the meta device), forward only or forward and backward."""
    with torch.device("meta"):
        model = build_for_clips(name, num_classes, frames, height, width, **cfg)
        clips = torch.empty(1, 3, frames, height, width)
    model.train(backward)
    return count_flops(model, clips, backward=backward)


def parameter_count(model: torch.nn.Module) -> int:
    """Number of parameters (trainable or not) of ``model``."""
    return sum(p.numel() for p in model.parameters())
