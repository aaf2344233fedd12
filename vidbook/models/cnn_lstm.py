"""cnn_lstm: a 2D CNN on every frame, then an LSTM over the frame features (the LRCN design).

The CNN sees one frame at a time; the LSTM reads the frame vectors in order, so unlike
``frame_cnn`` it can tell "move left" from "move right". The class comes from the LSTM's last
hidden state.

Sizes (``variant=``): those of ``frame_cnn``, with an LSTM as wide as the frame vectors.

Parameters and forward FLOPs per clip (``torch.utils.flop_counter``, 2 FLOPs per multiply-add),
10 classes, checked by ``tests/test_zoo.py``:

=================  ========  ============  =================  ===============
model              variant   parameters    clip (T x H x W)   GFLOPs forward
=================  ========  ============  =================  ===============
cnn_lstm           tiny      288,282       16 x 32 x 32       0.0308
cnn_lstm           small     1,146,922     16 x 112 x 112     1.045
cnn_lstm           base      7,853,130     16 x 112 x 112     5.924
=================  ========  ============  =================  ===============
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidbook.models._checks import check_clips
from vidbook.models.frame_cnn import VARIANTS as FRAME_VARIANTS
from vidbook.models.frame_cnn import FrameCNNConfig, FrameEncoder
from vidbook.models.registry import register

# The frame CNN's sizes, with an LSTM as wide as its frame vectors.
VARIANTS = {name: {**v, "hidden_size": v["embed_dim"]} for name, v in FRAME_VARIANTS.items()}


@dataclass
class CNNLSTMConfig:
    num_classes: int = 10
    in_channels: int = 3
    widths: tuple[int, ...] = (16, 32, 64)
    grid: int = 4
    embed_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0


class CNNLSTM(nn.Module):
    """(B, C, T, H, W) clips -> (B, num_classes) logits: frame features (B, T, F) -> LSTM -> head."""

    def __init__(self, cfg: CNNLSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = FrameEncoder(
            FrameCNNConfig(
                in_channels=cfg.in_channels,
                widths=cfg.widths,
                grid=cfg.grid,
                embed_dim=cfg.embed_dim,
            )
        )
        self.lstm = nn.LSTM(cfg.embed_dim, cfg.hidden_size, cfg.num_layers, batch_first=True)
        self.head = nn.Sequential(
            nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden_size, cfg.num_classes)
        )

    def sequence(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame features (B, T, F) and the LSTM's hidden states (B, T, hidden_size)."""
        check_clips(clips, self.cfg.in_channels, "cnn_lstm")
        feats = self.encoder(clips)  # (B, T, F)
        states, _ = self.lstm(feats)  # (B, T, H)
        return feats, states

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        _, states = self.sequence(clips)
        return self.head(states[:, -1])  # the last hidden state has read the whole clip


@register("cnn_lstm", variants=VARIANTS, default_variant="tiny")
def cnn_lstm(num_classes: int = 10, **cfg) -> CNNLSTM:
    return CNNLSTM(CNNLSTMConfig(num_classes=num_classes, **cfg))
