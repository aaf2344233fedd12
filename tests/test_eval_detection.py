"""vidbook.eval.detection: box IoU by hand, COCO AP through pycocotools on cases worked out by
hand, SynthScenes ground truth fed back as predictions, and the input checks."""

from __future__ import annotations

import ast
import inspect
import sys

import pytest
import torch

import vidbook.eval.detection as detection
from vidbook.clip_shape import ClipShape
from vidbook.data.scenes import SynthScenes
from vidbook.errors import BadValueError
from vidbook.eval.detection import box_iou, coco_detection_metrics, scene_targets

pytest.importorskip("pycocotools")


PERFECT = {"ap": 1.0, "ap50": 1.0, "ap75": 1.0, "ar100": 1.0}


def boxes(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)


def image(*rows) -> dict:
    return {"boxes": boxes(*rows)}


def scored(rows, scores) -> dict:
    rows = torch.as_tensor(rows, dtype=torch.float32).reshape(-1, 4)
    return {"boxes": rows, "scores": torch.tensor(scores, dtype=torch.float32)}


def test_box_iou_by_hand():
    a = boxes([0, 0, 10, 10], [0, 0, 20, 10])
    b = boxes([5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30], [2, 2, 4, 4], [3, 3, 3, 3])
    expected = torch.tensor(
        [
            [50 / 150, 1.0, 0.0, 4 / 100, 0.0],  # half overlap: 50 / (100 + 100 - 50)
            [100 / 200, 100 / 200, 0.0, 4 / 200, 0.0],  # the empty box: IoU 0, not nan
        ]
    )
    iou = box_iou(a, b)
    assert iou.shape == (2, 5)
    torch.testing.assert_close(iou, expected)
    torch.testing.assert_close(box_iou(b, a), expected.T)
    assert box_iou(boxes(), b).shape == (0, 5)
    with pytest.raises(BadValueError, match=r"a must have shape \(N, 4\), got \(3, 5\)"):
        box_iou(torch.zeros(3, 5), b)


def test_perfect_predictions():
    truth = [image([0, 0, 10, 10], [20, 5, 31, 17]), image(), image([3, 3, 9, 12])]
    preds = [{"boxes": t["boxes"], "scores": torch.ones(len(t["boxes"]))} for t in truth]
    assert coco_detection_metrics(preds, truth) == PERFECT


@pytest.mark.parametrize(
    "shift, ap",
    [
        # IoU of a 10x10 box and itself moved by d along x: (10 - d) / (10 + d).
        (2.5, None),  # IoU 7.5 / 12.5 = 0.6
        (2.0, 0.4),  # IoU 8 / 12 = 2/3: matched at 0.50, 0.55, 0.60, 0.65, not 0.70..0.95
    ],
)
def test_shifted_predictions(shift, ap):
    truth = [image([0, 0, 10, 10]), image([20, 20, 30, 30])]
    preds = [scored(t["boxes"] + torch.tensor([shift, 0, shift, 0]), [1.0]) for t in truth]
    metrics = coco_detection_metrics(preds, truth)
    assert metrics["ap50"] == pytest.approx(1.0)
    assert metrics["ap75"] == pytest.approx(0.0)
    if ap is not None:
        assert metrics["ap"] == pytest.approx(ap)
        assert metrics["ar100"] == pytest.approx(ap)


def test_false_positive_above_a_true_positive():
    # Two ground-truth boxes; by score: a hit (0.9), a false alarm (0.8), a hit (0.7).
    # Recall after each: 1/2, 1/2, 1; precision: 1, 1/2, 2/3. Made non-increasing from the
    # right: 1, 2/3, 2/3. At the 101 recalls 0, 0.01, ..., 1 the first point reaching them is
    # the first one for 0..0.50 (51 recalls, precision 1) and the third one for 0.51..1 (50
    # recalls, precision 2/3): AP50 = (51 * 1 + 50 * 2/3) / 101 = 0.83498...
    truth = [image([0, 0, 10, 10]), image([20, 20, 30, 30])]
    preds = [
        scored([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8]),
        scored([[20, 20, 30, 30]], [0.7]),
    ]
    metrics = coco_detection_metrics(preds, truth)
    expected = (51 + 50 * 2 / 3) / 101
    assert metrics["ap50"] == pytest.approx(expected)
    assert metrics["ap"] == pytest.approx(expected)  # exact boxes: the same at every IoU
    assert metrics["ar100"] == pytest.approx(1.0)
    # The false alarm ranked last costs nothing: AP is about the order of the scores.
    preds[0]["scores"] = torch.tensor([0.9, 0.1])
    assert coco_detection_metrics(preds, truth)["ap50"] == pytest.approx(1.0)


def test_image_without_ground_truth_and_empty_predictions():
    truth = [image([0, 0, 10, 10]), image()]
    # A false alarm on the empty image, scored above the hit: precision 0 then 1/2 at recall 1.
    preds = [scored([[0, 0, 10, 10]], [0.5]), scored([[5, 5, 9, 9]], [0.9])]
    assert coco_detection_metrics(preds, truth)["ap50"] == pytest.approx(0.5)
    nothing = [scored([], []), {"boxes": [], "scores": []}]
    assert coco_detection_metrics(nothing, truth) == dict.fromkeys(PERFECT, 0.0)


def test_synthscenes_ground_truth_as_predictions():
    ds = SynthScenes("val", size=20, clip_shape=ClipShape(16, 32, 32))
    batch = ds.batch(range(6))
    targets = scene_targets(batch)
    assert len(targets) == 6 * 16
    clip, frame = 4, 7  # clip-major order
    shown = batch["visible"][clip, :, frame]
    expected = batch["boxes"][clip, shown, frame]
    torch.testing.assert_close(targets[clip * 16 + frame]["boxes"], expected)
    assert sum(len(t["boxes"]) for t in targets) == int(batch["visible"].sum())
    preds = [{"boxes": t["boxes"], "scores": torch.ones(len(t["boxes"]))} for t in targets]
    metrics = coco_detection_metrics(preds, targets)
    assert metrics == PERFECT


GOOD_TRUTH = [image([0, 0, 10, 10])]


@pytest.mark.parametrize(
    "preds, truth, message",
    [
        ([], GOOD_TRUTH, r"one entry per image each, got 0 predictions and 1 targets"),
        ([], [], r"targets must hold at least one image"),
        ([scored([], [])], [image()], r"targets must hold at least one box"),
        ([scored([], [])], [{"boxes": torch.zeros(3, 5)}],
         r"targets\[0\]\['boxes'\] must have shape \(K, 4\), got \(3, 5\)"),
        ([scored([[5, 0, 2, 10]], [1.0])], GOOD_TRUTH,
         r"predictions\[0\]\['boxes'\] must be \(x1, y1, x2, y2\) with x2 >= x1 .*negative size"),
        ([scored([[0, 0, 10, 10]], [float("nan")])], GOOD_TRUTH, r"\['scores'\] must be finite"),
        ([scored([[0, 0, 10, 10]], [1.0, 0.5])], GOOD_TRUTH, r"one score per box, shape \(1,\)"),
        ([{"boxes": boxes([0, 0, 10, 10])}], GOOD_TRUTH,
         r"must be a dict with keys \('boxes', 'scores'\)"),
        ([scored([[0, 0, float("inf"), 10]], [1.0])], GOOD_TRUTH, r"must hold finite coordinates"),
        (scored([], []), GOOD_TRUTH, r"predictions must be a list over images, got dict"),
    ],
)  # fmt: skip
def test_bad_inputs(preds, truth, message):
    with pytest.raises(BadValueError, match=message):
        coco_detection_metrics(preds, truth)


def test_scene_targets_needs_a_batch():
    with pytest.raises(BadValueError, match="'boxes' and 'visible'"):
        scene_targets({"boxes": torch.zeros(1, 4, 16, 4)})


def test_missing_pycocotools_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools.coco", None)
    with pytest.raises(ImportError, match="pip install pycocotools"):
        coco_detection_metrics([scored([], [])], GOOD_TRUTH)


def test_optional_packages_are_imported_inside_functions():
    tree = ast.parse(inspect.getsource(detection))
    top = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert not {m for m in top if m and m.split(".")[0] in ("pycocotools", "scipy", "motmetrics")}
