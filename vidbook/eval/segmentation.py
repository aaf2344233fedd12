"""Video object segmentation measures of DAVIS: region similarity J and boundary measure F.

- ``region_similarity``: J, the intersection over union of a predicted and a true mask;
- ``boundary_measure``: F, the F-measure of boundary precision and recall, a boundary pixel
  counting as matched when the other mask's boundary lies within a small tolerance;
- ``video_segmentation_metrics``: J, F and J&F of instance maps, per actor id and overall.

Both measures follow the DAVIS 2017 evaluation code (``db_eval_iou``, ``db_eval_boundary``
with ``seg2bmap``), rewritten with torch: the boundary map, the tolerance (``ceil(bound_th *
diagonal)`` pixels), the disk-shaped dilation and the rules for empty boundaries are theirs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vidbook.checks import check_int, is_real
from vidbook.errors import BadValueError

__all__ = [
    "boundary_map",
    "boundary_measure",
    "boundary_tolerance",
    "region_similarity",
    "video_segmentation_metrics",
]


def _check_masks(pred: torch.Tensor, gt: torch.Tensor) -> None:
    for name, mask in (("pred", pred), ("gt", gt)):
        if not torch.is_tensor(mask):
            raise BadValueError(
                f"{name} must be a bool tensor (..., H, W), got {type(mask).__name__}"
            )
        if mask.dtype != torch.bool:
            raise BadValueError(f"{name} must be a bool tensor (..., H, W), got dtype {mask.dtype}")
        if mask.dim() < 2 or mask.shape[-1] == 0 or mask.shape[-2] == 0:
            raise BadValueError(
                f"{name} must be a bool tensor (..., H, W) with H, W >= 1, got shape "
                f"{tuple(mask.shape)}"
            )
    if pred.shape != gt.shape:
        raise BadValueError(
            f"pred and gt must have the same shape, got {tuple(pred.shape)} and {tuple(gt.shape)}"
        )
    if pred.device != gt.device:
        raise BadValueError(f"pred and gt must be on one device, got {pred.device} and {gt.device}")


def region_similarity(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """J = |pred ∩ gt| / |pred ∪ gt| of bool masks (..., H, W), as float32 (...).

    As in DAVIS, J = 1 where both masks are empty (nothing to find, nothing found)."""
    _check_masks(pred, gt)
    inter = (pred & gt).sum(dim=(-2, -1))
    union = (pred | gt).sum(dim=(-2, -1))
    j = inter.float() / union.clamp(min=1).float()
    return torch.where(union == 0, torch.ones_like(j), j)


def boundary_map(mask: torch.Tensor) -> torch.Tensor:
    """DAVIS's ``seg2bmap`` of bool masks (..., H, W): the pixels that differ from their east,
    south or south-east neighbour, the image extended by repeating its last row and column.

    The boundary lies half a pixel towards the origin of the true one, and the image's own
    border is never a boundary: a mask that fills the whole frame has an empty boundary."""
    east = torch.cat([mask[..., :, 1:], mask[..., :, -1:]], dim=-1)
    south = torch.cat([mask[..., 1:, :], mask[..., -1:, :]], dim=-2)
    south_east = torch.cat([east[..., 1:, :], east[..., -1:, :]], dim=-2)
    return (mask ^ east) | (mask ^ south) | (mask ^ south_east)


def _disk(radius: int, device: torch.device) -> torch.Tensor:
    """skimage's ``disk(radius)``: (2r+1, 2r+1) float, 1 where dx² + dy² <= r²."""
    offsets = torch.arange(-radius, radius + 1, device=device)
    return ((offsets[:, None] ** 2 + offsets[None, :] ** 2) <= radius**2).float()


def _dilate(bmap: torch.Tensor, radius: int) -> torch.Tensor:
    """Binary dilation of bool maps (N, H, W) with a disk; pixels outside the image count as
    background (OpenCV's default border for ``dilate``)."""
    if radius == 0:
        return bmap
    kernel = _disk(radius, bmap.device)[None, None]
    hits = F.conv2d(bmap[:, None].float(), kernel, padding=radius)[:, 0]
    return hits > 0.5  # counts are whole numbers; 0.5 is safe against any rounding


def boundary_tolerance(height: int, width: int, bound_th: float = 0.008) -> int:
    """The matching tolerance in pixels: ``bound_th`` itself when it is >= 1, else
    ``ceil(bound_th * sqrt(H² + W²))``, as DAVIS computes it (1 pixel for 32×32 frames)."""
    if not is_real(bound_th) or bound_th <= 0:
        raise BadValueError(f"bound_th must be a finite number > 0, got {bound_th!r}")
    if bound_th >= 1:
        return int(math.ceil(bound_th))
    return int(math.ceil(bound_th * math.hypot(height, width)))


def boundary_measure(pred: torch.Tensor, gt: torch.Tensor, bound_th: float = 0.008) -> torch.Tensor:
    """F of bool masks (..., H, W), as float32 (...): the F-measure of boundary precision (the
    share of predicted boundary pixels within the tolerance of the true boundary) and recall
    (the converse), the tolerance given by :func:`boundary_tolerance`.

    Boundaries are :func:`boundary_map`'s and "within the tolerance" is a dilation by a disk of
    that radius, as in DAVIS 2017. Both boundaries empty: F = 1; one empty: F = 0 (DAVIS sets
    precision 1, recall 0 or the reverse); precision + recall = 0: F = 0. "Empty" is about the
    boundary, so a mask filling the whole frame counts as empty here, as it does in DAVIS."""
    _check_masks(pred, gt)
    radius = boundary_tolerance(pred.shape[-2], pred.shape[-1], bound_th)
    batch = pred.shape[:-2]
    flat_pred = pred.reshape(-1, *pred.shape[-2:])
    flat_gt = gt.reshape(-1, *gt.shape[-2:])
    if flat_pred.shape[0] == 0:
        return torch.ones(batch, device=pred.device)
    b_pred, b_gt = boundary_map(flat_pred), boundary_map(flat_gt)
    n_pred = b_pred.sum(dim=(-2, -1)).float()
    n_gt = b_gt.sum(dim=(-2, -1)).float()
    pred_match = (b_pred & _dilate(b_gt, radius)).sum(dim=(-2, -1)).float()
    gt_match = (b_gt & _dilate(b_pred, radius)).sum(dim=(-2, -1)).float()
    precision = torch.where(n_pred > 0, pred_match / n_pred.clamp(min=1), torch.ones_like(n_pred))
    recall = torch.where(n_gt > 0, gt_match / n_gt.clamp(min=1), torch.ones_like(n_gt))
    # DAVIS: no predicted boundary but a true one -> precision 1, recall 0 (and the reverse).
    precision = torch.where((n_gt == 0) & (n_pred > 0), torch.zeros_like(precision), precision)
    recall = torch.where((n_pred == 0) & (n_gt > 0), torch.zeros_like(recall), recall)
    total = precision + recall
    f = torch.where(
        total > 0, 2 * precision * recall / total.clamp(min=1e-12), torch.zeros_like(total)
    )
    return f.reshape(batch)


def _check_instances(pred: torch.Tensor, gt: torch.Tensor, num_ids: int) -> None:
    for name, inst in (("pred_instances", pred), ("gt_instances", gt)):
        if not torch.is_tensor(inst) or inst.dtype == torch.bool or inst.is_floating_point() \
                or inst.is_complex():  # fmt: skip
            what = type(inst).__name__ if not torch.is_tensor(inst) else f"dtype {inst.dtype}"
            raise BadValueError(
                f"{name} must be an integer tensor (T, H, W) or (B, T, H, W), got {what}"
            )
        if inst.dim() not in (3, 4) or inst.numel() == 0:
            raise BadValueError(
                f"{name} must be an integer tensor (T, H, W) or (B, T, H, W) with no empty "
                f"axis, got shape {tuple(inst.shape)}"
            )
        low, high = int(inst.min()), int(inst.max())
        if low < 0 or high > num_ids:
            raise BadValueError(
                f"{name} must hold ids in 0..{num_ids} (0 background, k actor k), got values "
                f"{low}..{high}"
            )
    if pred.shape != gt.shape:
        raise BadValueError(
            f"pred_instances and gt_instances must have the same shape, got "
            f"{tuple(pred.shape)} and {tuple(gt.shape)}"
        )
    if pred.device != gt.device:
        raise BadValueError(
            f"pred_instances and gt_instances must be on one device, got {pred.device} and "
            f"{gt.device}"
        )


def video_segmentation_metrics(
    pred_instances: torch.Tensor,
    gt_instances: torch.Tensor,
    num_ids: int,
    bound_th: float = 0.008,
) -> dict:
    """J, F and J&F of instance maps (T, H, W) or (B, T, H, W) (0 background, k the actor of id
    k, for k = 1..num_ids; SynthScenes' ``instances`` with ``num_ids=MAX_ACTORS``).

    An *object* is one id in one clip. Its J (F) is the mean of the per-frame J (F) of the masks
    ``pred == k`` and ``gt == k`` over the frames where ``gt == k`` is not empty; frames where
    the actor is not in the ground truth (hidden, out of frame) are left out, so a prediction
    there costs nothing (DAVIS scores those frames too). An id that never appears in a clip's
    ground truth is no object: its entries are NaN and ``present`` is False there. ``J`` and
    ``F`` average over all objects (of all clips) alike, and ``J&F = (J + F) / 2``.

    Returns ``J_per_id``, ``F_per_id`` (float32 (num_ids,) or (B, num_ids)), ``present`` (bool,
    same shape), ``J``, ``F``, ``J&F`` (floats) and ``objects`` (int). BadValueError where the
    ground truth holds no object at all.
    """
    num_ids = check_int("num_ids", num_ids, 1)
    _check_instances(pred_instances, gt_instances, num_ids)
    single = gt_instances.dim() == 3
    pred = pred_instances[None] if single else pred_instances
    gt = gt_instances[None] if single else gt_instances
    ids = torch.arange(1, num_ids + 1, device=gt.device).view(-1, 1, 1, 1, 1)
    pred_masks = pred[None] == ids  # (K, B, T, H, W)
    gt_masks = gt[None] == ids
    j = region_similarity(pred_masks, gt_masks)  # (K, B, T)
    f = boundary_measure(pred_masks, gt_masks, bound_th)
    in_frame = gt_masks.any(dim=(-2, -1)).float()  # (K, B, T)
    frames = in_frame.sum(dim=-1)  # (K, B)
    present = frames > 0
    nan = torch.full_like(frames, float("nan"))
    j_obj = torch.where(present, (j * in_frame).sum(-1) / frames.clamp(min=1), nan).T  # (B, K)
    f_obj = torch.where(present, (f * in_frame).sum(-1) / frames.clamp(min=1), nan).T
    present = present.T
    objects = int(present.sum())
    if objects == 0:
        raise BadValueError(
            f"gt_instances holds no actor with an id in 1..{num_ids}: nothing to score"
        )
    j_mean = float(j_obj[present].mean())
    f_mean = float(f_obj[present].mean())
    if single:
        j_obj, f_obj, present = j_obj[0], f_obj[0], present[0]
    return {
        "J_per_id": j_obj,
        "F_per_id": f_obj,
        "present": present,
        "J": j_mean,
        "F": f_mean,
        "J&F": (j_mean + f_mean) / 2,
        "objects": objects,
    }
