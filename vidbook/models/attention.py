"""Attention layers shared by the video transformers (``timesformer``, ``vivit``).

Tokens are ``(B, L, dim)``. Attention runs on ``F.scaled_dot_product_attention``, which picks a
fused kernel (FlashAttention, memory-efficient) on CUDA and a plain one on the CPU. Parameter names
follow ``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer``, so the tests can load the
same weights into PyTorch's layers and compare outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.errors import BadValueError
from vidbook.models._checks import check_clips


class SelfAttention(nn.Module):
    """Multi-head self-attention over (B, L, dim) with ``nn.MultiheadAttention``'s parameter
    names (in_proj_weight (3 dim, dim), in_proj_bias, out_proj), computed with SDPA."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise BadValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """``causal``: token i attends to tokens 0..i only (a language model's mask)."""
        q, k, v = self.project(x)
        return self.combine(F.scaled_dot_product_attention(q, k, v, is_causal=causal))

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokens (B, L, dim) -> queries, keys, values, each (B, heads, L, dim / heads)."""
        b, n, d = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B, L, 3 dim)
        return qkv.view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)

    def combine(self, heads: torch.Tensor) -> torch.Tensor:
        """The heads' outputs (B, heads, L, dim / heads) -> (B, L, dim) through ``out_proj``."""
        b, _, n, _ = heads.shape
        return self.out_proj(heads.transpose(1, 2).reshape(b, n, -1))


class AttentionPool(nn.Module):
    """A learned query attends over the tokens (B, L, dim) -> (B, dim): a weighted average whose
    weights the model chooses, instead of the plain mean, which drowns a small actor in the
    background tokens. Parameters are named as in ``nn.MultiheadAttention``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.query, std=0.02)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        w_q, w_kv = self.in_proj_weight.split([d, 2 * d])
        b_q, b_kv = self.in_proj_bias.split([d, 2 * d])
        q = F.linear(self.query, w_q, b_q).view(1, 1, self.heads, d // self.heads)
        q = q.transpose(1, 2).expand(b, -1, -1, -1)  # (B, heads, 1, dim / heads)
        k, v = (
            F.linear(x, w_kv, b_kv)
            .view(b, n, 2, self.heads, d // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, 1, dim / heads)
        return self.out_proj(out.reshape(b, d))


class EncoderBlock(nn.Module):
    """Pre-norm transformer block on tokens (B, L, dim): x + attn(norm1 x), then x + mlp(norm2 x).

    Parameter names are those of ``nn.TransformerEncoderLayer(dim, heads, mlp_ratio * dim,
    activation="gelu", norm_first=True, batch_first=True)`` (``self_attn``, ``linear1``,
    ``linear2``, ``norm1``, ``norm2``); with dropout 0 the two compute the same function.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1, self.self_attn = nn.LayerNorm(dim), SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.linear1, self.linear2 = (
            nn.Linear(dim, mlp_ratio * dim),
            nn.Linear(mlp_ratio * dim, dim),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        x = x + self.dropout(self.self_attn(self.norm1(x), causal))
        return x + self.mlp(x)

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        """The block's second half without its residual: dropout(MLP(norm2 x)), (B, L, dim)."""
        return self.dropout(self.linear2(self.dropout(F.gelu(self.linear1(self.norm2(x))))))


class TubeletInput(nn.Module):
    """Base of the video transformers: standardise clips and cut them into tubelet tokens.

    ``cfg`` needs ``in_channels``, ``frames``, ``size``, ``tubelet`` (t, p, p), ``dim``,
    ``input_mean`` and ``input_std``. Sets ``cfg``, ``grid`` = (T', H', W') = (frames / t,
    size / p, size / p), the buffers ``input_mean`` and ``input_std`` (1, C, 1, 1, 1) and the
    tubelet embedding ``embed`` (a Conv3d with kernel = stride = tubelet).
    """

    name = "video transformer"  # for error messages

    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        t, p, q = cfg.tubelet
        if p != q or cfg.frames % t or cfg.size % p:
            raise BadValueError(
                f"frames ({cfg.frames}) and size ({cfg.size}) must be divisible by the tubelet "
                f"{tuple(cfg.tubelet)} (t, p, p)"
            )
        if len(cfg.input_mean) != cfg.in_channels or len(cfg.input_std) != cfg.in_channels:
            raise BadValueError(
                f"input_mean and input_std need one value per channel ({cfg.in_channels}), got "
                f"{cfg.input_mean} and {cfg.input_std}"
            )
        self.grid = (cfg.frames // t, cfg.size // p, cfg.size // p)
        shape = (1, cfg.in_channels, 1, 1, 1)
        self.register_buffer("input_mean", torch.tensor(cfg.input_mean).view(shape), False)
        self.register_buffer("input_std", torch.tensor(cfg.input_std).view(shape), False)
        self.embed = nn.Conv3d(
            cfg.in_channels, cfg.dim, kernel_size=cfg.tubelet, stride=cfg.tubelet
        )

    def tubelet_tokens(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, T, H, W) -> tubelet tokens (B, T', N, dim), N = H' W', no positions."""
        check_clips(clips, self.cfg.in_channels, self.name)
        expected = (self.cfg.frames, self.cfg.size, self.cfg.size)
        if tuple(clips.shape[2:]) != expected:
            raise BadValueError(
                f"{self.name} was built for clips (B, {self.cfg.in_channels}, {expected[0]}, "
                f"{expected[1]}, {expected[2]}), got {tuple(clips.shape)}; build it with "
                "frames=... and size=... to match"
            )
        x = self.embed((clips - self.input_mean) / self.input_std)  # (B, dim, T', H', W')
        return x.flatten(3).permute(0, 2, 3, 1)  # (B, T', N, dim)
