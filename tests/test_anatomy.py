"""anatomy: the five-box SourceCNN, layer_shapes, gradient_norms, preprocess and predict."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidbook.eval.predict import class_probabilities, predict, preprocess, sample_indices
from vidbook.models.anatomy import SourceCNN, SourceCNNConfig, gradient_norms, layer_shapes
from vidbook.models.registry import available, build, build_for_clips
from vidbook.scratch.conv import conv_output_size

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------------------------
# SourceCNN


def test_registered_and_sized_by_the_clips():
    assert "source_cnn" in available()
    model = build_for_clips("source_cnn", 7, frames=8, height=12, width=12, widths=(2, 3))
    assert isinstance(model, SourceCNN)
    assert (model.cfg.frames, model.cfg.height, model.cfg.width) == (8, 12, 12)
    assert model.fc.in_features == 3 * 2 * 3 * 3
    assert model(torch.rand(2, 3, 8, 12, 12)).shape == (2, 7)
    assert build("source_cnn").cfg.frames == 16  # defaults: 16 x 32 x 32 clips


def test_forward_backward_and_parameter_count():
    torch.manual_seed(0)
    model = build("source_cnn", num_classes=5, frames=8, size=16, widths=(4, 6))
    clips = torch.rand(2, 3, 8, 16, 16, requires_grad=True)
    model(clips).sum().backward()
    assert clips.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    conv1 = 4 * 3 * 27 + 4
    conv2 = 6 * 4 * 27 + 6
    fc = (6 * 2 * 4 * 4) * 5 + 5
    assert sum(p.numel() for p in model.parameters()) == conv1 + conv2 + fc


def test_forward_equals_the_functional_pipeline():
    torch.manual_seed(0)
    model = build("source_cnn", num_classes=4, frames=8, size=8, widths=(3, 5)).double()
    x = torch.rand(2, 3, 8, 8, 8, dtype=torch.float64)
    y = F.max_pool3d(F.relu(F.conv3d(x, model.conv1.weight, model.conv1.bias, padding=1)), 2)
    y = F.max_pool3d(F.relu(F.conv3d(y, model.conv2.weight, model.conv2.bias, padding=1)), 2)
    expected = F.linear(y.reshape(2, -1), model.fc.weight, model.fc.bias)
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-12)


def test_average_head_is_small_and_takes_any_clip_size():
    flat = build("source_cnn", frames=16, size=32, widths=(4, 8))
    avg = build("source_cnn", frames=16, size=32, widths=(4, 8), head="average")
    assert flat.fc.weight.shape == (10, 8 * 4 * 8 * 8)
    assert avg.fc.weight.shape == (10, 8)
    assert avg(torch.rand(1, 3, 8, 24, 40)).shape == (1, 10)
    clips = torch.rand(2, 3, 16, 32, 32)
    with torch.no_grad():
        maps = avg.pool2(avg.relu2(avg.conv2(avg.pool1(avg.relu1(avg.conv1(clips))))))
        torch.testing.assert_close(avg(clips), avg.fc(maps.mean(dim=(2, 3, 4))))


def test_bad_clips_and_configs_raise_clear_errors():
    model = build("source_cnn", frames=16, size=32, widths=(2, 2))
    with pytest.raises(ValueError, match=r"built for clips of T x H x W = 16 x 32 x 32.*8 x 32"):
        model(torch.rand(1, 3, 8, 32, 32))
    with pytest.raises(ValueError, match="head='average'"):
        model(torch.rand(1, 3, 16, 64, 64))
    with pytest.raises(ValueError, match="time axis before the channels"):
        model(torch.rand(1, 16, 3, 32, 32))
    with pytest.raises(ValueError, match="floating-point"):
        model(torch.zeros(1, 3, 16, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.rand(3, 16, 32, 32))
    avg = build("source_cnn", widths=(2, 2), head="average")
    with pytest.raises(ValueError, match="at least 4 frames"):
        avg(torch.rand(1, 3, 2, 32, 32))
    with pytest.raises(ValueError, match="4 x 4 pixels"):
        avg(torch.rand(1, 3, 8, 2, 32))
    with pytest.raises(ValueError, match="head must be one of"):
        SourceCNNConfig(head="max")
    with pytest.raises(ValueError, match="frames must be an int >= 4"):
        SourceCNNConfig(frames=3)
    with pytest.raises(ValueError, match="widths must give two"):
        SourceCNNConfig(widths=(4, 8, 16))
    with pytest.raises(ValueError, match="num_classes"):
        build("source_cnn", num_classes=0)


# ---------------------------------------------------------------------------------------------
# layer_shapes


def test_layer_shapes_of_a_known_model():
    model = build("source_cnn", num_classes=5, frames=8, height=12, width=16, widths=(4, 6))
    rows = layer_shapes(model, torch.rand(2, 3, 8, 12, 16))
    assert [r[0] for r in rows] == [
        "input",
        "conv1",
        "relu1",
        "pool1",
        "conv2",
        "relu2",
        "pool2",
        "flatten",
        "fc",
    ]
    shapes = dict((name, shape) for name, shape, _ in rows)
    assert shapes["input"] == (2, 3, 8, 12, 16)
    assert shapes["conv1"] == shapes["relu1"] == (2, 4, 8, 12, 16)
    assert shapes["pool1"] == (2, 4, 4, 6, 8)
    assert shapes["conv2"] == (2, 6, 4, 6, 8)
    assert shapes["pool2"] == (2, 6, 2, 3, 4)
    assert shapes["flatten"] == (2, 6 * 2 * 3 * 4)
    assert shapes["fc"] == (2, 5)
    params = dict((name, p) for name, _, p in rows)
    assert params["conv1"] == 4 * 3 * 27 + 4 and params["pool1"] == 0
    assert params["fc"] == 6 * 2 * 3 * 4 * 5 + 5
    assert sum(params.values()) == sum(p.numel() for p in model.parameters())
    # the output-size formula predicts every convolution and pooling row
    for axis, n in enumerate((8, 12, 16)):
        after_conv = conv_output_size(n, 3, 1, 1)
        after_pool = conv_output_size(after_conv, 2, 2)
        assert shapes["conv1"][2 + axis] == after_conv and shapes["pool1"][2 + axis] == after_pool


def test_layer_shapes_follows_call_order_counts_shared_modules_once_and_restores_mode():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
            self.first = nn.Flatten()  # registered first, but called second
            self.head = nn.Linear(4, 2)

        def forward(self, clips):
            x = self.first(clips.mean(dim=(3, 4)))[:, :4]
            x = self.block(self.block(x))  # the same layers twice
            return self.head(x)

    model = Shared().train()
    rows = layer_shapes(model, torch.rand(3, 2, 2, 5, 5))
    assert [r[0] for r in rows] == [
        "input",
        "first",
        "block.0",
        "block.1",
        "block.0",
        "block.1",
        "head",
    ]
    assert [r[2] for r in rows] == [0, 0, 20, 0, 0, 0, 10]
    assert all(r[1] == (3, 4) for r in rows[2:6]) and rows[-1][1] == (3, 2)
    assert model.training and model.block[1].training
    assert all(not hasattr(m, "_forward_hooks") or not m._forward_hooks for m in model.modules())


def test_layer_shapes_of_a_module_returning_a_tuple():
    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 5, batch_first=True)

        def forward(self, clips):
            out, _ = self.lstm(clips.mean(dim=(3, 4)).transpose(1, 2))  # (B, T, 3) -> (B, T, 5)
            return out[:, -1]

    rows = layer_shapes(Recurrent(), torch.rand(2, 3, 6, 4, 4))
    assert rows[1][:2] == ("lstm", (2, 6, 5))


def test_layer_shapes_bad_inputs():
    model = build("source_cnn", widths=(2, 2))
    with pytest.raises(ValueError, match="nn.Module"):
        layer_shapes(lambda x: x, torch.rand(1, 3, 16, 32, 32))
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        layer_shapes(model, torch.rand(3, 16, 32, 32))
    with pytest.raises(ValueError, match="floating-point"):
        layer_shapes(model, torch.zeros(1, 3, 16, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="built for clips"):  # the model's own check, hooks gone
        layer_shapes(model, torch.rand(1, 3, 8, 32, 32))
    assert all(not m._forward_hooks for m in model.modules())


# ---------------------------------------------------------------------------------------------
# gradient_norms


def test_gradient_norms_per_layer():
    torch.manual_seed(0)
    model = build("source_cnn", frames=8, size=8, widths=(2, 3))
    with pytest.raises(ValueError, match=r"backward\(\) first"):
        gradient_norms(model)
    loss = F.cross_entropy(model(torch.rand(4, 3, 8, 8, 8)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    norms = gradient_norms(model)
    assert list(norms) == ["conv1", "conv2", "fc"]
    for name, layer in (("conv1", model.conv1), ("fc", model.fc)):
        expected = torch.cat([layer.weight.grad.flatten(), layer.bias.grad]).norm().item()
        assert norms[name] == pytest.approx(expected, rel=1e-6)
    model.fc.bias.grad = None  # a missing gradient counts as zero
    assert gradient_norms(model)["fc"] == pytest.approx(model.fc.weight.grad.norm().item())
    with pytest.raises(ValueError, match="nn.Module"):
        gradient_norms("model")


# ---------------------------------------------------------------------------------------------
# preprocess


def test_sample_indices():
    assert sample_indices(32, 4).tolist() == [0, 10, 21, 31]
    assert sample_indices(3, 5).tolist() == [0, 0, 1, 2, 2]
    with pytest.raises(ValueError, match="frames must be an int >= 1"):
        sample_indices(10, 0)


def test_preprocess_samples_resizes_crops_and_scales():
    n, h, w = 20, 24, 40
    video = torch.zeros(n, h, w, 3, dtype=torch.uint8)
    video[..., 0] = torch.arange(n, dtype=torch.uint8)[:, None, None] * 10  # red = 10 * index
    video[:, :, : w // 2, 1] = 255  # green on the left half
    clip = preprocess(video, frames=5, size=12)
    assert clip.shape == (3, 5, 12, 12) and clip.dtype == torch.float32
    expected_red = sample_indices(n, 5).float() * 10 / 255
    torch.testing.assert_close(clip[0, :, 6, 6], expected_red)
    # 24 x 40 -> 12 x 20, central 12 columns = columns 4..15: the green edge at column 10
    green = clip[1, 0, 6]
    assert (green[:5] > 0.99).all() and (green[7:] < 0.01).all()
    same = preprocess(video.numpy(), frames=5, size=12)
    torch.testing.assert_close(same, clip)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    torch.testing.assert_close(preprocess(video, 5, 12, mean, std), (clip - 0.5) / 0.25)


def test_preprocess_bad_inputs():
    video = torch.zeros(4, 8, 8, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"channels first\?"):
        preprocess(torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        preprocess(video.float())
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        preprocess(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="both mean and std"):
        preprocess(video, mean=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="3 values"):
        preprocess(video, mean=(0.5,), std=(0.5,))
    with pytest.raises(ValueError, match="std must be positive"):
        preprocess(video, mean=(0, 0, 0), std=(1, 0, 1))
    with pytest.raises(ValueError, match="size must be"):
        preprocess(video, size=0)
    with pytest.raises(ValueError, match="uint8 array or tensor"):
        preprocess([[0]])


# ---------------------------------------------------------------------------------------------
# predict


class Brightness(nn.Module):
    """A model whose answer we know: class k when the clip's mean brightness is near k / 4."""

    def __init__(self, classes: int = 5, dropout: float = 0.0):
        super().__init__()
        self.centres = nn.Parameter(torch.arange(classes) / 4, requires_grad=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, clips):
        mean = clips.mean(dim=(1, 2, 3, 4))[:, None]  # (B, 1)
        return self.drop(-100 * (mean - self.centres) ** 2)  # (B, K)


def constant_clips(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)[:, None, None, None, None].expand(
        -1, 3, 4, 8, 8
    )


def test_predict_names_the_class_of_every_clip():
    names = ["zero", "quarter", "half", "three quarters", "one"]
    clips = constant_clips([0.95, 0.0, 0.5, 0.74, 0.26])
    expected = ["one", "zero", "half", "three quarters", "quarter"]
    assert predict(Brightness(), clips, names) == expected
    probs = class_probabilities(Brightness(), clips)
    assert probs.shape == (5, 5) and not probs.requires_grad
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(5))
    # what np.argmax without an axis would have done: one index into the flattened scores
    flat = int(np.argmax(Brightness()(clips).detach().numpy()))
    assert flat == 5  # row 1, column 0 of (5, 5): not even a class index


def test_predict_is_in_eval_mode_and_restores_training_mode():
    model = Brightness(dropout=0.9).train()
    clips = constant_clips([0.0, 0.25, 0.5, 0.75, 1.0] * 4)
    names = ["a", "b", "c", "d", "e"]
    expected = names * 4
    assert all(predict(model, clips, names) == expected for _ in range(5))
    assert model.training and model.drop.training


def test_predict_bad_inputs():
    model, clips = Brightness(), constant_clips([0.0, 1.0])
    with pytest.raises(ValueError, match="5 outputs but 3 class names"):
        predict(model, clips, ["a", "b", "c"])
    with pytest.raises(ValueError, match="sequence of names"):
        predict(model, clips, "abcde")
    with pytest.raises(ValueError, match="non-empty sequence of strings"):
        predict(model, clips, [0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        predict(model, clips[0], list("abcde"))
    with pytest.raises(ValueError, match=r"preprocess\(\)"):
        predict(model, (clips * 255).to(torch.uint8), list("abcde"))
    with pytest.raises(ValueError, match="nn.Module"):
        predict(lambda x: x, clips, list("abcde"))

    class Flat(nn.Module):
        def forward(self, clips):
            return clips.flatten()

    with pytest.raises(ValueError, match=r"logits of shape \(B, K\) = \(2, K\)"):
        predict(Flat(), clips, list("abcde"))
