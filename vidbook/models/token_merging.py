"""Token merging (ToMe, Bolya et al. 2023): fewer tokens in every block, without retraining.

In each Transformer block, after attention, the tokens are split alternately into two sets A and
B; every token of A finds its most similar token of B (cosine similarity of their attention keys,
averaged over heads); the ``r`` best-matched pairs are merged, each into its B partner, by a
size-weighted average. A token's *size* counts the original tokens it stands for, and attention
adds ``log size`` to its logits (*proportional attention*), so a merged token pulls as much
attention as the tokens it replaced. A block with ``r`` removes ``r`` tokens, so a model with L
blocks ends with ``N - L r`` tokens; the class token (``protect_first``) is never merged.

Shapes: tokens (B, N, dim); sizes (B, N, 1); keys (B, N, dim).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.errors import BadValueError
from vidbook.models.attention import EncoderBlock

Merge = Callable[[torch.Tensor], torch.Tensor]


def bipartite_soft_matching(keys: torch.Tensor, r: int, protect_first: bool = False) -> Merge:
    """ToMe's matching on ``keys`` (B, N, C): returns ``merge``, which adds each merged token of
    any (B, N, D) tensor into its partner: (B, N - r', D), the kept tokens of A first (in their
    order), then B; r' = min(r, |A| - protect_first) pairs are merged. Use :func:`merge_tokens`
    for the size-weighted average."""
    if not isinstance(r, int) or isinstance(r, bool) or r < 0:
        raise BadValueError(f"r must be an int >= 0, got {r!r}")
    keys = F.normalize(keys.float(), dim=-1)
    a, bset = keys[:, ::2], keys[:, 1::2]  # A = even positions, B = odd positions
    r = min(r, a.shape[1] - int(protect_first))
    if r <= 0:
        return lambda x: x
    scores = a @ bset.transpose(1, 2)  # (B, |A|, |B|)
    if protect_first:
        scores[:, 0, :] = -torch.inf  # token 0 (the class token) is in A and never merged
    best, partner = scores.max(dim=-1)  # (B, |A|)
    order = best.argsort(dim=-1, descending=True)[..., None]  # (B, |A|, 1)
    merged = order[:, :r]  # A tokens merged away
    kept = order[:, r:].sort(dim=1).values  # the rest, in their order (the class token first)
    partner = partner[..., None].gather(1, merged)  # (B, r, 1): their B partners

    def merge(x: torch.Tensor) -> torch.Tensor:
        xa, xb = x[:, ::2], x[:, 1::2]
        d = x.shape[-1]
        kept_a = xa.gather(1, kept.expand(-1, -1, d))
        moved = xa.gather(1, merged.expand(-1, -1, d))
        xb = xb.scatter_reduce(1, partner.expand(-1, -1, d), moved, reduce="sum")
        return torch.cat([kept_a, xb], dim=1)

    return merge


def merge_tokens(
    merge: Merge, x: torch.Tensor, size: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Size-weighted average of merged tokens: x (B, N, D), size (B, N, 1) -> both merged."""
    total = merge(size)
    return merge(x * size) / total, total


def proportional_attention(attn: nn.Module, x: torch.Tensor, size: torch.Tensor) -> tuple[
    torch.Tensor, torch.Tensor
]:  # fmt: skip
    """Self-attention of :class:`~vidbook.models.attention.SelfAttention` ``attn`` on x
    (B, N, dim), with log(size) added to every logit; returns the output and the keys averaged
    over heads (B, N, dim / heads)."""
    q, k, v = attn.project(x)
    bias = size.log().view(x.shape[0], 1, 1, x.shape[1]).to(q.dtype)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    return attn.combine(out), k.mean(dim=1)


def merging_block(
    block: EncoderBlock, x: torch.Tensor, size: torch.Tensor, r: int, protect_first: bool
) -> tuple[torch.Tensor, torch.Tensor, Merge]:
    """One pre-norm block with token merging between attention and the MLP (as ToMe places it):
    (x (B, N, dim), size (B, N, 1)) -> (x, size) with N - r tokens, and the block's merge."""
    attended, keys = proportional_attention(block.self_attn, block.norm1(x), size)
    x = x + block.dropout(attended)
    merge = bipartite_soft_matching(keys, r, protect_first)
    x, size = merge_tokens(merge, x, size)
    return x + block.mlp(x), size, merge


def run_blocks(
    blocks: Sequence[EncoderBlock], x: torch.Tensor, r: int = 0, protect_first: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The blocks on tokens x (B, N, dim), merging ``r`` tokens in each when r > 0 (exactly the
    plain blocks when r = 0). Returns the tokens (B, N', dim) and their sizes (B, N', 1)."""
    size = torch.ones(*x.shape[:2], 1, device=x.device, dtype=x.dtype)
    if r == 0:
        for block in blocks:
            x = block(x)
        return x, size
    for block in blocks:
        x, size, _ = merging_block(block, x, size, r, protect_first)
    return x, size


def set_token_merging(model: nn.Module, r: int) -> nn.Module:
    """Merge ``r`` tokens in every block of ``model`` from now on (0: none); returns the model.
    The model must support merging (a ``token_merging`` attribute: the masked autoencoder's
    classifier, ViViT)."""
    if not hasattr(model, "token_merging"):
        raise BadValueError(
            f"{type(model).__name__} does not support token merging; models that do: "
            "MAEClassifier, ViViT"
        )
    if not isinstance(r, int) or isinstance(r, bool) or r < 0:
        raise BadValueError(f"r must be an int >= 0, got {r!r}")
    model.token_merging = r
    return model


@torch.no_grad()
def token_groups(
    blocks: Sequence[EncoderBlock], x: torch.Tensor, r: int, protect_first: bool = False
) -> torch.Tensor:
    """Which final token each input token was merged into, after all ``blocks`` with ``r``
    merges each: (B, N) ids in 0..N'-1 (ToMe's "source" tracking: a one-hot row per input token
    is merged alongside the tokens, by sum)."""
    size = torch.ones(*x.shape[:2], 1, device=x.device, dtype=x.dtype)
    source = torch.eye(x.shape[1], device=x.device).expand(x.shape[0], -1, -1)  # (B, N, N)
    for block in blocks:
        x, size, merge = merging_block(block, x, size, r, protect_first)
        source = merge(source)
    return source.argmax(dim=1)  # (B, N): the final token holding each input token
