"""Precision-recall and calibration on cases computed by hand."""

from __future__ import annotations

import pytest
import torch

from vidbook.errors import BadValueError
from vidbook.eval.calibration import (
    expected_calibration_error,
    fit_temperature,
    precision_recall,
    reliability,
)


def test_precision_recall_by_hand():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    positive = torch.tensor([True, False, True, False, False])
    pr = precision_recall(scores, positive)
    torch.testing.assert_close(pr["precision"], torch.tensor([1.0, 0.5, 2 / 3, 0.5, 0.4]))
    torch.testing.assert_close(pr["recall"], torch.tensor([0.5, 0.5, 1.0, 1.0, 1.0]))
    # AP = mean precision at each positive: (1 + 2/3) / 2
    assert float(pr["average_precision"]) == pytest.approx((1 + 2 / 3) / 2)


def test_tied_scores_are_one_threshold():
    pr = precision_recall(torch.tensor([0.5, 0.5, 0.1]), torch.tensor([True, False, True]))
    torch.testing.assert_close(pr["threshold"], torch.tensor([0.5, 0.1]))
    torch.testing.assert_close(pr["precision"], torch.tensor([0.5, 2 / 3]))


def test_a_perfectly_calibrated_binning_has_zero_error_and_an_overconfident_one_does_not():
    # two bins' worth: confidence 0.75 and right 3 times in 4 -> calibrated
    p = torch.tensor([[0.75, 0.25]] * 4).log()
    labels = torch.tensor([0, 0, 0, 1])
    assert expected_calibration_error(p, labels) == pytest.approx(0.0, abs=1e-6)
    table = reliability(p, labels, bins=5)
    assert table["count"].tolist() == [0, 0, 0, 4, 0]
    sure = torch.tensor([[0.99, 0.01]] * 4).log()  # 99 % sure, right 75 %
    assert expected_calibration_error(sure, labels) == pytest.approx(0.24, abs=1e-4)


def test_temperature_scaling_cools_an_overconfident_model_without_changing_its_answers():
    torch.manual_seed(0)
    honest = 2.0 * torch.randn(4000, 4)
    labels = torch.multinomial(honest.softmax(1), 1)[:, 0]  # calibrated by construction
    overconfident = 3.0 * honest  # the same answers, three times as sure
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    with torch.no_grad():
        assert fit_temperature(overconfident, labels) == t  # gradients are its own business
    assert expected_calibration_error(overconfident / t, labels) < expected_calibration_error(
        overconfident, labels
    )


def test_bad_inputs_are_named():
    with pytest.raises(BadValueError, match="at least one positive"):
        precision_recall(torch.tensor([0.1]), torch.tensor([False]))
    with pytest.raises(BadValueError, match="matching"):
        precision_recall(torch.tensor([0.1, 0.2]), torch.tensor([True]))
    with pytest.raises(BadValueError, match="logits"):
        reliability(torch.zeros(3), torch.zeros(3))
