"""DAVIS segmentation measures: J and F on hand-made masks, against a line-by-line numpy copy of
the DAVIS 2017 code, and J&F on SynthScenes' instance maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vidbook import ClipShape
from vidbook.data.scenes import MAX_ACTORS, SynthScenes
from vidbook.errors import BadValueError
from vidbook.eval.segmentation import (
    boundary_map,
    boundary_measure,
    boundary_tolerance,
    region_similarity,
    video_segmentation_metrics,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def square(top: int, left: int, size: int = 4, shape: tuple[int, int] = (10, 10)) -> torch.Tensor:
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[top : top + size, left : left + size] = True
    return mask


# --- DAVIS 2017 (davis2017/metrics.py), transcribed with numpy; cv2.dilate and skimage's disk
# replaced by a loop over the disk's offsets with a zero border.
def davis_seg2bmap(seg: np.ndarray) -> np.ndarray:
    seg = seg.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def davis_dilate(b: np.ndarray, r: int) -> np.ndarray:
    h, w = b.shape
    out = np.zeros_like(b)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dx * dx + dy * dy > r * r:
                continue
            shifted = np.zeros_like(b)
            ys, yd = (
                (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
            )
            xs, xd = (
                (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
            )
            shifted[yd, xd] = b[ys, xs]
            out |= shifted
    return out


def davis_f_measure(fg: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    bound_pix = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(fg.shape))
    fg_b, gt_b = davis_seg2bmap(fg), davis_seg2bmap(gt)
    fg_dil, gt_dil = davis_dilate(fg_b, int(bound_pix)), davis_dilate(gt_b, int(bound_pix))
    gt_match, fg_match = gt_b & fg_dil, fg_b & gt_dil
    n_fg, n_gt = fg_b.sum(), gt_b.sum()
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision, recall = fg_match.sum() / float(n_fg), gt_match.sum() / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def test_identical_masks_score_one():
    masks = torch.stack([square(2, 2), square(0, 5, 5), square(6, 6, 4)])
    assert torch.equal(region_similarity(masks, masks), torch.ones(3))
    assert torch.equal(boundary_measure(masks, masks), torch.ones(3))


def test_j_of_a_square_shifted_by_two_pixels():
    # 4x4 squares sharing a 4x2 strip: 8 / (16 + 16 - 8) = 1/3
    j = region_similarity(square(2, 2), square(2, 4))
    assert j.shape == () and j.item() == pytest.approx(1 / 3, abs=1e-7)


def test_tolerance_is_ceil_of_bound_th_times_the_diagonal():
    assert boundary_tolerance(10, 10) == 1  # ceil(0.008 * 14.1)
    assert boundary_tolerance(32, 32) == 1
    assert boundary_tolerance(480, 854) == 8  # DAVIS 480p: ceil(7.84)
    assert boundary_tolerance(10, 10, bound_th=2) == 2  # >= 1: pixels, as in DAVIS


def test_boundary_map_is_seg2bmap():
    # The boundary of a square is the outline of the square grown by one pixel towards the
    # origin: rows 1 and 5, columns 1 and 5 of [1..5]x[1..5], 16 pixels.
    b = boundary_map(square(2, 2))
    expected = torch.zeros(10, 10, dtype=torch.bool)
    expected[1:6, 1:6] = True
    expected[2:5, 2:5] = False
    assert torch.equal(b, expected)
    full = torch.ones(6, 7, dtype=torch.bool)
    assert not boundary_map(full).any()  # the image's border is no boundary
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        mask = torch.rand(9, 13, generator=gen) < 0.4
        assert np.array_equal(boundary_map(mask).numpy(), davis_seg2bmap(mask.numpy()))


def test_a_shift_within_the_tolerance_keeps_f_one():
    # 1-pixel tolerance (a plus-shaped disk): every boundary pixel has a neighbour in the other
    assert boundary_measure(square(2, 3), square(2, 2)).item() == 1.0
    assert boundary_measure(square(3, 2), square(2, 2)).item() == 1.0


def test_a_shift_beyond_the_tolerance_by_hand():
    # Boundaries: outlines of [1..5]x[1..5] (gt) and [1..5]x[3..7] (pred), 16 pixels each.
    # Unmatched predicted pixels (no gt boundary pixel at 4-distance <= 1): the right column
    # (1..5, 7) and (3, 3) -> precision 10/16; by mirror symmetry recall 10/16 -> F = 10/16.
    f = boundary_measure(square(2, 4), square(2, 2))
    assert f.item() == pytest.approx(10 / 16, abs=1e-7)
    # A diagonal shift by (1, 1): only the corner (6, 6) of pred and (1, 1) of gt miss
    # (the disk of radius 1 has no diagonal), so F = 15/16.
    assert boundary_measure(square(3, 3), square(2, 2)).item() == pytest.approx(15 / 16, abs=1e-7)
    # With a 2-pixel tolerance the shift by two is matched again.
    assert boundary_measure(square(2, 4), square(2, 2), bound_th=2).item() == 1.0


def test_matches_the_davis_code_on_random_masks():
    gen = torch.Generator().manual_seed(1)
    for shape, bound_th in (((12, 17), 0.008), ((40, 64), 0.05), ((20, 20), 3)):
        blobs = torch.rand(8, 1, shape[0] // 4, shape[1] // 4, generator=gen) < 0.45
        pred = torch.nn.functional.interpolate(blobs.float(), size=shape)[:, 0] > 0.5
        noise = torch.rand(8, *shape, generator=gen) < 0.05
        gt = pred ^ noise
        gt[0] = False  # one empty mask
        f = boundary_measure(pred, gt, bound_th)
        for i in range(8):
            ref = davis_f_measure(pred[i].numpy(), gt[i].numpy(), bound_th)
            assert f[i].item() == pytest.approx(ref, abs=1e-6)


def test_empty_masks():
    empty = torch.zeros(10, 10, dtype=torch.bool)
    assert region_similarity(empty, empty).item() == 1.0
    assert boundary_measure(empty, empty).item() == 1.0
    assert region_similarity(square(2, 2), empty).item() == 0.0
    assert boundary_measure(square(2, 2), empty).item() == 0.0
    assert boundary_measure(empty, square(2, 2)).item() == 0.0


def test_batch_shapes_are_kept():
    masks = torch.zeros(2, 3, 10, 10, dtype=torch.bool)
    assert region_similarity(masks, masks).shape == (2, 3)
    assert boundary_measure(masks, masks).shape == (2, 3)
    assert boundary_measure(masks[:0], masks[:0]).shape == (0, 3)


@pytest.mark.parametrize(
    "pred, gt, match",
    [
        (torch.zeros(4, 4), torch.zeros(4, 4, dtype=torch.bool), "bool tensor"),
        (torch.zeros(4, 4, dtype=torch.uint8), torch.zeros(4, 4, dtype=torch.bool), "dtype"),
        (np.zeros((4, 4), bool), torch.zeros(4, 4, dtype=torch.bool), "ndarray"),
        (torch.zeros(4, dtype=torch.bool), torch.zeros(4, dtype=torch.bool), r"\(\.\.\., H, W\)"),
        (torch.zeros(4, 4, dtype=torch.bool), torch.zeros(4, 5, dtype=torch.bool), "same shape"),
        (torch.zeros(0, 4, dtype=torch.bool), torch.zeros(0, 4, dtype=torch.bool), "H, W >= 1"),
    ],
)
def test_bad_masks_raise(pred, gt, match):
    with pytest.raises(BadValueError, match=match):
        region_similarity(pred, gt)
    with pytest.raises(BadValueError, match=match):
        boundary_measure(pred, gt)


@pytest.mark.parametrize("bound_th", [0, -0.1, float("nan"), "0.008", True])
def test_bad_bound_th_raises(bound_th):
    mask = square(2, 2)
    with pytest.raises(BadValueError, match="bound_th"):
        boundary_measure(mask, mask, bound_th)


@pytest.fixture(scope="module")
def instances():
    ds = SynthScenes("val", size=24, clip_shape=ClipShape(8, 32, 32))
    return ds.batch(range(24))["instances"]


def test_synthscenes_against_itself_and_shifted_in_time(instances):
    same = video_segmentation_metrics(instances, instances, MAX_ACTORS)
    assert same["J"] == 1.0 and same["F"] == 1.0 and same["J&F"] == 1.0
    present = same["present"]
    assert present.shape == (24, MAX_ACTORS) and present[:, 0].all()  # every clip has an actor
    assert same["objects"] == int(present.sum())
    assert torch.isnan(same["J_per_id"][~present]).all()
    assert (same["J_per_id"][present] == 1).all() and (same["F_per_id"][present] == 1).all()

    late = torch.cat([instances[:, :1], instances[:, :-1]], dim=1)  # one frame behind
    shifted = video_segmentation_metrics(late, instances, MAX_ACTORS)
    assert 0 < shifted["J"] < 1 and 0 < shifted["F"] < 1
    assert shifted["J&F"] == pytest.approx((shifted["J"] + shifted["F"]) / 2)
    assert torch.equal(shifted["present"], present)


def test_per_id_means_by_hand():
    # One clip of 3 frames; id 1 in every frame, id 2 only on frame 0 (then gone), id 3 never.
    gt = torch.zeros(3, 10, 10, dtype=torch.uint8)
    gt[:, 2:6, 2:6] = 1
    gt[0, 7:9, 7:9] = 2
    pred = gt.clone()
    pred[1] = 0
    pred[1, 2:6, 4:8] = 1  # frame 1: shifted by 2 -> J = 1/3, F = 10/16
    pred[2, 0:2, 0:2] = 2  # id 2 predicted where it is not: frame 2 is not scored for id 2
    out = video_segmentation_metrics(pred, gt, num_ids=3)
    assert out["present"].tolist() == [True, True, False]
    assert out["J_per_id"][0].item() == pytest.approx((1 + 1 / 3 + 1) / 3)
    assert out["F_per_id"][0].item() == pytest.approx((1 + 10 / 16 + 1) / 3)
    assert out["J_per_id"][1].item() == 1.0 and math.isnan(out["J_per_id"][2].item())
    assert out["J"] == pytest.approx(((1 + 1 / 3 + 1) / 3 + 1) / 2)
    assert out["objects"] == 2


def test_bad_instances_raise():
    gt = torch.zeros(2, 8, 8, dtype=torch.uint8)
    gt[:, 1:3, 1:3] = 1
    with pytest.raises(BadValueError, match="integer tensor"):
        video_segmentation_metrics(gt.float(), gt, 4)
    with pytest.raises(BadValueError, match="integer tensor"):
        video_segmentation_metrics(gt.bool(), gt, 4)
    with pytest.raises(BadValueError, match=r"\(T, H, W\)"):
        video_segmentation_metrics(gt[0], gt[0], 4)
    with pytest.raises(BadValueError, match="same shape"):
        video_segmentation_metrics(gt[:1], gt, 4)
    with pytest.raises(BadValueError, match=r"ids in 0\.\.1"):
        video_segmentation_metrics(gt * 2, gt, 1)
    with pytest.raises(BadValueError, match="num_ids"):
        video_segmentation_metrics(gt, gt, 0)
    with pytest.raises(BadValueError, match="nothing to score"):
        video_segmentation_metrics(gt, torch.zeros_like(gt), 4)
