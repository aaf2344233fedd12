"""A small 3D convolutional autoencoder that compresses clips in time and space: the first stage of
the large video generators (CogVideoX, HunyuanVideo and Wan compress 4x in time and 8x in space
into 16 channels, with a variational autoencoder; a diffusion Transformer then generates the
compressed clip, and the decoder turns it back into pixels).

Ours compresses 16 x 32 x 32 x 3 clips 4x in time and 4x in space into ``latent_channels``
channels (8 by default: 2,048 numbers for 49,152 pixels, 24x fewer). It is a plain autoencoder
(no KL term): the generator only needs latents of a fixed scale, which
:meth:`VideoAutoencoder.set_latent_scale` measures on real clips (Stable Diffusion's
"scaling factor").

Shapes: clips (B, 3, T, H, W) in [0, 1]; latents (B, latent_channels, T / 4, H / 4, W / 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidbook.errors import BadValueError
from vidbook.models._checks import check_clips


@dataclass(frozen=True)
class AutoencoderConfig:
    """``width``: channels after the first halving (twice it after the second), latent channels, and how much time and space shrink (``time_factor`` and ``space_factor``: 4 = two stride-2 stages)."""

    in_channels: int = 3
    width: int = 32
    latent_channels: int = 8
    time_factor: int = 4
    space_factor: int = 4

    def __post_init__(self) -> None:
        for name in ("time_factor", "space_factor"):
            if getattr(self, name) not in (1, 2, 4):
                raise BadValueError(f"{name} must be 1, 2 or 4, got {getattr(self, name)!r}")
        if self.width < 16 or self.width % 16:
            raise BadValueError(
                f"width must be a multiple of 16 (group norms of 8), got {self.width!r}"
            )
        for name in ("in_channels", "width", "latent_channels"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise BadValueError(f"{name} must be an int >= 1, got {getattr(self, name)!r}")

    def strides(self) -> list[tuple[int, int, int]]:
        """The (time, height, width) strides of the two downsampling stages."""
        t, s = self.time_factor, self.space_factor
        return [(min(t, 2), min(s, 2), min(s, 2)), (t // min(t, 2), s // min(s, 2), s // min(s, 2))]


def space_to_depth(x: torch.Tensor, factor: tuple[int, int, int]) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C t h w, T / t, H / h, W / w): each t x h x w block of pixels
    becomes channels (a 3D "pixel unshuffle": no arithmetic, a cheap first downsampling)."""
    b, c, frames, height, width = x.shape
    t, h, w = factor
    x = x.reshape(b, c, frames // t, t, height // h, h, width // w, w)
    x = x.permute(0, 1, 3, 5, 7, 2, 4, 6)  # (B, C, t, h, w, T/t, H/h, W/w)
    return x.reshape(b, c * t * h * w, frames // t, height // h, width // w)


def depth_to_space(x: torch.Tensor, factor: tuple[int, int, int]) -> torch.Tensor:
    """The inverse of :func:`space_to_depth`."""
    b, channels, frames, height, width = x.shape
    t, h, w = factor
    c = channels // (t * h * w)
    x = x.reshape(b, c, t, h, w, frames, height, width)
    x = x.permute(0, 1, 5, 2, 6, 3, 7, 4)  # (B, C, T/t, t, H/h, h, W/w, w)
    return x.reshape(b, c, frames * t, height * h, width * w)


def _conv(c_in: int, c_out: int, stride: tuple[int, int, int] = (1, 1, 1)) -> nn.Sequential:
    """Convolution (3x3x3, or 4x4x4-like with stride 2 along an axis), group norm, SiLU."""
    kernel = tuple(3 if s == 1 else 4 for s in stride)
    return nn.Sequential(nn.Conv3d(c_in, c_out, kernel, stride, 1), nn.GroupNorm(8, c_out),
                         nn.SiLU())  # fmt: skip


class VideoAutoencoder(nn.Module):
    """``encode(clips) -> latents`` (scaled to about unit standard deviation once
    :meth:`set_latent_scale` has run), ``decode(latents) -> clips`` (in [0, 1] after a sigmoid),
    ``forward(clips) -> reconstruction``.

    The first halving of time and space moves pixels into channels (:func:`space_to_depth`) and
    the last doubling moves them back, so that no convolution runs at full resolution: on a CPU
    those would cost most of the time."""

    def __init__(self, cfg: AutoencoderConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or AutoencoderConfig()
        w = cfg.width
        self.first, second = cfg.strides()
        unshuffled = cfg.in_channels * self.first[0] * self.first[1] * self.first[2]
        self.encoder = nn.Sequential(
            _conv(unshuffled, w), _conv(w, 2 * w, second),
            nn.Conv3d(2 * w, cfg.latent_channels, 1),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            _conv(cfg.latent_channels, 2 * w),
            nn.Upsample(scale_factor=second, mode="nearest"), _conv(2 * w, w),
            nn.Conv3d(w, unshuffled, 3, padding=1),
        )  # fmt: skip
        self.register_buffer("latent_scale", torch.ones(()))

    def check_clip_size(self, clips: torch.Tensor) -> None:
        """BadValueError unless ``clips`` is (B, C, T, H, W) float with T, H and W divisible by
        the compression."""
        check_clips(clips, self.cfg.in_channels, "the video autoencoder")
        t, s = self.cfg.time_factor, self.cfg.space_factor
        frames, height, width = clips.shape[2:]
        if frames % t or height % s or width % s:
            raise BadValueError(
                f"the video autoencoder compresses time by {t} and space by {s}: frames, height "
                f"and width must be divisible by them, got {(frames, height, width)}"
            )

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, T, H, W) in [0, 1] -> latents (B, latent_channels, T/t, H/s, W/s)."""
        self.check_clip_size(clips)
        return self.encoder(space_to_depth(clips * 2 - 1, self.first)) / self.latent_scale

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents -> clips in [0, 1] (B, C, T, H, W)."""
        if latents.ndim != 5 or latents.shape[1] != self.cfg.latent_channels:
            raise BadValueError(
                f"latents: expected (B, {self.cfg.latent_channels}, T, H, W), got "
                f"{tuple(latents.shape)}"
            )
        return torch.sigmoid(depth_to_space(self.decoder(latents * self.latent_scale), self.first))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(clips))

    @torch.no_grad()
    def set_latent_scale(self, clips: torch.Tensor) -> float:
        """Set the scale so that the latents of ``clips`` have standard deviation 1; return it."""
        self.latent_scale.fill_(1.0)
        scale = float(self.encode(clips).std())
        self.latent_scale.fill_(scale)
        return scale

    def compression(self, clip_shape: tuple[int, int, int]) -> dict:
        """Numbers per clip of (T, H, W) in pixels and in the latent, and their ratio."""
        t, s = self.cfg.time_factor, self.cfg.space_factor
        frames, height, width = clip_shape
        pixels = self.cfg.in_channels * frames * height * width
        latent = self.cfg.latent_channels * (frames // t) * (height // s) * (width // s)
        return {"pixels": pixels, "latent": latent, "ratio": pixels / latent,
                "time": t, "space": s}  # fmt: skip
