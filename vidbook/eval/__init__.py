"""Evaluation: scoring a trained model, beyond the training loop's own validation pass.

- ``multiview``: multi-view testing (several clips and crops of one video, probabilities averaged);
- ``predict``: from decoded frames to a prediction (``preprocess``, ``class_probabilities``,
  ``predict``);
- ``reversal``: the time-reversal test (does a model read the order of the frames?);
- ``capstone`` and ``capstone_server``: the capstone's grader, with clips drawn by a separate
  process that keeps the labels until every prediction is in;
- the field's metrics for chapter 7's tasks: ``detection`` (COCO AP with pycocotools),
  ``tracking`` (a SORT-style tracker) and ``mot`` (MOTA and IDF1 with motmetrics),
  ``scene_tracking`` (both on SynthScenes), ``segmentation`` (DAVIS J
  and F), ``language`` (BLEU-4 and CIDEr with pycocoevalcap; motion words), ``retrieval``
  (R@K, median rank). Their libraries are imported only when a metric is computed;
- chapter 8's measurements: ``localisation`` (temporal action localisation, ActivityNet's mAP),
  ``saliency`` (Grad-CAM, attention rollout, scored against masks), ``calibration``
  (precision-recall, reliability, temperature scaling), ``search`` (nearest-neighbour indexes
  with FAISS), ``masking`` and ``generation``.
"""

from vidbook.eval.capstone import GradeReport, grade, test_set
from vidbook.eval.detection import box_iou, coco_detection_metrics, scene_targets
from vidbook.eval.language import bleu4, caption_metrics, cider, motion_word_accuracy
from vidbook.eval.mot import mot_metrics
from vidbook.eval.multiview import multi_view_clips, predict_views
from vidbook.eval.predict import class_probabilities, predict, preprocess, sample_indices
from vidbook.eval.retrieval import retrieval_metrics
from vidbook.eval.reversal import reversal_test
from vidbook.eval.segmentation import (
    boundary_measure,
    region_similarity,
    video_segmentation_metrics,
)
from vidbook.eval.tracking import Tracker, track_clip

__all__ = [
    "GradeReport",
    "Tracker",
    "bleu4",
    "boundary_measure",
    "box_iou",
    "caption_metrics",
    "cider",
    "coco_detection_metrics",
    "mot_metrics",
    "motion_word_accuracy",
    "region_similarity",
    "retrieval_metrics",
    "scene_targets",
    "track_clip",
    "video_segmentation_metrics",
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
