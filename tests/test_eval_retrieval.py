"""Video-text retrieval metrics: recall at K and ranks, both ways, against a brute-force count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidbook.errors import BadValueError
from vidbook.eval.retrieval import retrieval_metrics, retrieval_ranks

pytestmark = pytest.mark.usefixtures("one_thread")


def brute_force_ranks(sim: np.ndarray) -> tuple[list[int], list[int]]:
    """Sort each row (column) by score, the true item after every item of equal score."""
    n = len(sim)
    t2v, v2t = [], []
    for i in range(n):
        order = sorted(range(n), key=lambda j: (-sim[i, j], j == i))
        t2v.append(order.index(i) + 1)
        order = sorted(range(n), key=lambda j: (-sim[j, i], j == i))
        v2t.append(order.index(i) + 1)
    return t2v, v2t


def test_identity_is_perfect():
    out = retrieval_metrics(torch.eye(12))
    for p in ("t2v", "v2t"):
        assert out[f"{p}_r1"] == out[f"{p}_r5"] == out[f"{p}_r10"] == 1.0
        assert out[f"{p}_median_rank"] == 1.0 and out[f"{p}_mean_rank"] == 1.0
    assert out["n"] == 12


def test_a_hand_made_matrix():
    # rows = texts, columns = videos
    sim = torch.tensor(
        [
            [0.9, 0.1, 0.2, 0.3],  # text 0: video 0 first -> rank 1
            [0.8, 0.5, 0.6, 0.7],  # text 1: 0.8, 0.7, 0.6 above 0.5 -> rank 4
            [0.1, 0.9, 0.4, 0.3],  # text 2: only 0.9 above -> rank 2
            [0.0, 0.0, 0.9, 0.5],  # text 3: 0.9 above -> rank 2
        ]
    )
    t2v, v2t = retrieval_ranks(sim)
    assert t2v.tolist() == [1, 4, 2, 2]
    # columns: video 0 (0.9 top) 1; video 1 (0.5 below 0.9) 2; video 2 (0.4 below 0.9, 0.6) 3;
    # video 3 (0.5 below 0.7) 2
    assert v2t.tolist() == [1, 2, 3, 2]
    out = retrieval_metrics(sim)
    assert out["t2v_r1"] == 0.25 and out["t2v_r5"] == 1.0
    assert out["t2v_median_rank"] == 2.0 and out["t2v_mean_rank"] == 2.25
    assert out["v2t_r1"] == 0.25 and out["v2t_median_rank"] == 2.0 and out["v2t_mean_rank"] == 2.0


def test_even_median_is_the_mean_of_the_middle_two():
    sim = torch.tensor([[1.0, 0.0], [2.0, 1.0]])  # t2v ranks 1, 2
    assert retrieval_metrics(sim)["t2v_median_rank"] == 1.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_and_reversed_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 37
    # Few distinct values, so that ties are common.
    sim = rng.integers(0, 6, size=(n, n)).astype(np.float64)
    for matrix in (sim, sim[::-1].copy(), -np.eye(n)):
        t2v, v2t = retrieval_ranks(torch.from_numpy(matrix))
        ref_t2v, ref_v2t = brute_force_ranks(matrix)
        assert t2v.tolist() == ref_t2v and v2t.tolist() == ref_v2t
        out = retrieval_metrics(matrix)  # a NumPy array is accepted
        assert out["t2v_r5"] == pytest.approx(np.mean(np.array(ref_t2v) <= 5))
        assert out["v2t_r10"] == pytest.approx(np.mean(np.array(ref_v2t) <= 10))
        assert out["t2v_median_rank"] == np.median(ref_t2v)
        assert out["v2t_mean_rank"] == pytest.approx(np.mean(ref_v2t))


def test_ties_count_against_the_true_item():
    out = retrieval_metrics(torch.ones(20, 20))  # every pair alike: the true item comes last
    assert out["t2v_r1"] == 0.0 and out["t2v_r10"] == 0.0
    assert out["t2v_median_rank"] == 20.0 and out["v2t_mean_rank"] == 20.0
    sim = torch.eye(3)
    sim[0, 1] = 1.0  # text 0 ties video 0 with video 1 -> rank 2; video 1 ties text 1 and 0
    t2v, v2t = retrieval_ranks(sim)
    assert t2v.tolist() == [2, 1, 1] and v2t.tolist() == [1, 2, 1]


def test_integer_and_list_input():
    assert retrieval_metrics([[3, 1], [0, 2]])["t2v_r1"] == 1.0


@pytest.mark.parametrize(
    "sim, match",
    [
        (torch.zeros(3, 4), "square"),
        (torch.zeros(3), "square"),
        (torch.zeros(0, 0), "N >= 1"),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), r"finite, got nan at \[0, 1\]"),
        (torch.tensor([[float("inf"), 0.0], [0.0, 1.0]]), "finite"),
        (torch.eye(2, dtype=torch.bool), "real"),
        ("abc", "square"),
        (object(), "matrix of numbers"),
    ],
)
def test_bad_input_raises(sim, match):
    with pytest.raises(BadValueError, match=match):
        retrieval_metrics(sim)
