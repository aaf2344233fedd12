"""A video masked autoencoder (VideoMAE, Tong et al. 2022) and the classifier built on its encoder.

A clip is cut into tubelets (t frames x p x p pixels), each a token. **Tube masking** hides the
same spatial positions in every time slice, so a hidden patch cannot be copied from the frame
before it: the model has to know where things go. The **encoder** is a Vision Transformer that
reads only the visible tokens (10 % at the default ratio of 0.9), which is what makes
pre-training cheap: its cost falls with the share of visible tokens (about 10x fewer FLOPs, and
more for attention, which grows with their square). A **narrower decoder** gets the encoded
visible tokens and one learned mask token for every hidden position (with its position
embedding) and predicts the hidden tubelets' pixels; the loss is the mean squared error on the
hidden tubelets only, against their **normalised pixels** (each tubelet's pixels minus their mean,
over their standard deviation, per channel: VideoMAE's ``normlize_target``).

After pre-training, :class:`MAEClassifier` reuses the encoder on all tokens, averages them and
classifies with a linear head; ``probe=True`` trains the head alone (a linear probe).

Shapes: clips (B, C, T, H, W); tokens (B, L, dim) with L = T' H' W', T' = T / t, H' = H / p;
masks (B, L) bool, True = hidden. Tokens are ordered by (time slice, row, column).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidbook.errors import BadValueError
from vidbook.models._checks import check_clips
from vidbook.models.attention import EncoderBlock
from vidbook.models.registry import register
from vidbook.models.token_merging import run_blocks
from vidbook.scratch.video_tokens import sinusoidal_position_encoding


@dataclass(frozen=True)
class MAEConfig:
    """A VideoMAE. ``frames`` and ``size`` (square frames) must be divisible by the tubelet
    (t, p, p); ``decoder_dim`` is narrower than ``dim`` (VideoMAE-B: 768 -> 384, 4 blocks)."""

    in_channels: int = 3
    frames: int = 16
    size: int = 32
    tubelet: tuple[int, int, int] = (2, 8, 8)
    dim: int = 128
    depth: int = 4
    heads: int = 4
    decoder_dim: int = 64
    decoder_depth: int = 2
    decoder_heads: int = 4
    mlp_ratio: int = 4
    mask_ratio: float = 0.9
    input_mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    input_std: tuple[float, ...] = (0.25, 0.25, 0.25)

    def __post_init__(self) -> None:
        t, p, q = self.tubelet
        if p != q or self.frames % t or self.size % p:
            raise BadValueError(
                f"frames ({self.frames}) and size ({self.size}) must be divisible by the "
                f"tubelet {tuple(self.tubelet)} (t, p, p) with square patches"
            )
        if not 0.0 <= self.mask_ratio < 1.0:
            raise BadValueError(f"mask_ratio must be in [0, 1), got {self.mask_ratio!r}")
        if visible_count(self.grid[1] * self.grid[2], self.mask_ratio) < 1:
            raise BadValueError(
                f"mask_ratio {self.mask_ratio} hides every one of the {self.grid[1] * self.grid[2]}"
                " spatial positions; lower it or use smaller patches"
            )

    @property
    def grid(self) -> tuple[int, int, int]:
        """(T', H', W'): tubelets along time, rows and columns."""
        t, p, _ = self.tubelet
        return self.frames // t, self.size // p, self.size // p

    @property
    def tokens(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]


def visible_count(positions: int, ratio: float) -> int:
    """How many of ``positions`` spatial positions stay visible at mask ``ratio``: the hidden
    count is ``round(ratio * positions)`` (VideoMAE's ``int(mask_ratio * num_patches)`` rounds
    down; rounding is closer to the ratio asked for)."""
    return positions - round(ratio * positions)


def tube_mask(
    batch: int,
    grid: tuple[int, int, int],
    ratio: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(B, T' H' W') bool, True = hidden: per clip, ``round(ratio H' W')`` spatial positions
    drawn at random, hidden in every time slice (whole tubes over time)."""
    slices, rows, cols = grid
    positions = rows * cols
    spatial = hide_at_random(
        batch, positions, positions - visible_count(positions, ratio), generator
    )
    return spatial.repeat(1, slices).to(device or spatial.device)  # time slice major


def random_mask(
    batch: int,
    grid: tuple[int, int, int],
    ratio: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(B, T' H' W') bool, True = hidden: ``round(ratio L)`` of the L tokens per clip, drawn
    anywhere in space and time (MAE's random masking applied to a clip; compare tube_mask)."""
    if not 0.0 <= ratio < 1.0:
        raise BadValueError(f"ratio must be in [0, 1), got {ratio!r}")
    tokens = grid[0] * grid[1] * grid[2]
    mask = hide_at_random(batch, tokens, round(ratio * tokens), generator)
    return mask.to(device or mask.device)


def hide_at_random(
    batch: int, count: int, hidden: int, generator: torch.Generator | None
) -> torch.Tensor:
    """(B, count) bool with exactly ``hidden`` True per row, at places drawn uniformly."""
    noise = torch.rand(batch, count, generator=generator, device=generator_device(generator))
    order = noise.argsort(dim=1)
    mask = torch.zeros(batch, count, dtype=torch.bool, device=order.device)
    return mask.scatter_(1, order[:, :hidden], True)


def generator_device(generator: torch.Generator | None) -> torch.device:
    return torch.device("cpu") if generator is None else generator.device


def tubelets(clips: torch.Tensor, tubelet: tuple[int, int, int]) -> torch.Tensor:
    """Clips (B, C, T, H, W) -> pixels per tubelet (B, L, t p p, C), tokens by (time, row, col)."""
    b, c, T, H, W = clips.shape
    t, p, q = tubelet
    x = clips.reshape(b, c, T // t, t, H // p, p, W // q, q)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # (B, T', H', W', t, p, q, C)
    return x.reshape(b, (T // t) * (H // p) * (W // q), t * p * q, c)


def normalised_targets(clips: torch.Tensor, tubelet: tuple[int, int, int]) -> torch.Tensor:
    """VideoMAE's targets: each tubelet's pixels standardised per channel, (B, L, t p p C)."""
    x = tubelets(clips.float(), tubelet)
    x = (x - x.mean(dim=2, keepdim=True)) / (
        x.var(dim=2, unbiased=True, keepdim=True).sqrt() + 1e-6
    )
    return x.flatten(2)


class MAEEncoder(nn.Module):
    """Tubelet embedding, fixed position table, pre-norm blocks, final LayerNorm.

    ``forward(clips, mask=None)``: (B, C, T, H, W) -> (B, L_visible, dim), the tokens where
    ``mask`` (B, L) is False (every token when mask is None). Each clip must hide as many
    tokens as the others.
    """

    def __init__(self, cfg: MAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        shape = (1, cfg.in_channels, 1, 1, 1)
        self.register_buffer("input_mean", torch.tensor(cfg.input_mean).view(shape), False)
        self.register_buffer("input_std", torch.tensor(cfg.input_std).view(shape), False)
        self.embed = nn.Conv3d(cfg.in_channels, cfg.dim, cfg.tubelet, stride=cfg.tubelet)
        # fixed sinusoidal positions, as VideoMAE's (not trained, not stored)
        self.register_buffer(
            "position", sinusoidal_position_encoding(cfg.tokens, cfg.dim)[None], False
        )
        self.blocks = nn.ModuleList(
            EncoderBlock(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, clips: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embed_tokens(clips)  # (B, L, dim)
        if mask is not None:
            x = keep_visible(x, mask)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def embed_tokens(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, T, H, W) -> tubelet tokens with their positions (B, L, dim)."""
        check_mae_clips(clips, self.cfg)
        x = self.embed((clips - self.input_mean) / self.input_std).flatten(2).transpose(1, 2)
        return x + self.position

    def merged(self, clips: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Every token through the blocks with ``r`` tokens merged in each (ToMe):
        (tokens (B, L', dim), sizes (B, L', 1)), L' = L - depth r."""
        x, size = run_blocks(self.blocks, self.embed_tokens(clips), r)
        return self.norm(x), size


def check_mae_clips(clips: torch.Tensor, cfg: MAEConfig) -> None:
    """BadValueError unless ``clips`` is (B, C, frames, size, size) float, as ``cfg`` says."""
    check_clips(clips, cfg.in_channels, "the masked autoencoder")
    expected = (cfg.frames, cfg.size, cfg.size)
    if tuple(clips.shape[2:]) != expected:
        raise BadValueError(
            f"the masked autoencoder was built for clips (B, {cfg.in_channels}, "
            f"{expected[0]}, {expected[1]}, {expected[2]}), got {tuple(clips.shape)}"
        )


def keep_visible(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Tokens (B, L, D) where ``mask`` (B, L) is False -> (B, L_visible, D), in order."""
    b, n, d = tokens.shape
    if mask.shape != (b, n) or mask.dtype != torch.bool:
        raise BadValueError(f"mask: expected a bool tensor of shape {(b, n)}, got "
                            f"{mask.dtype} {tuple(mask.shape)}")  # fmt: skip
    visible = (~mask).sum(dim=1)
    if bool((visible != visible[0]).any()):
        raise BadValueError(
            f"every clip must keep as many visible tokens; counts per clip: {visible.tolist()}"
        )
    return tokens[~mask].reshape(b, int(visible[0]), d)


class VideoMAE(nn.Module):
    """Encoder on the visible tokens, narrower decoder on all of them.

    ``forward(clips, mask=None)`` -> ``(prediction, mask)``: prediction (B, L_hidden, t p p C)
    of the hidden tubelets' normalised pixels, in token order; ``mask`` (B, L) True = hidden,
    drawn by :func:`tube_mask` at ``cfg.mask_ratio`` when not given.
    """

    def __init__(self, cfg: MAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = MAEEncoder(cfg)
        self.to_decoder = nn.Linear(cfg.dim, cfg.decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        table = sinusoidal_position_encoding(cfg.tokens, cfg.decoder_dim)[None]
        self.register_buffer("decoder_position", table, False)
        self.decoder = nn.ModuleList(
            EncoderBlock(cfg.decoder_dim, cfg.decoder_heads, cfg.mlp_ratio)
            for _ in range(cfg.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(cfg.decoder_dim)
        t, p, q = cfg.tubelet
        self.head = nn.Linear(cfg.decoder_dim, t * p * q * cfg.in_channels)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def forward(
        self, clips: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if mask is None:
            mask = tube_mask(len(clips), self.cfg.grid, self.cfg.mask_ratio, device=clips.device)
        encoded = self.to_decoder(self.encoder(clips, mask))  # (B, L_visible, decoder_dim)
        position = self.decoder_position.expand(len(clips), -1, -1)
        visible = encoded + keep_visible(position, mask)
        hidden = self.mask_token + keep_visible(position, ~mask)
        x = torch.cat([visible, hidden], dim=1)  # visible first, then every hidden position
        for block in self.decoder:
            x = block(x)
        prediction = self.head(self.decoder_norm(x[:, visible.shape[1] :]))
        return prediction, mask

    def loss(self, clips: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mean squared error on the hidden tubelets' normalised pixels (a scalar)."""
        prediction, mask = self(clips, mask)
        return mae_loss(prediction, clips, mask, self.cfg.tubelet)

    def reconstruct(self, clips: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, T, H, W) with the hidden tubelets replaced by the prediction, which is
        de-normalised with the true tubelet's mean and std (as the VideoMAE demo shows it)."""
        prediction, _ = self(clips, mask)
        cfg, b = self.cfg, len(clips)
        pixels = tubelets(clips.float(), cfg.tubelet)  # (B, L, tpp, C)
        mean = pixels.mean(dim=2, keepdim=True)
        std = pixels.var(dim=2, unbiased=True, keepdim=True).sqrt() + 1e-6
        hidden = pixels[mask]  # (B L_hidden, tpp, C)
        predicted = prediction.float().reshape(hidden.shape) * std[mask] + mean[mask]
        pixels = pixels.clone()
        pixels[mask] = predicted
        return untubelets(pixels, cfg, b)


def untubelets(pixels: torch.Tensor, cfg: MAEConfig, batch: int) -> torch.Tensor:
    """Inverse of :func:`tubelets`: (B, L, t p p, C) -> (B, C, T, H, W)."""
    (slices, rows, cols), (t, p, q) = cfg.grid, cfg.tubelet
    x = pixels.reshape(batch, slices, rows, cols, t, p, q, cfg.in_channels)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)  # (B, C, T', t, H', p, W', q)
    return x.reshape(batch, cfg.in_channels, slices * t, rows * p, cols * q)


def mae_loss(
    prediction: torch.Tensor, clips: torch.Tensor, mask: torch.Tensor, tubelet: tuple[int, int, int]
) -> torch.Tensor:
    """MSE between ``prediction`` (B, L_hidden, t p p C) and the normalised pixels of the hidden
    tubelets of ``clips`` (``mask`` (B, L), True = hidden)."""
    target = normalised_targets(clips, tubelet)[mask].reshape(prediction.shape)
    return ((prediction.float() - target) ** 2).mean()


class MAEClassifier(nn.Module):
    """The MAE encoder on every token, mean pooled, LayerNorm, linear head: (B, C, T, H, W) ->
    logits (B, K). ``probe=True`` freezes the encoder (a linear probe: only ``head`` and
    ``head_norm`` learn, and the encoder stays in eval mode)."""

    def __init__(self, cfg: MAEConfig, num_classes: int = 10, probe: bool = False) -> None:
        super().__init__()
        self.cfg, self.probe = cfg, probe
        self.token_merging = 0  # tokens merged in each block (ToMe); set with set_token_merging
        self.encoder = MAEEncoder(cfg)
        self.head_norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, num_classes)
        if probe:
            self.encoder.requires_grad_(False)

    def load_pretrained(self, mae: VideoMAE | dict) -> MAEClassifier:
        """Copy the encoder's weights from a VideoMAE (or its state dict); returns self."""
        state = mae.state_dict() if isinstance(mae, nn.Module) else mae
        encoder = {k.removeprefix("encoder."): v for k, v in state.items()
                   if k.startswith("encoder.")}  # fmt: skip
        if not encoder:
            raise BadValueError(
                "load_pretrained needs a VideoMAE or its state dict (keys 'encoder.*'); got "
                f"keys like {sorted(state)[:3]}"
            )
        try:
            self.encoder.load_state_dict(encoder)
        except RuntimeError as err:
            raise BadValueError(
                f"the pre-trained encoder does not fit this classifier: {err}"
            ) from err
        return self

    def train(self, mode: bool = True) -> MAEClassifier:
        super().train(mode)
        if self.probe:
            self.encoder.eval()
        return self

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if self.token_merging == 0:
            pooled = self.encoder(clips).mean(dim=1)  # (B, dim)
        else:  # each merged token stands for `size` tokens: a size-weighted mean
            tokens, size = self.encoder.merged(clips, self.token_merging)
            pooled = (tokens * size).sum(dim=1) / size.sum(dim=1)
        return self.head(self.head_norm(pooled))


@register("vit_tubelet", sized=True)
def vit_tubelet(num_classes: int = 10, frames: int = 16, size: int = 32, **cfg) -> MAEClassifier:
    """VideoMAE's classifier trained from scratch: a plain Vision Transformer over every tubelet
    (joint space-time attention), mean pooled (the book's default: 2 x 8 x 8 tubelets, dim 128,
    4 blocks). Token merging applies to it (``vidbook.models.token_merging``)."""
    for key in ("tubelet", "input_mean", "input_std"):
        if key in cfg:
            cfg[key] = tuple(cfg[key])
    return MAEClassifier(MAEConfig(frames=frames, size=size, **cfg), num_classes)
