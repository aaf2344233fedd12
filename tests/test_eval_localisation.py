"""Temporal action localisation: tIoU, AP and mAP on cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidbook.errors import BadValueError
from vidbook.eval.localisation import (
    Segment,
    average_precision,
    frame_scores,
    mean_average_precision,
    segments_from_frames,
    sliding_window_scores,
    temporal_iou,
    window_starts,
)


def test_temporal_iou_by_hand():
    others = np.array([[0.0, 10.0], [5.0, 15.0], [10.0, 20.0], [2.0, 4.0]])
    assert np.allclose(temporal_iou((0.0, 10.0), others), [1.0, 5 / 15, 0.0, 0.2])


def test_perfect_predictions_score_one_and_a_shifted_one_only_at_low_thresholds():
    truth = [Segment("a", 0, 10, 1), Segment("b", 20, 30, 1)]
    exact = [Segment("a", 0, 10, 1, 0.9), Segment("b", 20, 30, 1, 0.8)]
    assert average_precision(truth, exact, 0.5) == pytest.approx(1.0)
    shifted = [Segment("a", 4, 14, 1, 0.9)]  # tIoU 6 / 14 = 0.43 with the first segment
    assert average_precision(truth, shifted, 0.3) == pytest.approx(0.5)  # one of two found
    assert average_precision(truth, shifted, 0.5) == 0.0


def test_ap_of_a_ranked_list_by_hand():
    truth = [Segment("a", 0, 10, 0), Segment("a", 20, 30, 0)]
    ranked = [
        Segment("a", 0, 10, 0, 0.9),  # true positive: precision 1 at recall 0.5
        Segment("b", 0, 10, 0, 0.8),  # another video: false positive
        Segment("a", 20, 29, 0, 0.7),  # true positive (tIoU 0.9): precision 2/3 at recall 1
    ]
    assert average_precision(truth, ranked, 0.5) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_a_duplicate_detection_is_a_false_positive():
    truth = [Segment("a", 0, 10, 0)]
    twice = [Segment("a", 0, 10, 0, 0.9), Segment("a", 1, 10, 0, 0.8)]
    assert average_precision(truth, twice, 0.5) == pytest.approx(1.0)  # the duplicate ranks last
    first_wrong = [Segment("a", 1, 10, 0, 0.95), Segment("a", 0, 10, 0, 0.9)]
    # the first claims the segment; the exact one, ranked second, is now a duplicate
    assert average_precision(truth, first_wrong, 0.5) == pytest.approx(1.0)
    assert average_precision(truth, first_wrong, 0.95) == pytest.approx(0.5)


def test_map_averages_classes_and_thresholds():
    truth = [Segment("a", 0, 10, 0), Segment("a", 10, 20, 1)]
    predictions = [Segment("a", 0, 10, 0, 0.9), Segment("a", 12, 20, 1, 0.9)]  # tIoU 0.8
    result = mean_average_precision(truth, predictions, (0.5, 0.9))
    assert result["per_class"][0.9] == {0: 1.0, 1: 0.0}
    assert result["by_tiou"] == {0.5: 1.0, 0.9: 0.5}
    assert result["map"] == pytest.approx(0.75)


def test_bad_inputs_are_refused():
    with pytest.raises(BadValueError, match=r"start < end, got \(5, 5\) in video 'a'"):
        Segment("a", 5, 5, 0)
    truth = [Segment("a", 0, 10, 0)]
    with pytest.raises(BadValueError, match=r"tIoU threshold must be in \(0, 1\]"):
        average_precision(truth, [], 1.5)
    with pytest.raises(BadValueError, match="needs a score"):
        average_precision(truth, [Segment("a", 0, 10, 0)], 0.5)
    with pytest.raises(BadValueError, match="holds no segment"):
        mean_average_precision([], [], 0.5)


def test_frame_scores_average_the_windows_that_cover_each_frame():
    windows = np.array([[1.0, 0.0], [0.0, 1.0]])
    scores = frame_scores(windows, starts=[0, 2], length=4, frames=6)
    assert np.allclose(scores[:, 0], [1, 1, 0.5, 0.5, 0, 0])
    with pytest.raises(BadValueError, match="frame 4 of 6 is in no window"):
        frame_scores(windows, starts=[0, 1], length=3, frames=6)
    with pytest.raises(BadValueError, match=r"expected \(3, K\) for 3 windows"):
        frame_scores(windows, starts=[0, 1, 2], length=3, frames=6)


def test_runs_of_one_class_become_scored_segments_and_background_is_skipped():
    # frames: background, class 1, class 1, background, class 2, class 2, class 2
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.4, 0.6, 0.0], [0.7, 0.2, 0.1],
                       [0.1, 0.0, 0.9], [0.2, 0.1, 0.7], [0.0, 0.2, 0.8]])  # fmt: skip
    found = segments_from_frames("v", scores, background=0)
    assert [(s.start, s.end, s.label) for s in found] == [(1, 3, 1), (4, 7, 2)]
    assert [s.score for s in found] == pytest.approx([0.7, 0.8])


def test_windows_cover_the_video_and_the_last_one_ends_at_its_end():
    assert window_starts(40, 16, 8) == [0, 8, 16, 24]
    assert window_starts(42, 16, 8) == [0, 8, 16, 24, 26]
    assert window_starts(16, 16, 4) == [0]
    with pytest.raises(BadValueError, match="do not fit"):
        window_starts(10, 16, 4)
    with pytest.raises(BadValueError, match="do not fit"):
        window_starts(40, 16, 0)


def test_sliding_windows_average_the_probabilities_of_every_window_over_a_frame():
    # a "classifier" that says class 1 when the window's mean brightness is high
    frames = torch.zeros(1, 32, 2, 2)
    frames[:, 16:] = 1.0

    def classify(clips):
        bright = clips.mean(dim=(1, 2, 3, 4))
        return torch.stack([torch.zeros_like(bright), 20 * (bright - 0.5)], dim=1)

    scores = sliding_window_scores(classify, frames, length=8, stride=8)
    assert scores.shape == (32, 2)
    assert (scores[:16].argmax(1) == 0).all() and (scores[16:].argmax(1) == 1).all()
    np.testing.assert_allclose(scores.sum(1), 1.0)
    found = segments_from_frames("v", scores, background=0)
    assert [(s.start, s.end, s.label) for s in found] == [(16, 32, 1)]
