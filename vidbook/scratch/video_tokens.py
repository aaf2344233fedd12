"""video_tokens: turning clips into tokens, and attention over space and time.

- Position encodings: attention itself ignores order, so each token gets its position added;
  either fixed sines and cosines (Vaswani et al., 2017) or a learned table (ViT, ViViT).
- Tubelet embedding (ViViT, Arnab et al., 2021): cut the clip into non-overlapping t×p×p blocks
  and map each block, flattened, to one token with the same linear layer.
- Divided space-time attention (TimeSformer, Bertasius et al., 2021): instead of letting all
  T·N tokens of a clip attend to each other, first attend across time (each patch position over
  the T frames), then across space (each frame's N patches among themselves).

Tokens are ordered frame by frame: token t·N + n is patch n of frame (or tubelet slice) t, the
order in which ``TubeletEmbedding`` returns them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vidbook.errors import BadValueError
from vidbook.scratch.attention import MultiHeadAttention


def sinusoidal_position_encoding(
    n: int, dim: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(n, dim) table of fixed position encodings (Vaswani et al., 2017):

        PE[pos, 2i]     = sin(pos / 10000^(2i / dim))
        PE[pos, 2i + 1] = cos(pos / 10000^(2i / dim))     for i = 0 .. dim/2 - 1

    Each pair of columns is a clock turning at its own speed, from one radian per position
    (i = 0) to one turn in 2π·10000 positions. Row 0 is [0, 1, 0, 1, ...].
    """
    if n < 0 or dim <= 0 or dim % 2:
        raise BadValueError(f"expected n >= 0 and a positive, even dim, got n={n} and dim={dim}")
    pos = torch.arange(n, dtype=torch.float64)[:, None]  # (n, 1)
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)  # (dim/2,)
    angle = pos / 10000.0 ** (two_i / dim)  # (n, dim/2)
    table = torch.stack([angle.sin(), angle.cos()], dim=-1)  # (n, dim/2, 2): sin, cos pairs
    return table.reshape(n, dim).to(dtype)


class LearnedPositionEncoding(nn.Module):
    """A learned (1, n, dim) table added to the tokens: (B, L, dim) -> (B, L, dim), L <= n.

    Initialised from a normal distribution with standard deviation 0.02, as in ViT.
    """

    def __init__(self, n: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, n, dim) * 0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, n, dim = self.weight.shape
        if tokens.dim() != 3 or tokens.shape[1] > n or tokens.shape[2] != dim:
            raise BadValueError(
                f"tokens: expected shape (B, L, {dim}) with L <= {n}, got {tuple(tokens.shape)}"
            )
        return tokens + self.weight[:, : tokens.shape[1]]


class TubeletEmbedding(nn.Module):
    """Clips (B, C, T, H, W) -> tokens (B, T/t · H/p · W/p, dim), one per t×p×p tubelet.

        token[b, (i, j, k)] = W · vec(clip[b, :, i·t:(i+1)·t, j·p:(j+1)·p, k·p:(k+1)·p]) + bias

    with W the (dim, C·t·p·p) matrix. ``weight`` (dim, C, t, p, p) and ``bias`` (dim,) are
    shaped like those of ``nn.Conv3d(C, dim, kernel_size=tubelet, stride=tubelet)``: a
    convolution whose stride equals its kernel sees each tubelet exactly once, so it computes
    the same tokens (after ``flatten(2).transpose(1, 2)``). Tokens are ordered by (i, j, k):
    time slice, then row, then column.
    """

    def __init__(
        self, in_channels: int, dim: int, tubelet: tuple[int, int, int] = (2, 16, 16)
    ) -> None:
        super().__init__()
        if len(tubelet) != 3 or min(tubelet) <= 0:
            raise BadValueError(f"tubelet: expected three positive sizes (t, p, p), got {tubelet}")
        self.in_channels, self.dim, self.tubelet = in_channels, dim, tuple(tubelet)
        self.weight = nn.Parameter(torch.empty(dim, in_channels, *tubelet))
        self.bias = nn.Parameter(torch.empty(dim))
        # The initialisation of nn.Conv3d: uniform in ±1/√fan_in for both.
        bound = 1.0 / math.sqrt(in_channels * math.prod(tubelet))
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        t, ph, pw = self.tubelet
        if clips.dim() != 5 or clips.shape[1] != self.in_channels:
            raise BadValueError(
                f"clips: expected shape (B, C={self.in_channels}, T, H, W), "
                f"got {tuple(clips.shape)}"
            )
        b, c, T, H, W = clips.shape
        if T % t or H % ph or W % pw:
            raise BadValueError(
                f"clips: expected T, H, W divisible by the tubelet {self.tubelet}, "
                f"got T, H, W = {(T, H, W)}"
            )
        x = clips.reshape(b, c, T // t, t, H // ph, ph, W // pw, pw)
        x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # (B, T/t, H/p, W/p, C, t, p, p)
        x = x.reshape(b, (T // t) * (H // ph) * (W // pw), c * t * ph * pw)  # one row per tubelet
        return x @ self.weight.reshape(self.dim, -1).T + self.bias  # (B, tokens, dim)


class DividedSpaceTimeAttention(nn.Module):
    """TimeSformer's divided attention: tokens (B, T·N, dim) -> (B, T·N, dim).

        x = x + TimeAttention(LayerNorm_time(x))     each patch position n attends over its T frames
        x = x + SpaceAttention(LayerNorm_space(x))   each frame t's N patches attend among themselves

    Each step is an ordinary multi-head self-attention over a reshaped batch: (B·N, T, dim)
    for time, (B·T, N, dim) for space. A query then meets T + N keys instead of T·N
    (see ``attention_cost``). The TimeSformer block follows these two steps with an MLP; its
    code also passes the time result through one more linear layer, carries a class token and
    orders tokens patch by patch, all left out here.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.norm_time = nn.LayerNorm(dim)
        self.attn_time = MultiHeadAttention(dim, num_heads)
        self.norm_space = nn.LayerNorm(dim)
        self.attn_space = MultiHeadAttention(dim, num_heads)

    def forward(self, tokens: torch.Tensor, num_frames: int, num_patches: int) -> torch.Tensor:
        """tokens: (B, T·N, dim), token t·N + n is patch n of frame t; T = num_frames,
        N = num_patches."""
        T, N = num_frames, num_patches
        dim = self.attn_time.embed_dim
        if tokens.dim() != 3 or tokens.shape[1] != T * N or tokens.shape[2] != dim:
            raise BadValueError(
                f"tokens: expected shape (B, T·N = {T}·{N} = {T * N}, {dim}), "
                f"got {tuple(tokens.shape)}"
            )
        b = tokens.shape[0]
        # Time: one sequence of T tokens per (clip, patch position).
        x = tokens.reshape(b, T, N, dim).transpose(1, 2).reshape(b * N, T, dim)
        y = self.norm_time(x)
        x = x + self.attn_time(y, y, y)[0]
        # Space: one sequence of N tokens per (clip, frame).
        x = x.reshape(b, N, T, dim).transpose(1, 2).reshape(b * T, N, dim)
        y = self.norm_space(x)
        x = x + self.attn_space(y, y, y)[0]
        return x.reshape(b, T * N, dim)


def attention_cost(T: int, N: int, dim: int) -> dict[str, int]:
    """Query-key pairs and floating-point operations of joint and divided attention over a clip
    of T frames of N patches, with tokens of ``dim`` features.

        joint:   (T·N)² pairs: every token meets every token
        divided: T·N² + N·T² pairs: N² per frame, T² per patch position

    Each pair costs a dot product of ``dim`` numbers for the score and ``dim`` multiply-adds
    to weigh the value: 4·dim FLOPs (a multiply-add counts 2, as in
    ``torch.utils.flop_counter``), whatever the number of heads. The projections and the
    softmax are not counted. Returns {"joint_pairs", "divided_pairs", "joint_flops",
    "divided_flops"}.
    """
    if min(T, N, dim) <= 0:
        raise BadValueError(f"expected positive T, N, dim, got T={T}, N={N}, dim={dim}")
    joint, divided = (T * N) ** 2, T * N**2 + N * T**2
    return {
        "joint_pairs": joint,
        "divided_pairs": divided,
        "joint_flops": 4 * dim * joint,
        "divided_flops": 4 * dim * divided,
    }
