"""transformer: pre-norm Transformer encoder and decoder layers, from the formulas.

Encoder layer (pre-norm: each sub-layer reads a layer-normalised copy and adds its result):

    x = x + SelfAttention(LayerNorm₁(x))
    x = x + FeedForward(LayerNorm₂(x)),      FeedForward(y) = W₂ act(W₁ y + b₁) + b₂

Decoder layer: the same, with cross-attention to the encoder's output ("memory") in between:

    x = x + SelfAttention(LayerNorm₁(x))                 (usually causal)
    x = x + CrossAttention(LayerNorm₂(x), memory)         (queries from x, keys/values from memory)
    x = x + FeedForward(LayerNorm₃(x))

The parameters carry the names of ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer``
(``self_attn``, ``multihead_attn``, ``linear1``, ``linear2``, ``norm1``..``norm3``), so their
state_dicts load unchanged; these layers compute what PyTorch's compute with ``norm_first=True``,
``batch_first=True`` and ``dropout=0``. Masks follow ``nn.MultiheadAttention``: bool True = may
NOT attend, float = added to the scores.
"""

from __future__ import annotations

import torch
from torch import nn

from vidbook.errors import BadValueError
from vidbook.scratch.activations import gelu, relu
from vidbook.scratch.attention import MultiHeadAttention

ACTIVATIONS = {"gelu": gelu, "relu": relu}  # GELU: the exact one, with erf


def _activation(name: str):
    if name not in ACTIVATIONS:
        raise BadValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


class TransformerEncoderLayer(nn.Module):
    """Pre-norm encoder layer: src (B, L, d_model) -> (B, L, d_model).

    Computes ``nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0,
    activation=activation, layer_norm_eps=layer_norm_eps, batch_first=True, norm_first=True)``.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        activation: str = "gelu",
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, nhead)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.activation = _activation(activation)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)

    def forward(
        self,
        src: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        src_key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """src_mask: (L, L) or (B·nhead, L, L); src_key_padding_mask: (B, L), True = padding.
        is_causal: token i sees tokens 0..i only (here the flag alone builds that mask)."""
        y = self.norm1(src)
        x = src + self.self_attn(y, y, y, src_key_padding_mask, src_mask, is_causal=is_causal)[0]
        return x + self.linear2(self.activation(self.linear1(self.norm2(x))))


class TransformerDecoderLayer(nn.Module):
    """Pre-norm decoder layer: tgt (B, L, d_model), memory (B, S, d_model) -> (B, L, d_model).

    Computes ``nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout=0.0,
    activation=activation, layer_norm_eps=layer_norm_eps, batch_first=True, norm_first=True)``.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        activation: str = "gelu",
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, nhead)
        self.multihead_attn = MultiHeadAttention(d_model, nhead)  # cross-attention
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.activation = _activation(activation)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        tgt_key_padding_mask: torch.Tensor | None = None,
        memory_key_padding_mask: torch.Tensor | None = None,
        tgt_is_causal: bool = False,
    ) -> torch.Tensor:
        """tgt_mask (L, L), memory_mask (L, S), or with a leading B·nhead; key padding masks
        (B, L) and (B, S), True = padding. tgt_is_causal: target token i sees target tokens
        0..i only (PyTorch takes the flag as a hint that tgt_mask is that mask; here the flag
        alone builds it)."""
        y = self.norm1(tgt)
        x = (
            tgt
            + self.self_attn(y, y, y, tgt_key_padding_mask, tgt_mask, is_causal=tgt_is_causal)[0]
        )
        y = self.norm2(x)
        x = x + self.multihead_attn(y, memory, memory, memory_key_padding_mask, memory_mask)[0]
        return x + self.linear2(self.activation(self.linear1(self.norm3(x))))
