"""Nearest-neighbour search: the exact index equals a brute-force cosine search; approximate
indexes are measured against it; bad inputs are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidbook.errors import BadValueError
from vidbook.eval.search import build_index, recall_at_k, search


def gallery_and_queries():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2000, 32, generator=g), torch.randn(50, 32, generator=g)


def test_the_exact_index_is_a_brute_force_cosine_search():
    gallery, queries = gallery_and_queries()
    scores, ids, ms = search(build_index(gallery, "exact"), queries, k=5)
    cosine = torch.nn.functional.normalize(queries, dim=1) @ torch.nn.functional.normalize(
        gallery, dim=1).T  # fmt: skip
    best = cosine.topk(5, dim=1)
    np.testing.assert_array_equal(ids, best.indices.numpy())
    np.testing.assert_allclose(scores, best.values.numpy(), rtol=1e-5, atol=1e-5)
    assert ms > 0


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_find_most_true_neighbours(kind):
    gallery, queries = gallery_and_queries()
    _, exact, _ = search(build_index(gallery, "exact"), queries, k=10)
    _, found, _ = search(build_index(gallery, kind, lists=16, probes=8), queries, k=10)
    assert 0.5 < recall_at_k(found, exact) <= 1.0


def test_recall_by_hand_and_bad_inputs():
    assert recall_at_k(np.array([[1, 2], [3, 4]]), np.array([[2, 1], [3, 5]])) == 0.75
    with pytest.raises(BadValueError, match="must match"):
        recall_at_k(np.zeros((2, 3)), np.zeros((2, 2)))
    gallery, queries = gallery_and_queries()
    with pytest.raises(BadValueError, match="kind must be"):
        build_index(gallery, "lsh")
    with pytest.raises(BadValueError, match="needs at least 4096 clips"):
        build_index(gallery, "ivf", lists=4096)
    with pytest.raises(BadValueError, match="queries have 16 dimensions, the index 32"):
        search(build_index(gallery), queries[:, :16])
    with pytest.raises(BadValueError, match=r"must be \(N, D\)"):
        build_index(gallery[0])
