"""dit: a diffusion transformer (DiT; Peebles & Xie, 2023, "Scalable Diffusion Models with
Transformers") over spacetime patches, for class-conditional video generation.

A clip ``(B, C, T, H, W)`` in model space ([-1, 1], see ``vidbook.train.generation``) is cut into
``L = (T / t)(H / p)(W / p)`` patches of ``t x p x p`` pixels, tokens ordered by (time, row,
column). A linear layer embeds each patch, a **fixed** 3D sine-cosine position embedding (not
learned: one 1D embedding per axis, concatenated, as DiT's 2D one) is added, and ``depth``
DiT blocks run on the tokens. The condition ``c = t_emb + y_emb`` is the sum of an embedding of
the flow time ``t`` (sinusoidal of ``1000 t``, then an MLP) and of the class (index
``num_classes`` is the null label of classifier-free guidance).

Every block is *adaLN-Zero*: ``SiLU -> Linear(dim, 6 dim)`` of ``c`` gives a shift, a scale and a
gate for the attention and for the MLP, the LayerNorms have no parameters of their own, and the
modulation layer starts at zero, so each block starts as the identity. The final layer
(adaLN, then a zero-initialised linear map back to patches) makes the untrained model output
exactly zero. The model predicts the flow-matching velocity ``v(x, t, label)``, same shape as x.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.checks import check_int
from vidbook.errors import BadValueError
from vidbook.models._checks import check_clips
from vidbook.models.attention import SelfAttention

PREDICTIONS = ("velocity", "data")
MIN_ONE_MINUS_T = 0.05  # data prediction: the velocity divides by max(1 - t, this)
FREQUENCY_DIM = 256  # sinusoidal features of t before the timestep MLP (DiT's value)


@dataclass
class DiTConfig:
    """A VideoDiT: clips ``(B, in_channels, frames, size, size)``; ``patch`` (t, p, p) pixels a
    token; ``dim``, ``depth``, ``heads``, ``mlp_ratio`` of the transformer; ``num_classes`` real
    classes (label ``num_classes`` is "no class"); ``class_dropout`` the probability that
    training replaces a label by the null one (read by the objective; stored here so that a
    checkpoint knows it). ``prediction``: what the last layer predicts, ``"velocity"`` itself or
    the clean ``"data"`` x1, turned into the velocity ``(x1_hat - x_t) / (1 - t)`` (with 1 - t
    at least :data:`MIN_ONE_MINUS_T`): a patch of 4 x 8 x 8 x 3 = 768 numbers cannot pass
    through a 128-wide network, and noise (part of the velocity) has no structure to compress,
    while clean clips do (Li & He, 2025, "Back to Basics: Let Denoising Generative Models
    Denoise")."""

    in_channels: int = 3
    frames: int = 16
    size: int = 32
    patch: tuple[int, int, int] = (4, 8, 8)
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 4
    num_classes: int = 10
    class_dropout: float = 0.1
    prediction: str = "velocity"

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise BadValueError(f"prediction must be one of {PREDICTIONS}, got {self.prediction!r}")
        for name in ("in_channels", "frames", "size", "dim", "depth", "heads", "mlp_ratio",
                     "num_classes"):  # fmt: skip
            check_int(name, getattr(self, name), 1)
        patch = self.patch
        if not (isinstance(patch, Sequence) and len(patch) == 3 and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in patch
        )):  # fmt: skip
            raise BadValueError(f"patch must be three ints >= 1 (t, p, p), got {patch!r}")
        self.patch = tuple(int(v) for v in patch)
        t, p, q = self.patch
        if p != q:
            raise BadValueError(f"patch must be square in space (t, p, p), got {self.patch}")
        if self.frames % t:
            raise BadValueError(
                f"frames ({self.frames}) must be divisible by the patch's t ({t}), patch "
                f"{self.patch}"
            )
        if self.size % p:
            raise BadValueError(
                f"size ({self.size}) must be divisible by the patch's p ({p}), patch {self.patch}"
            )
        if self.dim % self.heads:
            raise BadValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.dim % 2 or self.dim < 6:
            raise BadValueError(
                f"dim must be an even int >= 6 (3D sine-cosine positions), got {self.dim}"
            )
        drop = self.class_dropout
        if not (isinstance(drop, (int, float)) and not isinstance(drop, bool) and 0 <= drop <= 1):
            raise BadValueError(f"class_dropout must be a number in [0, 1], got {drop!r}")

    @property
    def grid(self) -> tuple[int, int, int]:
        """Tokens along time, rows and columns: (frames / t, size / p, size / p)."""
        t, p, _ = self.patch
        return (self.frames // t, self.size // p, self.size // p)

    @property
    def patch_dim(self) -> int:
        """Values in one patch: in_channels * t * p * p."""
        return self.in_channels * math.prod(self.patch)


def to_model_space(clips: torch.Tensor) -> torch.Tensor:
    """Clips in [0, 1] -> model space [-1, 1]: ``2 clips - 1`` (same shape)."""
    return clips * 2 - 1


def to_clip_space(x: torch.Tensor) -> torch.Tensor:
    """Model space -> clips in [0, 1]: ``(x + 1) / 2``, clamped to [0, 1] (same shape)."""
    return ((x + 1) / 2).clamp(0, 1)


def patchify(clips: torch.Tensor, patch: Sequence[int]) -> torch.Tensor:
    """Clips (B, C, T, H, W) -> tokens (B, L, C*t*p*q), L = (T/t)(H/p)(W/q), ordered by (time,
    row, column); a token's values are ordered (channel, frame, row, column) of its patch."""
    t, p, q = patch
    if clips.ndim != 5:
        raise BadValueError(f"patchify expects clips (B, C, T, H, W), got {tuple(clips.shape)}")
    b, c, frames, h, w = clips.shape
    if frames % t or h % p or w % q:
        raise BadValueError(
            f"patchify: clip size {(frames, h, w)} must be divisible by the patch {tuple(patch)}"
        )
    x = clips.reshape(b, c, frames // t, t, h // p, p, w // q, q)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # (B, T', H', W', C, t, p, q)
    return x.reshape(b, (frames // t) * (h // p) * (w // q), c * t * p * q)


def unpatchify(
    tokens: torch.Tensor, patch: Sequence[int], grid: Sequence[int], channels: int
) -> torch.Tensor:
    """Tokens (B, L, C*t*p*q) -> clips (B, C, T'*t, H'*p, W'*q); the inverse of
    :func:`patchify` for ``grid`` = (T', H', W') tokens along time, rows and columns."""
    t, p, q = patch
    gt, gh, gw = grid
    want = (gt * gh * gw, channels * t * p * q)
    if tokens.ndim != 3 or tuple(tokens.shape[1:]) != want:
        raise BadValueError(
            f"unpatchify expects tokens (B, {want[0]}, {want[1]}) for grid {tuple(grid)}, patch "
            f"{tuple(patch)} and {channels} channels, got {tuple(tokens.shape)}"
        )
    x = tokens.reshape(tokens.shape[0], gt, gh, gw, channels, t, p, q)
    x = x.permute(0, 4, 1, 5, 2, 6, 3, 7)  # (B, C, T', t, H', p, W', q)
    return x.reshape(tokens.shape[0], channels, gt * t, gh * p, gw * q)


def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Positions (N,) -> (N, dim) float32: sines then cosines of dim / 2 frequencies."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = positions.double()[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_3d(grid: Sequence[int], dim: int) -> torch.Tensor:
    """Fixed 3D position embedding (L, dim) of a (T', H', W') grid in (time, row, column) order:
    rows and columns get 2 * (dim // 6) features each, time the rest (dim must be even)."""
    d_hw = 2 * (dim // 6)
    gt, gh, gw = grid
    tt, hh, ww = torch.meshgrid(torch.arange(gt), torch.arange(gh), torch.arange(gw), indexing="ij")
    parts = [sincos_1d(tt.flatten(), dim - 2 * d_hw), sincos_1d(hh.flatten(), d_hw),
             sincos_1d(ww.flatten(), d_hw)]  # fmt: skip
    return torch.cat(parts, dim=1)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Flow times t (B,) in [0, 1] -> (B, dim) float32: cosines then sines of ``1000 t`` (DiT's
    timestep scale) at dim / 2 frequencies from 1 to 1 / max_period (a zero column if dim is
    odd)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


class TimestepEmbedder(nn.Module):
    """t (B,) in [0, 1] -> (B, dim): :func:`timestep_embedding` then Linear, SiLU, Linear."""

    def __init__(self, dim: int, frequency_dim: int = FREQUENCY_DIM) -> None:
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.frequency_dim).to(self.mlp[0].weight.dtype))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Tokens (B, L, dim) shifted and scaled per clip by shift, scale (B, dim): x (1 + scale) +
    shift."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def _zero_linear(dim_in: int, dim_out: int) -> nn.Linear:
    layer = nn.Linear(dim_in, dim_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class DiTBlock(nn.Module):
    """adaLN-Zero transformer block: tokens x (B, L, dim) and condition c (B, dim) -> (B, L, dim).

    ``x + gate_msa * attn(modulate(norm1 x, shift_msa, scale_msa))``, then the same for the MLP;
    the six (B, dim) modulations come from ``SiLU -> Linear(dim, 6 dim)`` of c, zero at init, so
    the block starts as the identity."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim),
            nn.GELU(approximate="tanh"),
            nn.Linear(mlp_ratio * dim, dim),
        )
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), _zero_linear(dim, 6 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(
            c
        ).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class FinalLayer(nn.Module):
    """Tokens (B, L, dim) and c (B, dim) -> patches (B, L, patch_dim): adaLN (shift and scale
    from c), then a linear map; both linear layers start at zero."""

    def __init__(self, dim: int, patch_dim: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), _zero_linear(dim, 2 * dim))
        self.linear = _zero_linear(dim, patch_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class VideoDiT(nn.Module):
    """The velocity field of class-conditional flow matching.

    ``VideoDiT(cfg)(x, t, label)``: x (B, C, T, H, W) float in model space, t (B,) float flow
    times in [0, 1], label (B,) long in [0, num_classes] (num_classes = null label) -> velocity
    (B, C, T, H, W). Attributes: ``cfg``, ``grid`` (T', H', W'), ``null_label``, ``pos_embed``
    (1, L, dim), a fixed buffer (not in the state dict)."""

    def __init__(self, cfg: DiTConfig | None = None) -> None:
        super().__init__()
        cfg = cfg if cfg is not None else DiTConfig()
        if not isinstance(cfg, DiTConfig):
            raise BadValueError(f"cfg must be a DiTConfig, got {type(cfg).__name__}")
        self.cfg, self.grid, self.null_label = cfg, cfg.grid, cfg.num_classes
        self.x_embedder = nn.Linear(cfg.patch_dim, cfg.dim)
        self.register_buffer("pos_embed", sincos_3d(self.grid, cfg.dim)[None], persistent=False)
        self.t_embedder = TimestepEmbedder(cfg.dim)
        self.y_embedder = nn.Embedding(cfg.num_classes + 1, cfg.dim)
        self.blocks = nn.ModuleList(
            DiTBlock(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)
        )
        self.final_layer = FinalLayer(cfg.dim, cfg.patch_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        """DiT's initialisation: Xavier-uniform linear layers with zero biases, N(0, 0.02)
        timestep MLP, zero adaLN modulations and output layer; but N(0, 1) class embeddings
        (see the comment)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        # DiT draws the class embedding with std 0.02 and trains for 400k steps. The time
        # embedding's output is about 1 per feature, so at 0.02 the class is 1/50 of the
        # condition and a short run never learns to use it (guidance then changes nothing):
        # start both at the same scale.
        nn.init.normal_(self.y_embedder.weight, std=1.0)
        for layer in (self.t_embedder.mlp[0], self.t_embedder.mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        zeroed = [block.adaLN_modulation[1] for block in self.blocks]
        zeroed += [self.final_layer.adaLN_modulation[1], self.final_layer.linear]
        for layer in zeroed:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def to_model_space(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips in [0, 1] -> what the model generates, here pixels in [-1, 1]."""
        return to_model_space(clips)

    def to_clips(self, x: torch.Tensor) -> torch.Tensor:
        """What the model generates -> clips in [0, 1] (clamped)."""
        return to_clip_space(x)

    def check_inputs(self, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor) -> None:
        """BadValueError unless x, t and label are as :class:`VideoDiT` expects."""
        cfg = self.cfg
        check_clips(x, cfg.in_channels, "VideoDiT")
        want = (cfg.frames, cfg.size, cfg.size)
        if tuple(x.shape[2:]) != want:
            raise BadValueError(
                f"VideoDiT was built for x of shape (B, {cfg.in_channels}, {want[0]}, {want[1]}, "
                f"{want[2]}), got {tuple(x.shape)}"
            )
        b = x.shape[0]
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.shape != (b,):
            got = (f"{t.dtype} {tuple(t.shape)}" if isinstance(t, torch.Tensor)
                   else type(t).__name__)  # fmt: skip
            raise BadValueError(f"t must be a float tensor of shape ({b},), got {got}")
        if (
            not isinstance(label, torch.Tensor)
            or label.is_floating_point()
            or label.dtype == torch.bool
            or label.shape != (b,)
        ):
            got = (f"{label.dtype} {tuple(label.shape)}" if isinstance(label, torch.Tensor)
                   else type(label).__name__)  # fmt: skip
            raise BadValueError(f"label must be an integer tensor of shape ({b},), got {got}")
        if bool(((label < 0) | (label > cfg.num_classes)).any()):
            raise BadValueError(
                f"label must be in [0, {cfg.num_classes}] ({cfg.num_classes} = null label), got "
                f"values from {int(label.min())} to {int(label.max())}"
            )

    def forward(self, x: torch.Tensor, t: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Velocity (B, C, T, H, W) at x (B, C, T, H, W), times t (B,), labels (B,)."""
        self.check_inputs(x, t, label)
        tokens = self.x_embedder(patchify(x, self.cfg.patch)) + self.pos_embed  # (B, L, dim)
        c = self.t_embedder(t) + self.y_embedder(label)  # (B, dim)
        for block in self.blocks:
            tokens = block(tokens, c)
        patches = self.final_layer(tokens, c)  # (B, L, patch_dim)
        out = unpatchify(patches, self.cfg.patch, self.grid, self.cfg.in_channels)
        if self.cfg.prediction == "velocity":
            return out
        one_minus_t = (1 - t).clamp(min=MIN_ONE_MINUS_T).view(-1, 1, 1, 1, 1)
        return (out - x) / one_minus_t  # the velocity towards the predicted clean clip
