"""A latent video generator: a frozen 3D autoencoder and a DiT that generates its latents (the
pattern of CogVideoX, HunyuanVideo and Wan, at a small size).

The DiT never sees pixels: training encodes each clip (``to_model_space``), sampling decodes the
generated latents (``to_clips``). The autoencoder is trained first, on its own, and frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from vidbook.errors import BadValueError
from vidbook.models.dit import DiTConfig, VideoDiT
from vidbook.models.video_autoencoder import VideoAutoencoder


class LatentDiT(nn.Module):
    """``forward(z_t, t, label)``: the DiT on latents (B, latent_channels, T', H', W');
    ``to_model_space(clips)`` encodes clips in [0, 1]; ``to_clips(z)`` decodes latents to clips.
    ``cfg`` is the DiT's config (its clip shape is the latent's); ``autoencoder_record`` what
    the autoencoder's own training reported (None when not given)."""

    def __init__(
        self, autoencoder: VideoAutoencoder, dit: VideoDiT, autoencoder_record: dict | None = None
    ) -> None:
        super().__init__()
        if dit.cfg.in_channels != autoencoder.cfg.latent_channels:
            raise BadValueError(
                f"the DiT reads {dit.cfg.in_channels} channels, the autoencoder's latents have "
                f"{autoencoder.cfg.latent_channels}"
            )
        autoencoder.zero_grad(set_to_none=True)  # no gradients left from its own training
        self.autoencoder = autoencoder.requires_grad_(False)
        self.dit = dit
        self.autoencoder_record = autoencoder_record

    @property
    def cfg(self) -> DiTConfig:
        return self.dit.cfg

    def train(self, mode: bool = True) -> LatentDiT:
        super().train(mode)
        self.autoencoder.eval()  # frozen: always in eval mode
        return self

    def forward(self, z: torch.Tensor, t: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.dit(z, t, label)

    @torch.no_grad()
    def to_model_space(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, T, H, W) in [0, 1] -> latents (B, latent_channels, T', H', W')."""
        return self.autoencoder.encode(clips)

    @torch.no_grad()
    def to_clips(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents -> clips in [0, 1]."""
        return self.autoencoder.decode(latents)
