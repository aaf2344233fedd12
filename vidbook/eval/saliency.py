"""Saliency over space and time, and how to score it against the world's masks.

- :func:`grad_cam` (Selvaraju et al. 2017) for a convolutional network: the feature maps of one
  layer, each weighted by the mean gradient of the class score with respect to it, summed, ReLU.
  For a network that ends in global average pooling and a linear layer (C3D), the weights are
  the class's row of that layer over the number of cells, so Grad-CAM is the class activation
  map (CAM, Zhou et al. 2016) up to a positive factor: the tests check exactly that.
- :func:`attention_rollout` (Abnar & Zuidema 2020) for a Transformer: each block's attention,
  averaged over heads, with the residual connection added as an identity (0.5 A + 0.5 I),
  multiplied through the blocks; the relevance of each input token to a mean-pooled output is
  the mean of the rows of the product.
- :func:`share_inside` (the share of a map's mass inside the actor's mask: the "energy-based
  pointing game" of Score-CAM) and :func:`pointing_game` (whether a map's maximum falls on the
  actor: Zhang et al. 2018).

Shapes: clips (B, C, T, H, W); maps and masks (B, T, H, W).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.errors import BadValueError
from vidbook.runtime import eval_mode


def upsample(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Maps (B, T', H', W') -> (B, T, H, W) by trilinear interpolation."""
    return F.interpolate(maps[:, None].float(), size=tuple(size), mode="trilinear",
                         align_corners=False)[:, 0]  # fmt: skip


def grad_cam(
    model: nn.Module,
    layer: nn.Module,
    clips: torch.Tensor,
    target: torch.Tensor | None = None,
    logits_of: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM of ``layer`` (its output (B, K, T', H', W')) for class ``target`` (B,) (default:
    the predicted class): (maps (B, T, H, W) at the clip's size, each scaled to max 1 (a map of
    zeros stays zero), target (B,)). ``logits_of(output)`` picks the logits from the model's
    output (default: the output itself)."""
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with eval_mode(model), torch.enable_grad():
            output = model(clips)
            logits = logits_of(output) if logits_of else output
            if target is None:
                target = logits.argmax(1)
            score = logits.gather(1, target[:, None]).sum()
            (activations,) = captured
            (grads,) = torch.autograd.grad(score, activations)
    finally:
        hook.remove()
    if activations.ndim != 5:
        raise BadValueError(f"grad_cam needs a layer with (B, K, T', H', W') output, got "
                            f"{tuple(activations.shape)}")  # fmt: skip
    weights = grads.mean(dim=(2, 3, 4), keepdim=True)  # (B, K, 1, 1, 1)
    cam = F.relu((weights * activations).sum(1)).detach()  # (B, T', H', W')
    return normalise(upsample(cam, clips.shape[2:])), target.detach()


def normalise(maps: torch.Tensor) -> torch.Tensor:
    """Each map (B, ...) divided by its maximum (maps that are all zero stay zero)."""
    peak = maps.flatten(1).amax(1).clamp_min(1e-12)
    return maps / peak.view(-1, *([1] * (maps.ndim - 1)))


def attention_weights(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The head-averaged attention probabilities (B, L, L) of an ``EncoderBlock`` on its input
    tokens ``x`` (B, L, dim): softmax(q k^T / sqrt(d)) of its pre-norm queries and keys."""
    q, k, _ = block.self_attn.project(block.norm1(x))
    probs = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(-1)  # (B, heads, L, L)
    return probs.mean(1)


def attention_rollout(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Rollout of head-averaged attention maps [(B, L, L), ...] (first block first): the
    product of 0.5 A + 0.5 I over the blocks, (B, L, L); row i says how much each input token
    flows into output token i."""
    if not maps:
        raise BadValueError("attention_rollout needs the maps of at least one block")
    eye = torch.eye(maps[0].shape[-1], device=maps[0].device)
    rollout = eye.expand_as(maps[0])
    for attention in maps:
        rollout = (0.5 * attention + 0.5 * eye) @ rollout
    return rollout


@torch.no_grad()
def vit_rollout(model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Attention rollout of the mean-pooled video Transformer ``model`` (an ``MAEClassifier``:
    ``model.encoder``), as maps at the clip's size (B, T, H, W), each scaled to max 1."""
    encoder = model.encoder
    x = encoder.embed_tokens(clips)
    maps = []
    with eval_mode(model):
        for block in encoder.blocks:
            maps.append(attention_weights(block, x))
            x = block(x)
    relevance = attention_rollout(maps).mean(1)  # (B, L): into the mean-pooled output
    grid = encoder.cfg.grid
    return normalise(upsample(relevance.view(len(clips), *grid), clips.shape[2:]))


def _check_pair(maps: torch.Tensor, masks: torch.Tensor) -> None:
    if maps.shape != masks.shape or maps.ndim != 4:
        raise BadValueError(f"saliency maps and masks must both be (B, T, H, W), got "
                            f"{tuple(maps.shape)} and {tuple(masks.shape)}")  # fmt: skip


def share_inside(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The share of each map's mass (B,) that lies on the actor (``masks`` True). Maps must be
    >= 0; a map of zeros scores 0."""
    _check_pair(maps, masks)
    if (maps < 0).any():
        raise BadValueError("saliency maps must be >= 0 to be shared out")
    total = maps.flatten(1).sum(1)
    inside = (maps * masks).flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp_min(1e-12), torch.zeros_like(total))


def pointing_game(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Whether each map's maximum (over time and space) falls on the actor: (B,) bool."""
    _check_pair(maps, masks)
    peak = maps.flatten(1).argmax(1)
    return masks.flatten(1).gather(1, peak[:, None])[:, 0]


def box_masks(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Boxes (B, T, 4) ``(x1, y1, x2, y2)`` in pixels (x2, y2 exclusive) -> masks (B, T, H, W),
    True inside each frame's box: the region of the energy-based pointing game of Score-CAM."""
    if boxes.ndim != 3 or boxes.shape[-1] != 4:
        raise BadValueError(f"boxes must be (B, T, 4), got {tuple(boxes.shape)}")
    ys = torch.arange(height, device=boxes.device).view(1, 1, height, 1)
    xs = torch.arange(width, device=boxes.device).view(1, 1, 1, width)
    x1, y1, x2, y2 = (boxes[..., i, None, None] for i in range(4))
    return (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)
