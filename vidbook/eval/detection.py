"""Scoring a per-frame detector the way COCO does: average precision (AP) over IoU thresholds.

A predicted box *matches* a ground-truth box when their intersection over union (IoU) reaches a
threshold; each ground-truth box can be matched once, by the highest-scoring prediction that
overlaps it enough. Sorting all predictions by score and walking down the list gives a
precision-recall curve: after the k best predictions, *precision* is the share of them that
matched and *recall* the share of ground-truth boxes found. AP is the area under that curve,
read COCO's way: precision is first made non-increasing (each point takes the best precision
at any higher recall), then averaged at the 101 recalls 0, 0.01, ..., 1 (the "101-point
interpolation"; a recall never reached counts as precision 0). AP50 and AP75 use IoU 0.5 and
0.75; COCO's headline "AP" averages the ten thresholds 0.50, 0.55, ..., 0.95, so it rewards
tight boxes. AR@100 is the recall with at most 100 predictions per image, averaged over the
same thresholds. The numbers come from ``pycocotools`` itself, so they are the field's numbers.
"""

from __future__ import annotations

import contextlib
import io

import torch

from vidbook.errors import BadValueError

__all__ = ["box_iou", "coco_detection_metrics", "scene_targets"]

_CATEGORY = 1  # one class, "actor": detection is class-agnostic here


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of boxes ``a`` (N, 4) and ``b`` (M, 4), ``(x1, y1, x2, y2)`` -> (N, M).

    Boxes with no area give IoU 0 (not nan), also with each other.
    """
    for name, boxes in (("a", a), ("b", b)):
        if boxes.ndim != 2 or boxes.shape[-1] != 4:
            raise BadValueError(f"{name} must have shape (N, 4), got {tuple(boxes.shape)}")
    a, b = a.to(torch.promote_types(a.dtype, torch.float32)), b.to(a.dtype)
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def check_boxes(name: str, boxes: object) -> torch.Tensor:
    """``boxes`` as a float64 CPU tensor (K, 4) of finite ``(x1, y1, x2, y2)`` with x2 >= x1 and
    y2 >= y1; an empty list or tensor is (0, 4). BadValueError naming ``name`` otherwise."""
    try:
        out = torch.as_tensor(boxes, dtype=torch.float64).cpu()
    except (TypeError, ValueError, RuntimeError) as err:
        raise BadValueError(f"{name} must be a (K, 4) tensor of boxes, got {boxes!r}") from err
    if out.numel() == 0:
        out = out.reshape(0, 4)
    if out.ndim != 2 or out.shape[1] != 4:
        raise BadValueError(f"{name} must have shape (K, 4), got {tuple(out.shape)}")
    if not torch.isfinite(out).all():
        raise BadValueError(f"{name} must hold finite coordinates, got {out.tolist()}")
    wrong = (out[:, 2] < out[:, 0]) | (out[:, 3] < out[:, 1])
    if wrong.any():
        k = int(wrong.nonzero()[0])
        raise BadValueError(
            f"{name} must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1, got box {k} = "
            f"{out[k].tolist()} (negative size)"
        )
    return out


def _image_boxes(kind: str, i: int, item: object, keys: tuple[str, ...]) -> dict:
    if not isinstance(item, dict) or any(k not in item for k in keys):
        raise BadValueError(f"{kind}[{i}] must be a dict with keys {keys}, got {item!r}")
    boxes = check_boxes(f"{kind}[{i}]['boxes']", item["boxes"])
    out = {"boxes": boxes}
    if "scores" in keys:
        try:
            scores = torch.as_tensor(item["scores"], dtype=torch.float64).cpu().reshape(-1)
        except (TypeError, ValueError, RuntimeError) as err:
            raise BadValueError(
                f"{kind}[{i}]['scores'] must be a (P,) tensor of numbers, got {item['scores']!r}"
            ) from err
        if len(scores) != len(boxes):
            raise BadValueError(
                f"{kind}[{i}]['scores'] must have one score per box, shape ({len(boxes)},), "
                f"got {tuple(torch.as_tensor(item['scores']).shape)}"
            )
        if not torch.isfinite(scores).all():
            raise BadValueError(f"{kind}[{i}]['scores'] must be finite, got {scores.tolist()}")
        out["scores"] = scores
    return out


def _xywh(box: torch.Tensor) -> list[float]:
    x1, y1, x2, y2 = box.tolist()
    return [x1, y1, x2 - x1, y2 - y1]


def coco_detection_metrics(predictions: list[dict], targets: list[dict]) -> dict[str, float]:
    """COCO box metrics of class-agnostic detections, computed by ``pycocotools``.

    ``targets``: a list over images (frames) of ``{"boxes": (K, 4)}``, the ground truth (K may
    be 0); ``predictions``: a list over the same images of ``{"boxes": (P, 4), "scores": (P,)}``
    (P may be 0). Boxes are ``(x1, y1, x2, y2)`` pixels with x2, y2 exclusive (width x2 - x1),
    as SynthScenes gives them; tensors, arrays or nested lists. Only the 100 best-scored
    predictions of an image count (COCO's limit).

    Returns ``{"ap", "ap50", "ap75", "ar100"}`` in [0, 1]: AP over IoU 0.50:0.95, at IoU 0.5
    and 0.75, and recall with 100 detections per image. No predictions at all give 0 for all
    four (pycocotools cannot load an empty result list, so this case is answered here).

    BadValueError if the lists differ in length or are empty, an image is not a dict with
    those keys, boxes are not (K, 4) finite with x2 >= x1 and y2 >= y1, scores are not one
    finite number per box, or the targets hold no box at all (AP is undefined then).
    ImportError if pycocotools is missing.
    """
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as err:
        raise ImportError(
            "coco_detection_metrics needs pycocotools: pip install pycocotools"
        ) from err
    for name, value in (("predictions", predictions), ("targets", targets)):
        if not isinstance(value, (list, tuple)):
            raise BadValueError(f"{name} must be a list over images, got {type(value).__name__}")
    if len(predictions) != len(targets):
        raise BadValueError(
            f"predictions and targets must have one entry per image each, got "
            f"{len(predictions)} predictions and {len(targets)} targets"
        )
    if not targets:
        raise BadValueError("targets must hold at least one image, got an empty list")
    truth = [_image_boxes("targets", i, t, ("boxes",)) for i, t in enumerate(targets)]
    found = [
        _image_boxes("predictions", i, p, ("boxes", "scores")) for i, p in enumerate(predictions)
    ]

    annotations = []
    for i, item in enumerate(truth):
        for box in item["boxes"]:
            x, y, w, h = _xywh(box)
            # Ids start at 1: pycocotools marks an unmatched detection with ground-truth id 0.
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i + 1, "category_id": _CATEGORY,
                 "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
            )  # fmt: skip
    if not annotations:
        raise BadValueError("targets must hold at least one box: AP is undefined without any")
    results = [
        {"image_id": i + 1, "category_id": _CATEGORY, "bbox": _xywh(box), "score": float(score)}
        for i, item in enumerate(found)
        for box, score in zip(item["boxes"], item["scores"], strict=True)
    ]
    if not results:
        return {"ap": 0.0, "ap50": 0.0, "ap75": 0.0, "ar100": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = {
            "images": [{"id": i + 1} for i in range(len(truth))],
            "categories": [{"id": _CATEGORY, "name": "actor"}],
            "annotations": annotations,
        }
        ground.createIndex()
        evaluation = COCOeval(ground, ground.loadRes(results), iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = evaluation.stats  # AP, AP50, AP75, AP S/M/L, AR@1, AR@10, AR@100, AR S/M/L
    return {key: float(stats[i]) for key, i in (("ap", 0), ("ap50", 1), ("ap75", 2), ("ar100", 8))}


def scene_targets(batch: dict) -> list[dict[str, torch.Tensor]]:
    """The per-frame ground truth of a SynthScenes batch, for :func:`coco_detection_metrics`.

    ``batch["boxes"]`` (B, A, T, 4) and ``batch["visible"]`` (B, A, T) -> a list of B * T dicts
    ``{"boxes": (K, 4)}`` (the visible actors of one frame), clip-major: clip 0's T frames
    first, then clip 1's, ...
    """
    if not isinstance(batch, dict) or "boxes" not in batch or "visible" not in batch:
        raise BadValueError("batch must be a SynthScenes batch with 'boxes' and 'visible'")
    boxes, visible = batch["boxes"].cpu(), batch["visible"].cpu().bool()
    if boxes.ndim != 4 or boxes.shape[-1] != 4 or visible.shape != boxes.shape[:3]:
        raise BadValueError(
            "batch['boxes'] must be (B, A, T, 4) and batch['visible'] (B, A, T), got "
            f"{tuple(boxes.shape)} and {tuple(visible.shape)}"
        )
    return [
        {"boxes": boxes[b, visible[b, :, t], t]}
        for b in range(boxes.shape[0])
        for t in range(boxes.shape[2])
    ]
