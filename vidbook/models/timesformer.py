"""timesformer: tubelet tokens and divided space-time attention (Bertasius et al., 2021).

A clip is cut into tubelets (t frames x p x p pixels), each becomes a token. Every block lets a
token attend first to the tokens at the same place in the other frames (time), then to the other
tokens of its own frame (space), then passes it through an MLP; all three are pre-norm with a
residual. A learned query then attends over all tokens to read the clip out (the role of
TimeSformer's class token), and a linear layer gives the logits. Attention runs on
``F.scaled_dot_product_attention`` (fused kernels where available).

Sizes (``variant=``): ``tiny`` (the default, for 32 x 32 clips on a CPU), ``small`` (ViT-S
widths) and ``base`` (ViT-B: dim 768, depth 12, 12 heads, MLP 3072, tubelet 2 x 16 x 16). The
published TimeSformer-B (121M parameters) has 1 x 16 x 16 patches, a class token and an extra
linear layer after each time attention; ``tubelet=(1, 16, 16)`` gives its token grid.

Parameters and forward FLOPs per clip (``torch.utils.flop_counter``, 2 FLOPs per multiply-add),
10 classes, checked by ``tests/test_zoo.py``:

=================  ========  ============  =================  ===============
model              variant   parameters    clip (T x H x W)   GFLOPs forward
=================  ========  ============  =================  ===============
timesformer        tiny      194,378       16 x 32 x 32       0.04854
timesformer        small     29,607,562    16 x 112 x 112     23.3
timesformer        base      117,017,866   16 x 112 x 112     91.46
timesformer        base      117,130,762   16 x 224 x 224     374.3
=================  ========  ============  =================  ===============
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidbook.models.attention import AttentionPool, SelfAttention, TubeletInput
from vidbook.models.registry import register

VARIANTS = {
    "tiny": {"dim": 64, "depth": 3, "heads": 4, "mlp_ratio": 2, "tubelet": (2, 8, 8)},
    "small": {"dim": 384, "depth": 12, "heads": 6, "mlp_ratio": 4, "tubelet": (2, 16, 16)},
    "base": {"dim": 768, "depth": 12, "heads": 12, "mlp_ratio": 4, "tubelet": (2, 16, 16)},
}


@dataclass
class TimeSformerConfig:
    num_classes: int = 10
    in_channels: int = 3
    frames: int = 16
    size: int = 32
    tubelet: tuple[int, int, int] = (2, 8, 8)  # (t, p, p)
    dim: int = 64
    depth: int = 3
    heads: int = 4
    mlp_ratio: int = 2
    dropout: float = 0.0
    # Per-channel pixel mean and std that the input is standardised with (SynthActions' values;
    # for real video use the statistics of the pre-training data). Unlike the CNNs, which have
    # batch norm, a transformer trained from scratch barely learns from unstandardised pixels.
    input_mean: tuple[float, ...] = (0.317, 0.315, 0.310)
    input_std: tuple[float, ...] = (0.160, 0.150, 0.154)


class DividedBlock(nn.Module):
    """Tokens (B, T, N, dim): time attention, then space attention, then an MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm_time, self.attn_time = nn.LayerNorm(dim), SelfAttention(dim, heads)
        self.norm_space, self.attn_space = nn.LayerNorm(dim), SelfAttention(dim, heads)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, n, d = x.shape
        # time: each of the N places is a sequence of T tokens
        xt = x.transpose(1, 2).reshape(b * n, t, d)
        xt = xt + self.attn_time(self.norm_time(xt))
        x = xt.view(b, n, t, d).transpose(1, 2)
        # space: each of the T frames is a sequence of N tokens
        xs = x.reshape(b * t, n, d)
        xs = xs + self.attn_space(self.norm_space(xs))
        xs = xs + self.mlp(self.norm_mlp(xs))
        return xs.view(b, t, n, d)


class TimeSformer(TubeletInput):
    """(B, C, T, H, W) clips -> (B, num_classes) logits."""

    name = "timesformer"

    def __init__(self, cfg: TimeSformerConfig) -> None:
        super().__init__(cfg)
        self.pos_time = nn.Parameter(torch.zeros(1, self.grid[0], 1, cfg.dim))
        self.pos_space = nn.Parameter(torch.zeros(1, 1, self.grid[1] * self.grid[2], cfg.dim))
        nn.init.trunc_normal_(self.pos_time, std=0.02)
        nn.init.trunc_normal_(self.pos_space, std=0.02)
        self.blocks = nn.ModuleList(
            DividedBlock(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.pool = AttentionPool(cfg.dim, cfg.heads)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.dim, cfg.num_classes))

    def tokens(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, T, H, W) -> tokens with positions (B, T/t, N, dim), N = (H/p)(W/p)."""
        return self.tubelet_tokens(clips) + self.pos_time + self.pos_space

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        x = self.tokens(clips)
        for block in self.blocks:
            x = block(x)
        return self.head(self.pool(self.norm(x.flatten(1, 2))))  # (B, num_classes)


@register("timesformer", sized=True, variants=VARIANTS, default_variant="tiny")
def timesformer(num_classes: int = 10, **cfg) -> TimeSformer:
    for key in ("tubelet", "input_mean", "input_std"):
        if key in cfg:
            cfg[key] = tuple(cfg[key])
    return TimeSformer(TimeSformerConfig(num_classes=num_classes, **cfg))
