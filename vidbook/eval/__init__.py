"""Evaluation: scoring a trained model, beyond the training loop's own validation pass.

- ``multiview``: multi-view testing (several clips and crops of one video, probabilities averaged);
- ``predict``: from decoded frames to a prediction (``preprocess``, ``class_probabilities``,
  ``predict``);
- ``reversal``: the time-reversal test (does a model read the order of the frames?);
- ``capstone`` and ``capstone_server``: the capstone's grader, with clips drawn by a separate
  process that keeps the labels until every prediction is in.
"""

from vidbook.eval.capstone import GradeReport, grade, test_set
from vidbook.eval.multiview import multi_view_clips, predict_views
from vidbook.eval.predict import class_probabilities, predict, preprocess, sample_indices
from vidbook.eval.reversal import reversal_test

__all__ = [
    "GradeReport",
    "class_probabilities",
    "grade",
    "multi_view_clips",
    "predict",
    "predict_views",
    "preprocess",
    "reversal_test",
    "sample_indices",
    "test_set",
]
