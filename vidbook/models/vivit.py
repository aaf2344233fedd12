"""vivit: the factorised-encoder ViViT (Arnab et al., 2021, "ViViT: A Video Vision Transformer",
model 2).

A clip is cut into tubelets (t frames x p x p pixels, ViViT-B: 2 x 16 x 16), each a token. Two
transformers run one after the other:

1. a **spatial** encoder sees the N tokens of one tubelet-time slice at a time, plus a class
   token, and summarises the slice in that class token (late fusion: no time yet);
2. a **temporal** encoder sees the T' slice summaries, plus its own class token, which the
   linear head classifies.

Attention cost is ``T' N^2 + T'^2`` pairs instead of joint attention's ``(T' N)^2``; the price is
that time is only seen after the spatial encoder is done. Blocks are pre-norm
(``vidbook.models.attention.EncoderBlock``), attention runs on ``F.scaled_dot_product_attention``.

Sizes (``variant=``): ``tiny`` (the default, dim 64, for 32 x 32 clips on a CPU), ``small``
(ViT-S widths) and ``base`` (ViT-B: dim 768, 12 heads, 12 spatial + 4 temporal blocks, MLP
3072, tubelet 2 x 16 x 16, as ViViT-B/16x2 FE).

Parameters and forward FLOPs per clip (``torch.utils.flop_counter``, 2 FLOPs per multiply-add),
10 classes, checked by ``tests/test_zoo.py``:

=================  ========  ============  =================  ===============
model              variant   parameters    clip (T x H x W)   GFLOPs forward
=================  ========  ============  =================  ===============
vivit              tiny      161,226       16 x 32 x 32       0.03542
vivit              small     29,010,442    16 x 112 x 112     17.95
vivit              base      114,643,978   16 x 112 x 112     70.12
vivit              base      114,756,874   16 x 224 x 224     283.4
=================  ========  ============  =================  ===============
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidbook.models.attention import EncoderBlock, TubeletInput
from vidbook.models.registry import register
from vidbook.models.token_merging import run_blocks

VARIANTS = {
    "tiny": {
        "dim": 64,
        "spatial_depth": 3,
        "temporal_depth": 1,
        "heads": 4,
        "mlp_ratio": 2,
        "tubelet": (2, 8, 8),
    },
    "small": {
        "dim": 384,
        "spatial_depth": 12,
        "temporal_depth": 4,
        "heads": 6,
        "mlp_ratio": 4,
        "tubelet": (2, 16, 16),
    },
    "base": {
        "dim": 768,
        "spatial_depth": 12,
        "temporal_depth": 4,
        "heads": 12,
        "mlp_ratio": 4,
        "tubelet": (2, 16, 16),
    },
}


@dataclass
class ViViTConfig:
    num_classes: int = 10
    in_channels: int = 3
    frames: int = 16
    size: int = 32
    tubelet: tuple[int, int, int] = (2, 8, 8)  # (t, p, p)
    dim: int = 64
    spatial_depth: int = 3
    temporal_depth: int = 1
    heads: int = 4
    mlp_ratio: int = 2
    dropout: float = 0.0
    # Per-channel mean and std the input is standardised with (SynthActions' values).
    input_mean: tuple[float, ...] = (0.317, 0.315, 0.310)
    input_std: tuple[float, ...] = (0.160, 0.150, 0.154)


class ViViT(TubeletInput):
    """(B, C, T, H, W) clips -> (B, num_classes) logits."""

    name = "vivit"

    def __init__(self, cfg: ViViTConfig) -> None:
        super().__init__(cfg)
        n = self.grid[1] * self.grid[2]
        self.cls_space = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_space = nn.Parameter(torch.zeros(1, n + 1, cfg.dim))
        self.cls_time = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_time = nn.Parameter(torch.zeros(1, self.grid[0] + 1, cfg.dim))
        for param in (self.cls_space, self.pos_space, self.cls_time, self.pos_time):
            nn.init.trunc_normal_(param, std=0.02)

        def encoder(depth: int) -> nn.ModuleList:
            return nn.ModuleList(
                EncoderBlock(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout) for _ in range(depth)
            )

        self.spatial = encoder(cfg.spatial_depth)
        self.token_merging = 0  # tokens merged in each spatial block (ToMe): set_token_merging
        self.norm_space = nn.LayerNorm(cfg.dim)
        self.temporal = encoder(cfg.temporal_depth)
        self.norm_time = nn.LayerNorm(cfg.dim)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.dim, cfg.num_classes))

    def tokens(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, T, H, W) -> tubelet tokens (B, T', N, dim), N = (H/p)(W/p)."""
        return self.tubelet_tokens(clips)

    def frame_summaries(self, clips: torch.Tensor) -> torch.Tensor:
        """The spatial encoder's class token per tubelet-time slice, (B, T', dim)."""
        x = self.tokens(clips)
        b, t, n, d = x.shape
        x = torch.cat([self.cls_space.expand(b * t, 1, d), x.reshape(b * t, n, d)], dim=1)
        x = x + self.pos_space  # (B T', 1 + N, dim)
        x, _ = run_blocks(self.spatial, x, self.token_merging, protect_first=True)
        return self.norm_space(x[:, 0]).view(b, t, d)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        x = self.frame_summaries(clips)  # (B, T', dim)
        x = torch.cat([self.cls_time.expand(x.shape[0], 1, x.shape[2]), x], dim=1) + self.pos_time
        for block in self.temporal:
            x = block(x)
        return self.head(self.norm_time(x[:, 0]))  # (B, num_classes)


@register("vivit", sized=True, variants=VARIANTS, default_variant="tiny")
def vivit(num_classes: int = 10, **cfg) -> ViViT:
    for key in ("tubelet", "input_mean", "input_std"):
        if key in cfg:
            cfg[key] = tuple(cfg[key])
    return ViViT(ViViTConfig(num_classes=num_classes, **cfg))
