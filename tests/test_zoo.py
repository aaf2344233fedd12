"""The model zoo at published scale: r3d_18, r2plus1d_18, vivit, sizes, FLOPs and their docstrings."""

from __future__ import annotations

import importlib
import re

import pytest
import torch
from torch import nn

from vidbook.models import (
    available,
    build,
    build_for_clips,
    count_flops,
    default_variant,
    flops_per_clip,
    parameter_count,
    variant_config,
    variants,
)
from vidbook.models.attention import EncoderBlock
from vidbook.models.resnet3d import middle_width

ZOO = ["r3d_18", "r2plus1d_18", "timesformer", "vivit", "c3d", "frame_cnn", "cnn_lstm"]


# ----- published sizes ------------------------------------------------------------------------
@pytest.mark.parametrize("name, published", [("r3d_18", 33_371_472), ("r2plus1d_18", 31_505_325)])
def test_parameter_counts_with_400_classes_equal_the_published_ones(name, published):
    with torch.device("meta"):
        model = build(name, num_classes=400)
    assert parameter_count(model) == published


@pytest.mark.parametrize("name, gmacs", [("r3d_18", 40.697), ("r2plus1d_18", 40.519)])
def test_forward_flops_are_twice_the_published_multiply_adds(name, gmacs):
    # torchvision lists 40.697 and 40.519 GFLOPS (multiply-adds) for 16 x 112 x 112, 400 classes
    flops = flops_per_clip(name, 16, 112, 112, num_classes=400)
    assert flops / 2e9 == pytest.approx(gmacs, abs=0.0005)


def test_r2plus1d_middle_widths_and_state_dict_names_follow_torchvision():
    # M = 27 c_in c_out / (9 c_in + 3 c_out): the widths torchvision's r2plus1d_18 has
    assert [middle_width(a, b) for a, b in [(64, 64), (64, 128), (128, 128), (128, 256)]] == [
        144,
        230,
        288,
        460,
    ]
    assert [middle_width(a, b) for a, b in [(256, 256), (256, 512), (512, 512)]] == [576, 921, 1152]
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in build("r2plus1d_18", 400).state_dict().items()}
    assert shapes["stem.0.weight"] == (45, 3, 1, 7, 7)
    assert shapes["stem.3.weight"] == (64, 45, 3, 1, 1)
    assert shapes["layer2.0.conv1.0.0.weight"] == (230, 64, 1, 3, 3)
    assert shapes["layer2.0.conv1.0.3.weight"] == (128, 230, 3, 1, 1)
    assert shapes["layer2.0.conv2.0.0.weight"] == (230, 128, 1, 3, 3)  # same M in both
    assert shapes["layer2.0.downsample.0.weight"] == (128, 64, 1, 1, 1)
    assert shapes["fc.weight"] == (400, 512)
    with torch.device("meta"):
        r3d = build("r3d_18", 400).state_dict()
    assert tuple(r3d["stem.0.weight"].shape) == (64, 3, 3, 7, 7)
    assert tuple(r3d["layer4.1.conv2.0.weight"].shape) == (512, 512, 3, 3, 3)


@pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None, reason="torchvision is not installed"
)
@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_same_function_as_torchvision_with_the_same_weights(name):
    import torchvision.models.video as tv

    torch.manual_seed(0)
    theirs = getattr(tv, name)(num_classes=400).eval()
    ours = build(name, num_classes=400).eval()
    ours.load_state_dict(theirs.state_dict())
    clips = torch.rand(2, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(clips), theirs(clips), rtol=1e-4, atol=1e-5)


# ----- every model of the zoo, small ----------------------------------------------------------
@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18", "vivit"])
def test_tiny_forward_backward_and_frame_order(name):
    torch.manual_seed(0)
    model = build_for_clips(name, 7, 8, 32, 32, variant="tiny")
    clips = torch.rand(2, 3, 8, 32, 32, requires_grad=True)
    logits = model(clips)
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert clips.grad is not None and clips.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert (model(clips.flip(2)) - model(clips)).abs().max() > 1e-4  # time order matters


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_channels_last_changes_speed_not_results(name):
    torch.manual_seed(0)
    fast = build(name, 5, variant="tiny", channels_last=True).eval()
    plain = build(name, 5, variant="tiny", channels_last=False).eval()
    plain.load_state_dict(fast.state_dict())
    clips = torch.rand(2, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fast(clips), plain(clips), rtol=1e-4, atol=1e-5)
    assert fast.stem[0].weight.is_contiguous(memory_format=torch.channels_last_3d)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_encoder_block_equals_torch_transformer_encoder_layer(dtype):
    torch.manual_seed(0)
    ours = EncoderBlock(32, 4, 3).to(dtype)
    theirs = nn.TransformerEncoderLayer(
        32, 4, 96, dropout=0.0, activation="gelu", norm_first=True, batch_first=True
    ).to(dtype)
    theirs.load_state_dict(ours.state_dict())  # same names, same shapes
    x = torch.randn(3, 10, 32, dtype=dtype, requires_grad=True)
    y_ours = ours(x)
    y_theirs = theirs(x)
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {}
    torch.testing.assert_close(y_ours, y_theirs, **tol)
    g = torch.randn_like(y_ours)
    names = [name for name, _ in ours.named_parameters()]
    theirs_by_name = dict(theirs.named_parameters())
    grads_ours = torch.autograd.grad(y_ours, [x, *ours.parameters()], g)
    grads_theirs = torch.autograd.grad(y_theirs, [x, *(theirs_by_name[n] for n in names)], g)
    for a, b in zip(grads_ours, grads_theirs, strict=True):
        torch.testing.assert_close(a, b, **tol)


def test_vivit_spatial_encoder_sees_no_time():
    # A tubelet-time slice's summary depends on that slice only: change the last frames and the
    # summaries of the first slices stay the same (time enters only in the temporal encoder).
    torch.manual_seed(0)
    model = build_for_clips("vivit", 4, 8, 32, 32).eval()
    clips = torch.rand(1, 3, 8, 32, 32)
    changed = clips.clone()
    changed[:, :, 6:] = torch.rand(1, 3, 2, 32, 32)
    with torch.no_grad():
        a, b = model.frame_summaries(clips), model.frame_summaries(changed)
    assert a.shape == (1, 4, 64)
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert (a[:, 3] - b[:, 3]).abs().max() > 1e-3


def test_vivit_bad_sizes_say_what_to_do():
    with pytest.raises(ValueError, match=r"divisible by the tubelet \(2, 8, 8\)"):
        build("vivit", frames=15, size=32)
    model = build_for_clips("vivit", 4, 8, 32, 32)
    with pytest.raises(ValueError, match=r"built for clips \(B, 3, 8, 32, 32\).*frames=\.\.\."):
        model(torch.rand(1, 3, 16, 32, 32))
    with pytest.raises(ValueError, match="time axis before the channels"):
        model(torch.rand(1, 8, 3, 32, 32))


# ----- sizes by name --------------------------------------------------------------------------
def test_variants_and_overrides():
    assert set(ZOO) <= set(available())
    for name in ZOO:
        assert variants(name) == ["base", "small", "tiny"]
    assert default_variant("r2plus1d_18") == "base" and default_variant("vivit") == "tiny"
    base = variant_config("vivit", "base")
    assert (base["dim"], base["heads"], base["spatial_depth"], base["tubelet"]) == (
        768,
        12,
        12,
        (2, 16, 16),
    )
    assert variant_config("timesformer", "base")["depth"] == 12
    model = build("r3d_18", variant="tiny", widths=(8, 8, 8, 8))  # a field overrides the variant
    assert model.cfg.widths == (8, 8, 8, 8) and model.cfg.blocks == (1, 1, 1, 1)
    with pytest.raises(ValueError, match=r"no variant 'huge'; its variants are base, small, tiny"):
        build("vivit", variant="huge")
    with pytest.raises(ValueError, match="source_cnn.*has no variants"):
        build("source_cnn", variant="base")
    with pytest.raises(ValueError, match="r3d_18.*no_such_option"):
        build("r3d_18", no_such_option=1)
    with pytest.raises(ValueError, match=r"one entry per stage"):
        build("r3d_18", widths=(8, 16), blocks=(1, 1, 1))


# ----- FLOPs ----------------------------------------------------------------------------------
def test_count_flops_of_a_convolution_is_two_per_multiply_add():
    conv = nn.Conv3d(3, 8, 3, padding=1, bias=False)
    clips = torch.rand(2, 3, 4, 6, 6)
    assert count_flops(conv, clips) == 2 * (3 * 27) * 8 * (2 * 4 * 6 * 6)
    # backward: the gradient of the weights only (the input needs none), as much again
    assert count_flops(conv, clips, backward=True) == 2 * count_flops(conv, clips)


def test_training_flops_are_about_three_times_the_forward():
    fwd = flops_per_clip("vivit", 16, 112, 112, variant="small")
    both = flops_per_clip("vivit", 16, 112, 112, variant="small", backward=True)
    assert 2.9 < both / fwd < 3.0  # the first layer's input needs no gradient


_ROW = re.compile(
    r"^(\w+)\s+(tiny|small|base)\s+([\d,]+)\s+(\d+) x (\d+) x (\d+)\s+([\d.e+-]+)$", re.M
)


@pytest.mark.parametrize(
    "module", ["resnet3d", "timesformer", "vivit", "c3d", "frame_cnn", "cnn_lstm"]
)
def test_docstring_tables_are_what_the_counter_says(module):
    doc = importlib.import_module(f"vidbook.models.{module}").__doc__
    rows = _ROW.findall(doc)
    assert len(rows) >= 3, f"no parameter/FLOPs table in vidbook.models.{module}"
    for name, variant, params, t, h, w, gflops in rows:
        t, h, w = int(t), int(h), int(w)
        with torch.device("meta"):
            model = build_for_clips(name, 10, t, h, w, variant=variant)
        assert parameter_count(model) == int(params.replace(",", "")), (name, variant)
        counted = flops_per_clip(name, t, h, w, variant=variant) / 1e9
        assert float(f"{counted:.4g}") == float(gflops), (name, variant, counted)
