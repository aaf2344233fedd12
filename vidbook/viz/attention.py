"""attention: where a TimeSformer looks — its attention weights over time and space, and pictures.

The model's attention layers run on ``F.scaled_dot_product_attention``, which returns the layer's
output but not the weights softmax(Q Kᵀ / √d). ``timesformer_attention(model, clips)`` runs the
model once with forward hooks that catch the tokens each attention layer receives, and
recomputes the weights from them with the layer's own projection (``in_proj_weight``,
``in_proj_bias``) and the from-scratch ``vidbook.scratch.attention.attention_weights``.

Token layout (that of ``vidbook.models.timesformer``): a clip (B, C, T, H, W) cut into
t×p×p tubelets gives a grid of T' = T/t time slices of H' × W' patches (H' = H/p, W' = W/p);
patch n of a slice sits at row n // W', column n % W'.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.errors import BadValueError
from vidbook.scratch.attention import attention_weights


def _heads_of(attn: nn.Module) -> tuple[torch.Tensor, int, int]:
    """(in_proj_weight (3E, E), heads, E) of a layer with nn.MultiheadAttention's layout."""
    weight = getattr(attn, "in_proj_weight", None)
    heads = getattr(attn, "heads", getattr(attn, "num_heads", None))
    if not isinstance(weight, torch.Tensor) or not isinstance(heads, int):
        raise BadValueError(
            "attn: expected an attention layer with in_proj_weight (3E, E) and heads or "
            f"num_heads, got {type(attn).__name__}"
        )
    e = weight.shape[1]
    if weight.shape != (3 * e, e) or e % heads:
        raise BadValueError(
            f"attn: expected in_proj_weight of shape (3E, E) with E divisible by the {heads} "
            f"heads, got {tuple(weight.shape)}"
        )
    return weight, heads, e


def _project(attn: nn.Module, x: torch.Tensor, part: int) -> torch.Tensor:
    """Queries (part 0), keys (1) or values (2) of tokens x (B, L, E), split into heads:
    (B, heads, L, E / heads)."""
    weight, heads, e = _heads_of(attn)
    if x.dim() != 3 or x.shape[-1] != e:
        raise BadValueError(f"x: expected tokens of shape (B, L, {e}), got {tuple(x.shape)}")
    rows = slice(part * e, (part + 1) * e)
    bias = getattr(attn, "in_proj_bias", None)
    y = F.linear(x, weight[rows], None if bias is None else bias[rows])  # (B, L, E)
    return y.unflatten(-1, (heads, e // heads)).transpose(1, 2)


def self_attention_weights(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Attention weights (B, heads, L, L) of a self-attention layer applied to tokens x (B, L, E).

    ``attn`` has ``nn.MultiheadAttention``'s parameter layout: ``in_proj_weight`` (3E, E) with
    the query, key and value rows stacked, ``in_proj_bias`` (3E,) or None, and its number of
    heads in ``heads`` (timesformer's ``SelfAttention``) or ``num_heads``. Row i of
    ``weights[b, h]`` says how much query token i takes from each token; it sums to 1.
    """
    return attention_weights(_project(attn, x, 0), _project(attn, x, 1))


def query_attention_weights(pool: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Weights (B, heads, 1, L) with which a learned query reads tokens x (B, L, E).

    ``pool`` holds the query in ``query`` (1, 1, E) and ``nn.MultiheadAttention``'s projection
    layout (``in_proj_weight`` (3E, E), ``in_proj_bias``, ``heads``), as timesformer's
    ``AttentionPool`` does. Each row sums to 1 over the L tokens.
    """
    query = getattr(pool, "query", None)
    if not isinstance(query, torch.Tensor) or query.dim() != 3 or query.shape[:2] != (1, 1):
        raise BadValueError(
            f"pool: expected a module with a learned query (1, 1, E), got {type(pool).__name__}"
        )
    k = _project(pool, x, 1)  # (B, heads, L, E / heads)
    q = _project(pool, query.to(x.dtype), 0).expand(len(x), -1, -1, -1)  # (B, heads, 1, E / h)
    return attention_weights(q, k)


def _check_timesformer(model: nn.Module) -> tuple[int, int, int]:
    """The token grid (T', H', W') of a timesformer-like model, or a ValueError."""
    grid, blocks = getattr(model, "grid", None), getattr(model, "blocks", None)
    ok = (
        isinstance(grid, tuple)
        and len(grid) == 3
        and isinstance(blocks, nn.ModuleList)
        and len(blocks) > 0
        and all(hasattr(b, "attn_time") and hasattr(b, "attn_space") for b in blocks)
    )
    if not ok:
        raise BadValueError(
            "model: expected a timesformer (vidbook.models.build('timesformer', ...)) with "
            f"`grid` (T', H', W') and `blocks` holding attn_time and attn_space, got "
            f"{type(model).__name__}"
        )
    return grid


def timesformer_attention(model: nn.Module, clips: torch.Tensor) -> dict[str, Any]:
    """The attention weights of every block of a timesformer on clips (B, C, T, H, W).

    Runs one forward pass (no gradients, eval mode; the model's mode is restored) and returns:

    - ``"time"``: (depth, B, heads, N, T', T'); ``time[k, b, h, n, i, j]`` is the weight that
      patch position n of time slice i gives to the same position in slice j, in block k.
    - ``"space"``: (depth, B, heads, T', N, N); ``space[k, b, h, t, n, m]`` is the weight that
      patch n of slice t gives to patch m of the same slice, in block k.
    - ``"logits"``: (B, num_classes), the model's output from the same pass.
    - ``"grid"``: (T', H', W'), with N = H'·W'; patch n is at row n // W', column n % W'.
    - ``"pool"`` (only for a model that reads its tokens out with a learned query, a ``pool``
      module with a ``query``): (B, heads, T', N), the weight the query gives each token.

    The weights sum to 1 over the last axis (``pool``: over the last two).
    """
    t, h, w = _check_timesformer(model)
    if not isinstance(clips, torch.Tensor) or clips.dim() != 5:
        raise BadValueError(
            f"clips: expected a tensor of shape (B, C, T, H, W), got "
            f"{tuple(clips.shape) if isinstance(clips, torch.Tensor) else type(clips).__name__}"
        )
    caught: dict[str, list[torch.Tensor]] = {"time": [], "space": [], "pool": []}

    def catch(kind: str, weights_of):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            caught[kind].append(weights_of(module, inputs[0]))

        return hook

    modules = [(b.attn_time, "time") for b in model.blocks]
    modules += [(b.attn_space, "space") for b in model.blocks]
    pool = getattr(model, "pool", None)
    has_pool = isinstance(getattr(pool, "query", None), torch.Tensor)
    handles = [m.register_forward_hook(catch(kind, self_attention_weights)) for m, kind in modules]
    if has_pool:
        handles.append(pool.register_forward_hook(catch("pool", query_attention_weights)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            logits = model(clips)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    b, n = clips.shape[0], h * w
    # attn_time saw (B·N, T', dim) sequences, attn_space (B·T', N, dim): restore B.
    time = torch.stack([x.unflatten(0, (b, n)).transpose(1, 2) for x in caught["time"]])
    space = torch.stack([x.unflatten(0, (b, t)).transpose(1, 2) for x in caught["space"]])
    out = {"time": time, "space": space, "logits": logits, "grid": (t, h, w)}
    if has_pool:
        out["pool"] = caught["pool"][0][:, :, 0].unflatten(-1, (t, n))  # (B, heads, T', N)
    return out


def patch_occupancy(masks: torch.Tensor, tubelet: tuple[int, int, int]) -> torch.Tensor:
    """Fraction of each tubelet covered by a mask: masks (T, H, W) or (B, T, H, W) in [0, 1]
    -> (T', H', W') or (B, T', H', W') with T' = T/t, H' = H/p, W' = W/p.

    With the actor masks of SynthActions this says which tokens hold the actor.
    """
    if len(tubelet) != 3 or min(tubelet) <= 0:
        raise BadValueError(f"tubelet: expected three positive sizes (t, p, p), got {tubelet}")
    if masks.dim() not in (3, 4):
        raise BadValueError(f"masks: expected shape (T, H, W) or (B, T, H, W), got {masks.shape}")
    if any(size % k for size, k in zip(masks.shape[-3:], tubelet, strict=True)):
        raise BadValueError(
            f"masks: expected T, H, W divisible by the tubelet {tuple(tubelet)}, got "
            f"{tuple(masks.shape[-3:])}"
        )
    x = masks.float().reshape(-1, 1, *masks.shape[-3:])  # (B, 1, T, H, W)
    out = F.avg_pool3d(x, kernel_size=tuple(tubelet))[:, 0]  # (B, T', H', W')
    return out if masks.dim() == 4 else out[0]


def overlay_attention(
    frame: torch.Tensor,
    weights: torch.Tensor,
    ax=None,
    query: tuple[int, int] | None = None,
    alpha: float = 0.6,
    vmax: float | None = None,
    title: str | None = None,
):
    """Draw a frame (C, H, W) in [0, 1] with attention weights (H', W') over its patch grid.

    Each patch is coloured by its weight (the map is upsampled to the frame by repeating each
    value over its p×p pixels, so a patch stays one colour); ``query`` (row, col) marks the patch
    whose attention this is. Returns the heat map's image (for ``plt.colorbar``).
    """
    import matplotlib.pyplot as plt

    if frame.dim() != 3 or frame.shape[0] not in (1, 3):
        raise BadValueError(f"frame: expected shape (C, H, W) with C in (1, 3), got {frame.shape}")
    if weights.dim() != 2:
        raise BadValueError(f"weights: expected a (H', W') map, got shape {tuple(weights.shape)}")
    (hp, wp), (_, height, width) = weights.shape, frame.shape
    if height % hp or width % wp:
        raise BadValueError(
            f"weights: a ({hp}, {wp}) grid does not tile a {height}x{width} frame evenly"
        )
    ph, pw = height // hp, width // wp
    image = frame.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).expand(-1, -1, 3)
    heat = weights.detach().float().cpu().repeat_interleave(ph, 0).repeat_interleave(pw, 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(2.2, 2.2))
    ax.imshow(image.numpy(), interpolation="nearest")
    shown = ax.imshow(heat.numpy(), cmap="inferno", alpha=alpha, vmin=0, vmax=vmax)
    ax.hlines([r * ph - 0.5 for r in range(1, hp)], -0.5, width - 0.5, color="w", lw=0.4)
    ax.vlines([c * pw - 0.5 for c in range(1, wp)], -0.5, height - 0.5, color="w", lw=0.4)
    if query is not None:
        r, c = query
        ax.add_patch(
            plt.Rectangle((c * pw - 0.5, r * ph - 0.5), pw, ph, fill=False, ec="cyan", lw=2)
        )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return shown
