"""attention: scaled dot-product attention and multi-head attention, from the formulas.

    Attention(Q, K, V) = softmax(Q Kᵀ / √d + M) V

Q holds L queries, K and V hold S keys and values, each a vector of d numbers; the (L, S) score
matrix Q Kᵀ / √d says how well each query matches each key, the mask M adds 0 where a query may
look and -inf where it may not, and the softmax turns each row into weights that sum to 1. Every
output row is a weighted average of the value rows.

Multi-head attention runs h such attentions side by side on d/h-wide slices of learned
projections of the inputs, then mixes their outputs with one more linear layer.

Two mask conventions meet here, both PyTorch's:
- ``scaled_dot_product_attention`` (like ``F.scaled_dot_product_attention``): a boolean mask says
  True where a query MAY attend;
- ``MultiHeadAttention`` (like ``nn.MultiheadAttention``): a boolean ``attn_mask`` or
  ``key_padding_mask`` says True where a query may NOT attend (padding, the future).
A float mask is added to the scores in both.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vidbook.errors import BadValueError
from vidbook.scratch.activations import softmax


def _check_mask(mask: torch.Tensor, scores_shape: tuple[int, ...], name: str) -> None:
    """A mask must be boolean or floating point and broadcast to the scores' shape."""
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise BadValueError(
            f"{name}: expected a bool or floating-point mask, got dtype {mask.dtype}"
        )
    try:
        shape = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        shape = None
    if shape != torch.Size(scores_shape):
        raise BadValueError(
            f"{name}: expected a mask that broadcasts to the scores' shape "
            f"{tuple(scores_shape)} (..., L, S), got shape {tuple(mask.shape)}"
        )


def causal_mask(n_queries: int, n_keys: int, device: torch.device | None = None) -> torch.Tensor:
    """(L, S) boolean mask, True where query i may attend key j, that is j <= i."""
    return torch.ones(n_queries, n_keys, dtype=torch.bool, device=device).tril()


def attention_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    is_causal: bool = False,
) -> torch.Tensor:
    """softmax(Q Kᵀ / √d + M): the (..., L, S) attention weights, each row summing to 1.

    q: (..., L, d) queries; k: (..., S, d) keys, with the same leading dimensions (batch, heads).
    attn_mask: broadcasts to (..., L, S); boolean: True where the query may attend; float: added
    to the scores. is_causal: query i sees keys 0..i only (not together with attn_mask).
    A query that may attend nothing gets all-zero weights (and so a zero output), as in PyTorch.
    """
    if q.dim() < 2 or k.dim() != q.dim():
        raise BadValueError(
            f"expected q (..., L, d) and k (..., S, d) with the same number of dimensions "
            f"(at least 2), got q {tuple(q.shape)} and k {tuple(k.shape)}"
        )
    if q.shape[:-2] != k.shape[:-2] or q.shape[-1] != k.shape[-1]:
        raise BadValueError(
            f"expected q (..., L, d) and k (..., S, d) with the same leading dimensions and "
            f"the same d, got q {tuple(q.shape)} and k {tuple(k.shape)}"
        )
    if attn_mask is not None and is_causal:
        raise BadValueError("give attn_mask or is_causal=True, not both")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., L, S)
    if is_causal:
        attn_mask = causal_mask(q.shape[-2], k.shape[-2], device=q.device)
    if attn_mask is not None:
        _check_mask(attn_mask, tuple(scores.shape), "attn_mask")
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    # A row of -inf has no softmax: give it weights 0 instead of 0/0.
    empty = (scores == float("-inf")).all(dim=-1, keepdim=True)  # (..., L, 1)
    weights = softmax(scores.masked_fill(empty, 0.0), dim=-1)
    return weights.masked_fill(empty, 0.0)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    is_causal: bool = False,
) -> torch.Tensor:
    """softmax(Q Kᵀ / √d + M) V, the same function as ``F.scaled_dot_product_attention``.

    q: (..., L, d), k: (..., S, d), v: (..., S, d_v) with the same leading dimensions.
    attn_mask broadcasts to (..., L, S): boolean, True where the query may attend; or float,
    added to the scores. is_causal: query i sees keys 0..i only. Returns (..., L, d_v).
    """
    if v.dim() != k.dim() or v.shape[:-1] != k.shape[:-1]:
        raise BadValueError(
            f"expected v (..., S, d_v) with the same leading dimensions and S as k (..., S, d), "
            f"got k {tuple(k.shape)} and v {tuple(v.shape)}"
        )
    return attention_weights(q, k, attn_mask, is_causal) @ v


def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, max_len) boolean mask, True at the padding: position j of sequence b is padding when
    j >= lengths[b].

    This is ``nn.MultiheadAttention``'s ``key_padding_mask`` convention (True = ignore); for
    ``scaled_dot_product_attention`` use its negation, ``~mask[:, None, None, :]`` (B, 1, 1, S).
    """
    if lengths.dim() != 1 or lengths.is_floating_point() or lengths.is_complex():
        raise BadValueError(
            f"lengths: expected a 1-D integer tensor (B,), got shape {tuple(lengths.shape)} "
            f"and dtype {lengths.dtype}"
        )
    if lengths.numel() and (lengths.min() < 0 or lengths.max() > max_len):
        raise BadValueError(
            f"lengths: expected values in [0, max_len={max_len}], "
            f"got values in [{int(lengths.min())}, {int(lengths.max())}]"
        )
    positions = torch.arange(max_len, device=lengths.device)  # (max_len,)
    return positions[None, :] >= lengths[:, None]


def _blocked_to_additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A mask in nn.MultiheadAttention's convention (bool: True = blocked; float: added) as a
    float mask to add to the scores: -inf where blocked, 0 elsewhere."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf")
        )
    return mask.to(dtype)


class MultiHeadAttention(nn.Module):
    """Multi-head attention, with the parameters and (batch-first) semantics of
    ``nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True)``, whose
    state_dict it loads unchanged.

        head_i = Attention(X_q W_qᵢ + b_qᵢ, X_k W_kᵢ + b_kᵢ, X_v W_vᵢ + b_vᵢ)   for i = 1..h
        output = concat(head_1, ..., head_h) W_o + b_o

    ``in_proj_weight`` (3E, E) stacks the query, key and value projections (rows 0..E-1 for
    queries, then keys, then values); head i uses the i-th slice of E/h features of each.
    ``out_proj`` is the (E, E) output layer W_o.
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise BadValueError(
                f"embed_dim must be a positive multiple of num_heads: got embed_dim={embed_dim} "
                f"and num_heads={num_heads}"
            )
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        if bias:
            self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        # The initialisation of nn.MultiheadAttention.
        nn.init.xavier_uniform_(self.in_proj_weight)
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, E) -> (B, h, L, E/h)."""
        b, n, _ = x.shape
        return x.reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        need_weights: bool = False,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """query (B, L, E), key and value (B, S, E) -> output (B, L, E), weights or None.

        key_padding_mask: (B, S); bool True = this key is padding, ignore it; float: added.
        attn_mask: (L, S) or (B·h, L, S); bool True = may NOT attend; float: added.
        is_causal: query i sees keys 0..i only (combined with the masks given).
        need_weights: also return the attention weights, (B, L, S) averaged over the heads,
        or (B, h, L, S) with average_attn_weights=False.
        """
        e, h = self.embed_dim, self.num_heads
        if query.dim() != 3 or query.shape[-1] != e:
            raise BadValueError(f"query: expected shape (B, L, {e}), got {tuple(query.shape)}")
        b, n_q, _ = query.shape
        if key.dim() != 3 or key.shape[0] != b or key.shape[-1] != e or key.shape != value.shape:
            raise BadValueError(
                f"key and value: expected the same shape (B={b}, S, {e}), "
                f"got key {tuple(key.shape)} and value {tuple(value.shape)}"
            )
        n_k = key.shape[1]
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        q, k, v = query @ w_q.T, key @ w_k.T, value @ w_v.T
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = self.in_proj_bias.chunk(3)
            q, k, v = q + b_q, k + b_k, v + b_v
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)

        # One additive mask (B or 1, h or 1, L or 1, S) from both masks and the causal flag.
        mask = None
        if attn_mask is not None:
            if attn_mask.shape not in ((n_q, n_k), (b * h, n_q, n_k)):
                raise BadValueError(
                    f"attn_mask: expected shape (L, S) = ({n_q}, {n_k}) or "
                    f"(B·num_heads, L, S) = ({b * h}, {n_q}, {n_k}), got {tuple(attn_mask.shape)}"
                )
            mask = _blocked_to_additive(attn_mask, q.dtype)
            mask = mask if mask.dim() == 2 else mask.reshape(b, h, n_q, n_k)
        if key_padding_mask is not None:
            if key_padding_mask.shape != (b, n_k):
                raise BadValueError(
                    f"key_padding_mask: expected shape (B, S) = ({b}, {n_k}), "
                    f"got {tuple(key_padding_mask.shape)}"
                )
            padding = _blocked_to_additive(key_padding_mask, q.dtype)[:, None, None, :]
            mask = padding if mask is None else mask + padding
        if is_causal:
            future = _blocked_to_additive(~causal_mask(n_q, n_k, device=q.device), q.dtype)
            mask = future if mask is None else mask + future

        weights = attention_weights(q, k, attn_mask=mask)  # (B, h, L, S)
        heads = weights @ v  # (B, h, L, E/h)
        output = self.out_proj(heads.transpose(1, 2).reshape(b, n_q, e))  # concat, then W_o
        if not need_weights:
            return output, None
        return output, weights.mean(dim=1) if average_attn_weights else weights
