"""Search over a gallery of clip embeddings with a nearest-neighbour index (FAISS).

An exact search compares a query with every clip of the gallery: N dot products per query.
An approximate index visits a fraction of them: **IVF** (an inverted file: the gallery is cut
into ``lists`` clusters by k-means, and a query visits the ``probes`` nearest clusters only) or
**HNSW** (a graph of neighbours walked greedily from an entry point). Either can miss a true
neighbour; :func:`recall_at_k` measures how often, against the exact answer.

Embeddings are L2-normalised here, so the inner product is the cosine similarity. FAISS
(``faiss-cpu``) is imported when an index is built, so the rest of vidbook runs without it.
Shapes: gallery (N, D), queries (Q, D) float32.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from vidbook.errors import BadValueError

INDEXES = ("exact", "ivf", "hnsw")


def _unit_rows(x: torch.Tensor | np.ndarray) -> np.ndarray:
    x = torch.as_tensor(x).float()
    if x.ndim != 2:
        raise BadValueError(f"embeddings must be (N, D), got {tuple(x.shape)}")
    return torch.nn.functional.normalize(x, dim=1).cpu().numpy().astype(np.float32)


def build_index(gallery: torch.Tensor, kind: str = "exact", lists: int = 64, probes: int = 4,
                neighbours: int = 16, seed: int = 0):  # fmt: skip
    """A FAISS inner-product index over the normalised ``gallery`` (N, D) of ``kind``:
    ``"exact"`` (IndexFlatIP), ``"ivf"`` (IndexIVFFlat: ``lists`` clusters, ``probes`` visited
    per query) or ``"hnsw"`` (IndexHNSWFlat with ``neighbours`` links per node)."""
    import faiss  # noqa: PLC0415  (optional: only search needs it)

    if kind not in INDEXES:
        raise BadValueError(f"kind must be one of {INDEXES}, got {kind!r}")
    vectors = _unit_rows(gallery)
    dim = vectors.shape[1]
    faiss.omp_set_num_threads(torch.get_num_threads())
    if kind == "exact":
        index = faiss.IndexFlatIP(dim)
    elif kind == "ivf":
        if lists > len(vectors):
            raise BadValueError(f"an IVF index of {lists} lists needs at least {lists} clips, "
                                f"got {len(vectors)}")  # fmt: skip
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(vectors)
        index.nprobe = probes
    else:
        index = faiss.IndexHNSWFlat(dim, neighbours, faiss.METRIC_INNER_PRODUCT)
    index.add(vectors)
    return index


def search(index, queries: torch.Tensor, k: int = 10) -> tuple[np.ndarray, np.ndarray, float]:
    """The ``k`` best clips for each query: (similarities (Q, k), ids (Q, k), milliseconds per
    query, measured over the whole batch of queries)."""
    vectors = _unit_rows(queries)
    if vectors.shape[1] != index.d:
        raise BadValueError(f"queries have {vectors.shape[1]} dimensions, the index {index.d}")
    start = time.perf_counter()
    scores, ids = index.search(vectors, k)
    return scores, ids, 1000 * (time.perf_counter() - start) / len(vectors)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """The share of the exact k nearest neighbours (Q, k) that ``found`` (Q, k) also returns."""
    if found.shape != exact.shape:
        raise BadValueError(f"found {found.shape} and exact {exact.shape} must match")
    hits = sum(len(set(f) & set(e)) for f, e in zip(found.tolist(), exact.tolist(), strict=True))
    return hits / exact.size
