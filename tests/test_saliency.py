"""Saliency maps and their scores: Grad-CAM equals CAM on a pooled network, attention weights
equal PyTorch's, rollout by hand, the mask scores on hand-made maps; and the clip edits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidbook.data.edits import TINTS, blur_region, gaussian_blur, remove_region, tint_background
from vidbook.errors import BadValueError
from vidbook.eval.saliency import (
    attention_rollout,
    attention_weights,
    box_masks,
    grad_cam,
    normalise,
    pointing_game,
    share_inside,
    upsample,
    vit_rollout,
)
from vidbook.models import build, build_for_clips
from vidbook.models.attention import EncoderBlock


def test_grad_cam_of_a_pooled_network_is_its_class_activation_map():
    torch.manual_seed(0)
    model = build("c3d", num_classes=5).eval()
    clips = torch.rand(3, 3, 8, 16, 16)
    target = torch.tensor([0, 3, 4])
    maps, used = grad_cam(model, model.features, clips, target)
    assert torch.equal(used, target) and maps.shape == (3, 8, 16, 16)
    with torch.no_grad():
        features = model.features(clips)  # (B, K, T', H', W')
        weights = model.head[-1].weight[target]  # (B, K)
        cam = F.relu(torch.einsum("bk,bkthw->bthw", weights, features))
    expected = normalise(upsample(cam, (8, 16, 16)))
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5)
    assert maps.amax(dim=(1, 2, 3)).allclose(torch.ones(3))
    default, predicted = grad_cam(model, model.features, clips)
    assert torch.equal(predicted, model(clips).argmax(1))


def test_grad_cam_refuses_a_layer_without_a_space_time_map():
    model = build("c3d", num_classes=5)
    with pytest.raises(BadValueError, match="grad_cam needs"):
        grad_cam(model, model.head, torch.rand(1, 3, 8, 16, 16))


def test_attention_weights_equal_pytorchs_multihead_attention():
    torch.manual_seed(0)
    block = EncoderBlock(16, 4, 2).eval()
    x = torch.randn(2, 7, 16)
    reference = nn.MultiheadAttention(16, 4, batch_first=True)
    reference.load_state_dict(block.self_attn.state_dict())
    h = block.norm1(x)
    _, expected = reference(h, h, h, need_weights=True, average_attn_weights=True)
    torch.testing.assert_close(attention_weights(block, x), expected, rtol=1e-5, atol=1e-6)


def test_rollout_by_hand():
    a1 = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    a2 = torch.tensor([[[1.0, 0.0], [0.5, 0.5]]])
    eye = torch.eye(2)
    expected = (0.5 * a2 + 0.5 * eye) @ (0.5 * a1 + 0.5 * eye)
    torch.testing.assert_close(attention_rollout([a1, a2]), expected)
    torch.testing.assert_close(attention_rollout([eye[None]]), eye[None])
    with pytest.raises(BadValueError, match="at least one block"):
        attention_rollout([])


def test_vit_rollout_gives_a_map_per_clip_at_its_size():
    torch.manual_seed(0)
    model = build_for_clips("vit_tubelet", 10, 16, 32, 32).eval()
    maps = vit_rollout(model, torch.rand(2, 3, 16, 32, 32))
    assert maps.shape == (2, 16, 32, 32) and (maps >= 0).all()
    assert maps.amax(dim=(1, 2, 3)).allclose(torch.ones(2))


def test_mask_scores_on_hand_made_maps():
    masks = torch.zeros(3, 2, 4, 4, dtype=torch.bool)
    masks[:, :, :2, :2] = True  # the actor covers a quarter of every frame
    maps = torch.zeros(3, 2, 4, 4)
    maps[0, :, :2, :2] = 1.0  # all on the actor
    maps[1] = 1.0  # uniform: the actor's share of the frame
    maps[2, 1, 3, 3] = 2.0  # one point off the actor
    maps[2, 0, 0, 0] = 1.0
    torch.testing.assert_close(share_inside(maps, masks), torch.tensor([1.0, 0.25, 1 / 3]))
    assert pointing_game(maps, masks).tolist() == [True, True, False]
    assert share_inside(torch.zeros(1, 2, 4, 4), masks[:1]).item() == 0.0
    with pytest.raises(BadValueError, match=">= 0"):
        share_inside(-maps, masks)
    with pytest.raises(BadValueError, match=r"both be \(B, T, H, W\)"):
        pointing_game(maps[:, 0], masks)


def test_edits_change_only_their_region():
    torch.manual_seed(0)
    clips = torch.rand(2, 3, 4, 8, 8)
    masks = torch.zeros(2, 4, 8, 8, dtype=torch.bool)
    masks[:, :, 2:5, 2:5] = True
    inside = masks[:, None].expand_as(clips)
    tinted = tint_background(clips, masks, torch.tensor([0, 9]), strength=1.0)
    assert torch.equal(tinted[inside], clips[inside])
    assert torch.allclose(tinted[1, :, 0, 0, 0], TINTS[9])
    removed = remove_region(clips, masks, "actor", value=0.0)
    assert (removed[inside] == 0).all() and torch.equal(removed[~inside], clips[~inside])
    plain = torch.full_like(clips, 0.2)
    plain[inside] = 0.9  # a bright actor on a plain background
    inpainted = remove_region(plain, masks, "actor", value=None)
    torch.testing.assert_close(inpainted, torch.full_like(clips, 0.2))  # no silhouette is left
    blurred = blur_region(clips, masks, "background", sigma=1.0)
    assert torch.equal(blurred[inside], clips[inside]) and not torch.equal(blurred, clips)
    flat = torch.full((1, 3, 2, 8, 8), 0.3)
    torch.testing.assert_close(gaussian_blur(flat, 2.0), flat)  # a flat image stays flat


def test_edits_refuse_bad_inputs():
    clips, masks = torch.rand(2, 3, 4, 8, 8), torch.zeros(2, 4, 8, 8, dtype=torch.bool)
    with pytest.raises(BadValueError, match="bool masks"):
        remove_region(clips, masks.float())
    with pytest.raises(BadValueError, match="region must be"):
        blur_region(clips, masks, "sky")
    with pytest.raises(BadValueError, match="tint must be"):
        tint_background(clips, masks, torch.tensor([0, 10]))
    with pytest.raises(BadValueError, match="sigma must be"):
        gaussian_blur(clips, 0.0)


def test_box_masks_cover_exactly_the_boxes():
    boxes = torch.tensor([[[1.0, 2.0, 3.0, 5.0], [0.0, 0.0, 0.0, 0.0]]])  # (B=1, T=2, 4)
    masks = box_masks(boxes, 6, 4)
    assert masks.shape == (1, 2, 6, 4)
    assert masks[0, 0].nonzero().tolist() == [[y, x] for y in range(2, 5) for x in range(1, 3)]
    assert not masks[0, 1].any()  # an empty box (no actor) covers nothing
    with pytest.raises(BadValueError, match=r"boxes must be \(B, T, 4\)"):
        box_masks(boxes[0], 6, 4)
