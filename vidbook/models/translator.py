"""English -> Chinese translation of the world's captions: a small encoder-decoder transformer.

The encoder (``vidbook.scratch.transformer.TransformerEncoderLayer``) reads the English tokens
with learned positions; the decoder is the captioner's (:class:`CaptionDecoder`), which starts
from ``<zh>`` and cross-attends to the English tokens instead of video tokens. The grammar is
regular — drop the article, swap "moves left" to "向左 移动", "while" to "， 同时" — so a small
model learns it almost exactly::

    model = Translator(TranslatorConfig())
    logits = model(source, tokens_in)                      # teacher forcing: (B, L, V)
    model.greedy_decode([["a", "red", "square", "grows"]])  # [["红色", "正方形", "变大", "。"]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from vidbook.checks import check_int
from vidbook.errors import BadValueError
from vidbook.models.captioner import (
    MAX_CAPTION,
    PAD,
    TOKENIZER,
    CaptionDecoder,
    _check_lang,
    greedy_search,
    words_of,
)
from vidbook.scratch.transformer import TransformerEncoderLayer


@dataclass
class TranslatorConfig:
    """``d_model`` token width, ``heads`` attention heads, ``layers`` encoder layers and as
    many decoder layers."""

    d_model: int = 64
    heads: int = 4
    layers: int = 2

    def __post_init__(self) -> None:
        check_int("layers", self.layers, 1)
        if check_int("d_model", self.d_model, 8) % check_int("heads", self.heads, 1):
            raise BadValueError(
                f"d_model must be a multiple of heads, got d_model={self.d_model}, "
                f"heads={self.heads}"
            )


def source_ids(captions: Sequence[Sequence[str]]) -> torch.Tensor:
    """English token lists as ids (B, Ls), padded with <pad> to the longest (no <bos>/<eos>)."""
    if not captions or any(isinstance(c, str) or not c for c in captions):
        raise BadValueError("source_ids needs a non-empty list of non-empty token lists")
    longest = max(len(c) for c in captions)
    return torch.stack([TOKENIZER.encode(c, longest, specials=False) for c in captions])


class Translator(nn.Module):
    """``model(source, tokens_in) -> logits (B, L, V)``: source (B, Ls) English ids (padded with
    <pad>), tokens_in (B, L) the Chinese caption shifted right (starting with <zh>)."""

    def __init__(self, config: TranslatorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or TranslatorConfig()
        d = cfg.d_model
        self.embed = nn.Embedding(len(TOKENIZER), d)
        self.position = nn.Parameter(torch.randn(MAX_CAPTION, d) * 0.02)
        self.encoder = nn.ModuleList(
            TransformerEncoderLayer(d, cfg.heads, 4 * d) for _ in range(cfg.layers)
        )
        self.norm = nn.LayerNorm(d)
        self.decoder = CaptionDecoder(len(TOKENIZER), d, cfg.heads, cfg.layers)

    def encode(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Source ids (B, Ls) -> memory (B, Ls, d) and its padding mask (B, Ls), True = pad."""
        if not isinstance(source, torch.Tensor) or source.ndim != 2 or source.is_floating_point():
            got = tuple(source.shape) if isinstance(source, torch.Tensor) else type(source).__name__
            raise BadValueError(f"source must be integer ids (B, Ls), got {got}")
        if source.shape[1] > MAX_CAPTION:
            raise BadValueError(f"source is {source.shape[1]} tokens long, at most {MAX_CAPTION}")
        padding = source == PAD
        x = self.embed(source) + self.position[: source.shape[1]]
        for layer in self.encoder:
            x = layer(x, src_key_padding_mask=padding)
        return self.norm(x), padding

    def forward(self, source: torch.Tensor, tokens_in: torch.Tensor) -> torch.Tensor:
        memory, padding = self.encode(source)
        return self.decoder(tokens_in, memory, padding)

    @torch.no_grad()
    def greedy_decode(self, captions: Sequence[Sequence[str]], max_len: int = MAX_CAPTION
                      ) -> list[list[str]]:  # fmt: skip
        """Chinese token lists of English ``captions`` (token lists), greedily."""
        device = self.position.device
        memory, padding = self.encode(source_ids(captions).to(device))
        first = torch.full((len(captions),), _check_lang("zh"), dtype=torch.long, device=device)
        return words_of(greedy_search(self.decoder, memory, first, max_len, padding))
