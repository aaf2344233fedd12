"""The judge of generated clips: the Fréchet distance against closed forms, the time shuffle,
the class accuracy, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vidbook.errors import BadValueError
from vidbook.eval.generation import (
    classifier_outputs,
    frechet_distance,
    judge,
    shuffled_in_time,
)


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    """For N(m_a, diag(s_a^2)) and N(m_b, diag(s_b^2)): |m_a - m_b|^2 + sum (s_a - s_b)^2."""
    rng = np.random.default_rng(0)
    m_a, m_b = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s_a, s_b = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 0.5])
    a = m_a + s_a * rng.standard_normal((200_000, 3))
    b = m_b + s_b * rng.standard_normal((200_000, 3))
    expected = ((m_a - m_b) ** 2).sum() + ((s_a - s_b) ** 2).sum()  # 5 + 2 = 7
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.01)


def test_frechet_distance_with_full_covariances_matches_the_matrix_formula():
    """Rotated covariances: S_a = R diag R^T; the trace term needs the matrix square root."""
    rng = np.random.default_rng(1)
    rotation = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    cov_a = rotation @ np.diag([4.0, 1.0, 0.25, 1.0]) @ rotation.T
    cov_b = np.diag([1.0, 2.0, 1.0, 0.5])
    a = rng.multivariate_normal(np.zeros(4), cov_a, 300_000)
    b = rng.multivariate_normal(np.ones(4), cov_b, 300_000)
    # sqrt(S_a S_b) has the eigenvalues of sqrt(S_b^1/2 S_a S_b^1/2): trace from those.
    half_b = np.diag(np.sqrt(np.diag(cov_b)))
    trace_root = np.sqrt(np.linalg.eigvalsh(half_b @ cov_a @ half_b)).sum()
    expected = 4.0 + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.01)


def test_frechet_distance_is_zero_for_one_set_and_symmetric():
    x = torch.randn(500, 6)
    y = torch.randn(400, 6) * 2
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-6)


def test_shuffled_in_time_permutes_each_clips_frames():
    clips = torch.arange(4 * 8, dtype=torch.float32).view(4, 1, 8, 1, 1).expand(4, 3, 8, 2, 2)
    shuffled = shuffled_in_time(clips.contiguous(), seed=0)
    assert torch.equal(shuffled.sort(dim=2).values, clips)  # the same frames ...
    assert not torch.equal(shuffled, clips)  # ... in another order
    orders = {tuple(shuffled[i, 0, :, 0, 0].tolist()) for i in range(4)}
    assert len(orders) > 1  # each clip its own order
    assert torch.equal(shuffled, shuffled_in_time(clips.contiguous(), seed=0))


class MeanColour(nn.Module):
    """A toy recogniser: class = which channel is brightest; features = channel means."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 3)
        with torch.no_grad():
            self.head.weight.copy_(torch.eye(3))
            self.head.bias.zero_()

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(clips.mean(dim=(2, 3, 4)))


def test_judge_counts_the_asked_classes_and_takes_features_before_the_last_layer():
    model = MeanColour()
    clips = torch.zeros(6, 3, 2, 4, 4)
    for i, c in enumerate([0, 1, 2, 0, 1, 2]):
        clips[i, c] = 1.0
    features, logits = classifier_outputs(model, clips)
    assert torch.equal(features, clips.mean(dim=(2, 3, 4)))
    asked = torch.tensor([0, 1, 2, 0, 0, 0])  # the last two are wrong
    real = torch.rand(40, 3, 2, 4, 4)
    verdict = judge(model, clips, asked, real)
    assert verdict["accuracy"] == pytest.approx(4 / 6)
    assert verdict["per_class"] == [pytest.approx(2 / 4), 1.0, 1.0]
    assert set(verdict["frechet"]) == {"generated", "real", "shuffled", "noise"}
    # Real clips of one distribution: their two halves are closer than the generated clips.
    assert verdict["frechet"]["real"] < verdict["frechet"]["generated"]


def test_bad_inputs_are_named():
    with pytest.raises(
        BadValueError, match=r"expected \(N, F\) and \(M, F\), got \(5, 3\) and \(5, 4\)"
    ):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(BadValueError, match="at least 2 rows"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    model = MeanColour()
    with pytest.raises(BadValueError, match=r"same \(C, T, H, W\)"):
        judge(
            model,
            torch.rand(2, 3, 2, 4, 4),
            torch.zeros(2, dtype=torch.long),
            torch.rand(4, 3, 4, 4, 4),
        )
    with pytest.raises(BadValueError, match=r"labels: expected shape \(2,\)"):
        judge(
            model,
            torch.rand(2, 3, 2, 4, 4),
            torch.zeros(3, dtype=torch.long),
            torch.rand(4, 3, 2, 4, 4),
        )
    with pytest.raises(BadValueError, match="unknown reference 'blur'"):
        judge(model, torch.rand(2, 3, 2, 4, 4), torch.zeros(2, dtype=torch.long),
              torch.rand(4, 3, 2, 4, 4), references=("blur",))  # fmt: skip
    with pytest.raises(BadValueError, match="no nn.Linear"):
        classifier_outputs(nn.Conv3d(3, 3, 1), torch.rand(1, 3, 2, 4, 4))
