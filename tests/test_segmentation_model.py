"""The space-time U-Net, its targets (all actors; actors moving at each frame) and its loss."""

import pytest
import torch

from vidbook.data import SynthScenes
from vidbook.errors import BadValueError
from vidbook.models.segmentation import (
    SegmenterConfig,
    VideoSegmenter,
    mask_targets,
    moving_now,
    segmentation_loss,
)
from vidbook.models.video_blocks import factorised_conv
from vidbook.train.segmentation import SEGMENTERS, Segmentation, segmenter


@pytest.fixture(scope="module")
def batch():
    return SynthScenes("train", size=16, seed=3).batch(range(6))


def test_shapes_and_bad_frames():
    net = VideoSegmenter(SegmenterConfig(width=4))
    assert net(torch.randn(2, 3, 4, 16, 12)).shape == (2, 4, 16, 12)
    with pytest.raises(BadValueError, match="even frame sizes"):
        net(torch.randn(1, 3, 4, 15, 16))
    with pytest.raises(BadValueError, match="temporal must be True or False"):
        SegmenterConfig(temporal=1)


def test_the_2d_segmenter_sees_each_frame_alone():
    torch.manual_seed(0)
    net = VideoSegmenter(SegmenterConfig(width=4, temporal=False)).eval()
    clip = torch.randn(1, 3, 5, 8, 8)
    changed = clip.clone()
    changed[:, :, 4] += 1  # only the last frame changes
    diff = (net(clip) - net(changed)).abs().amax(dim=(0, 2, 3))
    assert torch.all(diff[:4] == 0) and diff[4] > 0
    net3d = VideoSegmenter(SegmenterConfig(width=4, temporal=True)).eval()
    assert (net3d(clip) - net3d(changed)).abs().amax(dim=(0, 2, 3))[3] > 0  # a neighbour sees it


def test_factorised_conv_has_a_temporal_kernel_only_when_asked():
    kernels = [m.kernel_size for m in factorised_conv(3, 4, True) if hasattr(m, "kernel_size")]
    assert kernels == [(1, 3, 3), (3, 1, 1)]
    assert [m.kernel_size for m in factorised_conv(3, 4, False) if hasattr(m, "kernel_size")] == [
        (1, 3, 3)
    ]


def test_moving_now_by_hand():
    motion = torch.tensor([[0, 8, -1]])  # a mover, a still actor (class 8 is static), no actor
    start, end = torch.tensor([[0.25, 0.0, 0.0]]), torch.tensor([[0.5, 1.0, 1.0]])
    got = moving_now(motion, start, end, frames=5)  # times 0, .25, .5, .75, 1
    assert got.tolist() == [[[False, True, True, False, False], [False] * 5, [False] * 5]]
    with pytest.raises(BadValueError, match="must all be"):
        moving_now(motion, start[:, :2], end, frames=5)


def test_mask_targets_pick_the_right_pixels(batch):
    actors, moving = mask_targets(batch, "actors"), mask_targets(batch, "moving")
    assert torch.equal(actors, batch["instances"] > 0)
    assert not (moving & ~actors).any() and moving.any() and (actors & ~moving).any()
    now = moving_now(batch["motion"], batch["start"], batch["end"], 16)
    b, t = torch.nonzero(moving.flatten(2).any(-1))[0].tolist()
    slots = batch["instances"][b, t][moving[b, t]].unique().long() - 1
    assert all(now[b, s, t] for s in slots.tolist())
    with pytest.raises(BadValueError, match="target must be one of"):
        mask_targets(batch, "people")


def test_loss_is_low_for_the_truth_and_high_for_its_opposite():
    masks = torch.zeros(2, 3, 8, 8, dtype=torch.bool)
    masks[:, :, 2:5, 2:5] = True
    sure = torch.where(masks, 20.0, -20.0)
    assert segmentation_loss(sure, masks) < 1e-3
    assert segmentation_loss(-sure, masks) > 10
    with pytest.raises(BadValueError, match="must match the masks' shape"):
        segmentation_loss(sure[:, :2], masks)


def test_the_segmenter_overfits_a_batch(batch):
    torch.manual_seed(0)
    model, objective = segmenter("segmenter_3d")
    clip, targets = objective.unpack(batch)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        loss = objective.loss(model(clip), targets)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.35 * first


def test_named_segmenters_and_bad_batches():
    assert {SEGMENTERS[n]["target"] for n in SEGMENTERS} == {"actors", "moving"}
    with pytest.raises(BadValueError, match="unknown segmenter"):
        segmenter("unet")
    with pytest.raises(BadValueError, match="was expected"):
        Segmentation().unpack({"clip": torch.zeros(1)})
