"""Models: registry, shapes, gradients, what each model can and cannot see, bad input."""

from __future__ import annotations

import pytest
import torch

from vidbook.models import available, build


@pytest.mark.parametrize("name", ["frame_cnn", "c3d"])
def test_forward_backward_shapes(name):
    torch.manual_seed(0)
    model = build(name, num_classes=7)
    clips = torch.rand(2, 3, 8, 32, 32, requires_grad=True)
    logits = model(clips)
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert clips.grad is not None and clips.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_registry():
    assert {"frame_cnn", "c3d"} <= set(available())
    with pytest.raises(ValueError, match=r"unknown model 'c4d'.*c3d.*frame_cnn"):
        build("c4d")
    with pytest.raises(ValueError, match="num_classes"):
        build("c3d", num_classes=0)
    with pytest.raises(ValueError, match="no_such_option"):
        build("c3d", no_such_option=1)
    assert build("c3d", widths=(4, 8)).cfg.widths == (4, 8)


def test_frame_cnn_is_blind_to_order_and_c3d_is_not():
    torch.manual_seed(0)
    clips = torch.rand(2, 3, 8, 16, 16)
    reversed_clips = clips.flip(2)
    shuffled = clips[:, :, torch.randperm(8)]
    frame_cnn, c3d = build("frame_cnn").eval(), build("c3d").eval()
    with torch.no_grad():
        out = frame_cnn(clips)
        torch.testing.assert_close(frame_cnn(reversed_clips), out, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(frame_cnn(shuffled), out, rtol=1e-5, atol=1e-6)
        assert (c3d(reversed_clips) - c3d(clips)).abs().max() > 1e-4


@pytest.mark.parametrize("name", ["frame_cnn", "c3d"])
def test_bad_inputs(name):
    model = build(name)
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\).*\(3, 8, 16, 16\)"):
        model(torch.rand(3, 8, 16, 16))
    with pytest.raises(ValueError, match="time axis before the channels"):
        model(torch.rand(2, 8, 3, 16, 16))
    with pytest.raises(ValueError, match="floating-point"):
        model(torch.zeros(2, 3, 8, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="tensor"):
        model([[1.0]])
