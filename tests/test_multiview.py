"""Multi-view testing: which frames and crops make the views; probabilities averaged over views."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidbook.data.sampling import multi_view_indices
from vidbook.data.transforms import resize, three_crops, to_float
from vidbook.eval.multiview import multi_view_clips, predict_views


@pytest.fixture
def video() -> torch.Tensor:
    """A uint8 video (C, T, H, W) = (3, 40, 24, 36) of random pixels."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, 40, 24, 36), dtype=torch.uint8, generator=g)


# ------------------------------------------------------------------------------------------
# multi_view_clips
# ------------------------------------------------------------------------------------------
def test_views_shape_dtype_range(video):
    views = multi_view_clips(video, clip_len=8, num_clips=4, crop=16, stride=2)
    assert views.shape == (12, 3, 8, 16, 16) and views.dtype == torch.float32
    assert 0.0 <= views.min() and views.max() <= 1.0
    one = multi_view_clips(video, clip_len=8, num_clips=5, crop=16, num_crops=1)
    assert one.shape == (5, 3, 8, 16, 16)


def test_views_are_the_crops_of_the_resized_clips(video):
    clip_len, num_clips, crop, stride, short = 6, 3, 16, 3, 20
    views = multi_view_clips(video, clip_len, num_clips, crop, stride=stride, short_side=short)
    indices = multi_view_indices(video.shape[1], clip_len, num_clips, stride)
    for k in range(num_clips):
        clip = resize(to_float(video[:, indices[k]]), short)  # (3, 6, 20, 30)
        for j, expected in enumerate(three_crops(clip, crop)):
            assert torch.allclose(views[k * 3 + j], expected, rtol=0, atol=1e-6)
    centre = multi_view_clips(video, clip_len, num_clips, crop, 1, stride, short)
    assert torch.equal(centre, views[1::3])  # the single crop is the middle one


def test_views_hold_the_right_frames_and_places():
    # frame t is uniformly t / 255, plus a left-to-right ramp: the views can be read back
    t = torch.arange(60).view(1, 60, 1, 1)
    ramp = torch.linspace(0, 100, 48).view(1, 1, 1, 48)
    video = (t + ramp).expand(3, 60, 32, 48).round().to(torch.uint8)
    views = multi_view_clips(video, clip_len=4, num_clips=10, crop=32, stride=5)
    assert views.shape == (30, 3, 4, 32, 32)
    indices = multi_view_indices(60, 4, 10, 5)
    left_edge = views[:, 0, :, :, 0] * 255  # (views, clip_len, H): the crop's first column
    for k in range(10):
        for j, first_column in enumerate((0, 8, 16)):  # left, centre, right crops of 48 wide
            frames = indices[k].view(4, 1).float()
            column = float(video[0, 0, 0, first_column])
            assert torch.allclose(left_edge[k * 3 + j], frames + column, atol=0.51)


def test_views_of_a_float_video_and_of_a_short_video(video):
    as_float = to_float(video)
    assert torch.allclose(
        multi_view_clips(as_float, 8, 2, 16), multi_view_clips(video, 8, 2, 16), atol=1e-6
    )
    short = video[:, :5]
    views = multi_view_clips(short, clip_len=8, num_clips=2, crop=16)
    # 5 frames for an 8-frame clip: both clips are frames 0..4 and the last frame repeated
    assert torch.equal(views[0:3], views[3:6])
    assert torch.equal(views[0, :, 4], views[0, :, 7])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_crops": 2}, r"num_crops must be one of \(1, 3\), got 2"),
        ({"crop": 0}, r"crop must be an int >= 1, got 0"),
        ({"crop": 16, "short_side": 12}, r"short_side must be an int >= crop=16 .*got 12"),
        ({"num_clips": 0}, r"num_clips must be an int >= 1, got 0"),
        ({"stride": 0}, r"stride must be an int >= 1, got 0"),
        ({"clip_len": 2.5}, r"clip_len must be an int >= 1, got 2\.5"),
    ],
)
def test_multi_view_clips_bad_arguments(video, kwargs, match):
    args = {"clip_len": 8, "num_clips": 2, "crop": 16} | kwargs
    with pytest.raises(ValueError, match=match):
        multi_view_clips(video, **args)


def test_multi_view_clips_bad_video(video):
    with pytest.raises(ValueError, match=r"one video \(C, T, H, W\), got \(1, 3, 40, 24, 36\)"):
        multi_view_clips(video[None], 8)
    with pytest.raises(ValueError, match=r"got ndarray"):
        multi_view_clips(video.numpy(), 8)
    with pytest.raises(ValueError, match=r"uint8 or floating point, got dtype torch\.int64"):
        multi_view_clips(video.long(), 8, 2, 16)


# ------------------------------------------------------------------------------------------
# predict_views
# ------------------------------------------------------------------------------------------
class MeanScorer(nn.Module):
    """Logits (N, 3) = 8 * (m, -m, 0) for a view of mean m; records how it was called."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor([8.0, -8.0, 0.0]))
        self.calls: list[dict] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        call = {"n": len(x), "grad": torch.is_grad_enabled(), "training": self.training}
        self.calls.append(call | {"device": x.device})
        logits = x.mean(dim=(1, 2, 3, 4))[:, None] * self.scale
        return -logits if self.training else logits  # train mode would turn the answer around


class Pooled(nn.Module):
    """Wrong: one row of logits for the whole batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(0, 2, 3, 4))[None]


def constant_views(levels: list[float]) -> torch.Tensor:
    return torch.tensor(levels).view(-1, 1, 1, 1, 1).expand(-1, 3, 2, 4, 4).contiguous()


def test_predict_views_averages_probabilities_not_logits():
    model = MeanScorer()
    views = constant_views([0.0, 0.1, 0.9, 1.0, 0.5])
    logits = views.mean(dim=(1, 2, 3, 4))[:, None] * torch.tensor([8.0, -8.0, 0.0])
    expected = torch.softmax(logits, dim=1).mean(dim=0)
    probs = predict_views(model, views)
    assert probs.shape == (3,) and probs.dtype == torch.float32
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.isclose(probs.sum(), torch.tensor(1.0))
    # averaging logits first would give a clearly different answer
    assert (probs - torch.softmax(logits.mean(dim=0), dim=0)).abs().max() > 0.05


def test_predict_views_batches_give_the_same_answer():
    views = constant_views([i / 10 for i in range(11)])
    model = MeanScorer()
    reference = predict_views(model, views, batch_size=16)
    for batch_size in (1, 3, 11):
        model.calls.clear()
        assert torch.allclose(predict_views(model, views, batch_size=batch_size), reference)
        assert [c["n"] for c in model.calls][0] == batch_size
        assert sum(c["n"] for c in model.calls) == 11


def test_predict_views_eval_mode_no_grad_and_modes_restored():
    model = MeanScorer()
    model.train()
    weight = nn.Linear(1, 1)  # a parameter that would track gradients
    model.extra = weight
    views = constant_views([0.2, 0.7]).requires_grad_()
    probs = predict_views(model, views)
    assert all(not c["grad"] and not c["training"] for c in model.calls)
    assert not probs.requires_grad
    assert model.training and weight.training  # modes restored
    assert probs.argmax() == 0  # the eval-mode answer (train mode would pick class 1)
    assert all(c["device"] == model.scale.device for c in model.calls)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_predict_views_runs_on_the_models_device():
    model = MeanScorer().cuda()
    views = constant_views([0.1, 0.4, 0.8])  # on the CPU
    probs = predict_views(model, views)
    assert all(c["device"].type == "cuda" for c in model.calls)
    assert probs.device.type == "cpu"
    assert torch.allclose(probs, predict_views(MeanScorer(), views), atol=1e-5)


def test_predict_views_bad_input():
    model, views = MeanScorer(), constant_views([0.1, 0.2])
    with pytest.raises(ValueError, match=r"views must be a non-empty tensor \(V, C, T, H, W\)"):
        predict_views(model, views[0])
    with pytest.raises(ValueError, match=r"got \(0, 3, 2, 4, 4\)"):
        predict_views(model, views[:0])
    with pytest.raises(ValueError, match=r"floating point .*got dtype torch\.uint8"):
        predict_views(model, views.to(torch.uint8))
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got 0"):
        predict_views(model, views, batch_size=0)
    with pytest.raises(ValueError, match=r"model must be a torch\.nn\.Module, got function"):
        predict_views(lambda x: x, views)
    with pytest.raises(ValueError, match=r"logits \(N, num_classes\) .*got \(192,\) for N = 2"):
        predict_views(nn.Flatten(0), views)
    with pytest.raises(ValueError, match=r"logits \(N, num_classes\) .*got \(1, 3\) for N = 2"):
        predict_views(Pooled(), views)
