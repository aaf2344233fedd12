"""Video-text retrieval: recall at K and the rank of the true item, both ways.

The similarity matrix is square, (N, N), with **row i = text i and column j = video j**, and
text i describes video i (the diagonal holds the true pairs). Text-to-video retrieval ranks the
videos of a row, video-to-text the texts of a column.

Ties are broken *pessimistically*: an item scoring exactly as high as the true one is ranked
before it, so a model that gives every pair the same score gets rank N, not 1.
"""

from __future__ import annotations

import torch

from vidbook.errors import BadValueError

__all__ = ["RECALL_AT", "retrieval_metrics", "retrieval_ranks"]

RECALL_AT = (1, 5, 10)


def _check_similarity(similarity: object) -> torch.Tensor:
    if not torch.is_tensor(similarity):
        try:
            similarity = torch.as_tensor(similarity)
        except (TypeError, ValueError, RuntimeError) as err:
            raise BadValueError(
                f"similarity must be a square (N, N) matrix of numbers, got "
                f"{type(similarity).__name__}"
            ) from err
    if similarity.dtype == torch.bool or similarity.is_complex():
        raise BadValueError(
            f"similarity must be a real (N, N) matrix, got dtype {similarity.dtype}"
        )
    if (
        similarity.dim() != 2
        or similarity.shape[0] != similarity.shape[1]
        or not similarity.numel()
    ):
        raise BadValueError(
            f"similarity must be a square (N, N) matrix with N >= 1 (rows texts, columns "
            f"videos), got shape {tuple(similarity.shape)}"
        )
    if similarity.is_floating_point():
        bad = ~torch.isfinite(similarity)
        if bad.any():
            i, j = (int(k) for k in bad.nonzero()[0])
            raise BadValueError(
                f"similarity must be finite, got {similarity[i, j].item()} at [{i}, {j}] "
                f"({int(bad.sum())} non-finite entries)"
            )
    return similarity


def retrieval_ranks(similarity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1-based ranks (N,) of the true items: text-to-video (of video i among row i) and
    video-to-text (of text j among column j). Pessimistic ties: the rank of item i is the number
    of items that score at least as high as it (itself included)."""
    sim = _check_similarity(similarity)
    diag = sim.diagonal()
    t2v = (sim >= diag[:, None]).sum(dim=1)
    v2t = (sim >= diag[None, :]).sum(dim=0)
    return t2v, v2t


def _summary(ranks: torch.Tensor, prefix: str) -> dict:
    ranks = ranks.double().cpu()
    out = {f"{prefix}_r{k}": float((ranks <= k).double().mean()) for k in RECALL_AT}
    out[f"{prefix}_median_rank"] = float(ranks.quantile(0.5))
    out[f"{prefix}_mean_rank"] = float(ranks.mean())
    return out


def retrieval_metrics(similarity: torch.Tensor) -> dict:
    """Recall and ranks of a similarity matrix (N, N), rows texts, columns videos.

    Returns, for ``t2v`` (text to video) and ``v2t`` (video to text): ``{p}_r1``, ``{p}_r5``,
    ``{p}_r10`` (the share of queries whose true item ranks within the top K, in [0, 1]; with
    N <= K it is 1), ``{p}_median_rank`` (the median of the 1-based ranks, the mean of the two
    middle ones when N is even) and ``{p}_mean_rank``; plus ``n`` = N. Ties count against the
    true item (see :func:`retrieval_ranks`). A tensor, a NumPy array or nested lists of real,
    finite numbers are accepted; anything else raises BadValueError.
    """
    t2v, v2t = retrieval_ranks(similarity)
    return {**_summary(t2v, "t2v"), **_summary(v2t, "v2t"), "n": int(t2v.numel())}
