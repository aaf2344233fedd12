"""Video transforms against plain torch: interpolate, slicing, flip, (x - mean) / std; bad input."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F

from vidbook.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    KINETICS_MEAN,
    KINETICS_STD,
    Compose,
    center_crop,
    hflip,
    normalize,
    random_crop,
    random_hflip,
    resize,
    three_crops,
    to_float,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def clip() -> torch.Tensor:
    """A float clip (C, T, H, W) = (3, 5, 24, 32)."""
    return torch.rand(3, 5, 24, 32, generator=gen(0))


@pytest.fixture
def clip_u8(clip) -> torch.Tensor:
    return (clip * 255).round().to(torch.uint8)


def positions(c: int = 1, t: int = 4, h: int = 12, w: int = 16, b: int | None = None):
    """A clip whose pixel (y, x) holds y * 100 + x in every frame: a crop tells where it was cut."""
    grid = torch.arange(h)[:, None] * 100 + torch.arange(w)
    out = grid.expand(c, t, h, w).float()
    return out if b is None else out.expand(b, c, t, h, w)


# ------------------------------------------------------------------------------------------
# to_float, constants
# ------------------------------------------------------------------------------------------
def test_to_float(clip, clip_u8):
    out = to_float(clip_u8)
    assert out.dtype == torch.float32 and out.shape == clip_u8.shape
    assert torch.equal(out, clip_u8.float() / 255)
    assert to_float(torch.tensor([[[[255]]]], dtype=torch.uint8)).item() == 1.0
    assert to_float(clip) is clip  # float passes through
    with pytest.raises(ValueError, match=r"uint8 or floating point, got dtype torch\.int32"):
        to_float(clip_u8.int())


def test_normalisation_constants():
    assert KINETICS_MEAN == (0.43216, 0.394666, 0.37645)
    assert KINETICS_STD == (0.22803, 0.22145, 0.216989)
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert IMAGENET_STD == (0.229, 0.224, 0.225)


# ------------------------------------------------------------------------------------------
# resize
# ------------------------------------------------------------------------------------------
def per_frame(clip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    frames = [
        F.interpolate(clip[:, t][None], size=size, mode="bilinear", antialias=True)[0]
        for t in range(clip.shape[1])
    ]
    return torch.stack(frames, dim=1)


def test_resize_equals_interpolate_per_frame(clip):
    assert torch.equal(resize(clip, (10, 7)), per_frame(clip, (10, 7)))
    assert torch.equal(resize(clip, (48, 40)), per_frame(clip, (48, 40)))  # enlarging too
    double = clip.double()
    assert resize(double, (10, 7)).dtype == torch.float64
    assert torch.allclose(resize(double, (10, 7)), per_frame(double, (10, 7)))


def test_resize_uint8_rounds(clip_u8):
    out = resize(clip_u8, (10, 7))
    assert out.dtype == torch.uint8 and out.shape == (3, 5, 10, 7)
    expected = per_frame(clip_u8.float(), (10, 7)).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(out, expected)


def test_resize_short_side_keeps_aspect_ratio():
    wide = torch.rand(3, 2, 240, 320)
    assert resize(wide, 128).shape == (3, 2, 128, 171)  # 320 * 128 / 240 = 170.67
    assert resize(wide.transpose(-1, -2), 128).shape == (3, 2, 171, 128)
    assert resize(wide, 120).shape == (3, 2, 120, 160)
    square = torch.rand(3, 2, 20, 20)
    assert resize(square, 8).shape == (3, 2, 8, 8)
    assert torch.equal(resize(wide, 128), per_frame(wide, (128, 171)))


def test_resize_batch_equals_each_clip(clip):
    batch = torch.stack([clip, clip.flip(1), 1 - clip])
    out = resize(batch, 12)
    assert out.shape == (3, 3, 5, 12, 16)
    for b in range(3):
        assert torch.equal(out[b], resize(batch[b], 12))


# ------------------------------------------------------------------------------------------
# crops
# ------------------------------------------------------------------------------------------
def test_center_crop_equals_slicing(clip):
    assert torch.equal(center_crop(clip, 16), clip[..., 4:20, 8:24])
    assert torch.equal(center_crop(clip, (11, 7)), clip[..., 6:17, 12:19])  # odd margins
    assert torch.equal(center_crop(clip, (24, 32)), clip)
    batch = clip[None].expand(2, -1, -1, -1, -1)
    assert torch.equal(center_crop(batch, 16), batch[..., 4:20, 8:24])


def test_random_crop_one_place_for_every_frame_of_a_clip():
    clip = positions(c=3, t=4, h=12, w=16)
    places = set()
    g = gen(4)
    for _ in range(300):
        out = random_crop(clip, (5, 9), generator=g)
        assert out.shape == (3, 4, 5, 9)
        top_left = int(out[0, 0, 0, 0])
        top, left = divmod(top_left, 100)
        assert torch.equal(out, clip[..., top : top + 5, left : left + 9])  # same in all frames
        places.add((top, left))
    assert places == {(t, x) for t in range(8) for x in range(8)}  # every place reachable


def test_random_crop_each_clip_of_a_batch_gets_its_own_place():
    batch = positions(c=2, t=3, h=12, w=16, b=32)
    out = random_crop(batch, 6, generator=gen(1))
    assert out.shape == (32, 2, 3, 6, 6)
    corners = set()
    for b in range(32):
        top, left = divmod(int(out[b, 0, 0, 0, 0]), 100)
        assert torch.equal(out[b], batch[b, ..., top : top + 6, left : left + 6])
        corners.add((top, left))
    assert len(corners) > 10  # one shared place would give 1


def test_random_crop_reproducible(clip):
    a = random_crop(clip, 8, generator=gen(9))
    assert torch.equal(a, random_crop(clip, 8, generator=gen(9)))
    assert not all(torch.equal(a, random_crop(clip, 8, generator=gen(s))) for s in range(5))


def test_three_crops_along_the_long_side(clip):
    left, middle, right = three_crops(clip, 16)  # 24 x 32: wide
    assert torch.equal(left, clip[..., 4:20, 0:16])
    assert torch.equal(middle, clip[..., 4:20, 8:24])
    assert torch.equal(right, clip[..., 4:20, 16:32])
    tall = clip.transpose(-1, -2)  # 32 x 24
    top, middle, bottom = three_crops(tall, 16)
    assert torch.equal(top, tall[..., 0:16, 4:20])
    assert torch.equal(middle, tall[..., 8:24, 4:20])
    assert torch.equal(bottom, tall[..., 16:32, 4:20])
    batch = torch.stack([clip, 1 - clip])
    crops = three_crops(batch, (24, 20))
    assert [tuple(c.shape) for c in crops] == [(2, 3, 5, 24, 20)] * 3
    assert torch.equal(crops[2], batch[..., :, 12:32])


# ------------------------------------------------------------------------------------------
# flips
# ------------------------------------------------------------------------------------------
def test_hflip_equals_torch_flip(clip, clip_u8):
    assert torch.equal(hflip(clip), torch.flip(clip, dims=(-1,)))
    assert torch.equal(hflip(clip_u8), torch.flip(clip_u8, dims=(3,)))
    assert torch.equal(hflip(hflip(clip)), clip)


def test_random_hflip_whole_clip_or_nothing(clip):
    assert torch.equal(random_hflip(clip, p=0.0), clip)
    assert torch.equal(random_hflip(clip, p=1.0), hflip(clip))
    g = gen(2)
    outcomes = []
    for _ in range(40):
        out = random_hflip(clip, generator=g)
        flipped = torch.equal(out, hflip(clip))
        assert flipped or torch.equal(out, clip)  # all frames alike
        outcomes.append(flipped)
    assert 5 < sum(outcomes) < 35


def test_random_hflip_each_clip_of_a_batch_decides(clip):
    batch = clip[None].repeat(64, 1, 1, 1, 1)
    out = random_hflip(batch, p=0.5, generator=gen(3))
    flipped = [torch.equal(out[b], hflip(clip)) for b in range(64)]
    kept = [torch.equal(out[b], clip) for b in range(64)]
    assert all(f != k for f, k in zip(flipped, kept, strict=True))
    assert 10 < sum(flipped) < 54  # a shared decision would give 0 or 64
    again = random_hflip(batch, p=0.5, generator=gen(3))
    assert torch.equal(out, again)


# ------------------------------------------------------------------------------------------
# normalize, Compose
# ------------------------------------------------------------------------------------------
def test_normalize_equals_formula(clip):
    mean = torch.tensor(KINETICS_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(KINETICS_STD).view(3, 1, 1, 1)
    out = normalize(clip, KINETICS_MEAN, KINETICS_STD)
    assert torch.allclose(out, (clip - mean) / std, rtol=0, atol=1e-6)
    assert out.dtype == clip.dtype and out.shape == clip.shape
    batch = torch.stack([clip, 1 - clip])
    assert torch.allclose(
        normalize(batch, IMAGENET_MEAN, IMAGENET_STD),
        (batch - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1))
        / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1),
        rtol=0,
        atol=1e-6,
    )
    gray = clip[:1]
    assert torch.allclose(normalize(gray, [0.5], [0.25]), (gray - 0.5) / 0.25)


def test_compose_applies_in_order(clip_u8):
    pipeline = Compose([to_float, partial(center_crop, size=16), hflip])
    assert torch.equal(pipeline(clip_u8), hflip(center_crop(to_float(clip_u8), 16)))
    assert "to_float" in repr(pipeline)
    assert torch.equal(Compose([])(clip_u8), clip_u8)
    with pytest.raises(ValueError, match=r"item 1 is a int"):
        Compose([to_float, 3])
    with pytest.raises(ValueError, match=r"list of callables, got function"):
        Compose(to_float)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_results_on_cuda(clip, clip_u8):
    cuda = clip.cuda()
    assert torch.allclose(resize(cuda, 12).cpu(), resize(clip, 12), atol=1e-5)
    assert torch.equal(resize(clip_u8.cuda(), 12).cpu(), resize(clip_u8, 12))
    batch = clip[None].repeat(8, 1, 1, 1, 1)
    for transform in (partial(random_crop, size=8), random_hflip):
        on_gpu = transform(batch.cuda(), generator=gen(5))
        assert on_gpu.is_cuda and torch.equal(on_gpu.cpu(), transform(batch, generator=gen(5)))
    out = normalize(cuda, KINETICS_MEAN, KINETICS_STD)
    assert torch.allclose(out.cpu(), normalize(clip, KINETICS_MEAN, KINETICS_STD), atol=1e-6)


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: to_float(c[0]), r"clip \(C, T, H, W\) or a batch .*got 3 dimensions"),
        (lambda c: resize(c[None, None], 8), r"got 6 dimensions with shape \(1, 1, 3, 5"),
        (lambda c: hflip(c.numpy()), r"must be a torch\.Tensor, got ndarray"),
        (lambda c: resize(c, 0), r"size must be an int >= 1 or a pair \(h, w\).*got 0"),
        (lambda c: resize(c, (8, -1)), r"size must be .*got \(8, -1\)"),
        (lambda c: resize(c, 8.0), r"size must be .*got 8\.0"),
        (lambda c: center_crop(c, 25), r"\(h, w\) = \(25, 25\) does not fit .*\(24, 32\)"),
        (lambda c: center_crop(c, (0, 4)), r"size must be .*got \(0, 4\)"),
        (lambda c: random_crop(c, (8, 40)), r"\(8, 40\) does not fit in frames .*\(24, 32\)"),
        (lambda c: random_crop(c, 8, generator=1), r"generator must be a torch\.Generator"),
        (lambda c: three_crops(c, 30), r"\(30, 30\) does not fit"),
        (lambda c: random_hflip(c, p=1.5), r"p must be a probability in \[0, 1\], got 1\.5"),
        (lambda c: normalize((c * 255).byte(), KINETICS_MEAN, KINETICS_STD), r"float clip.*uint8"),
        (lambda c: normalize(c, (0.5, 0.5), KINETICS_STD), r"mean must have one value per channel"),
        (lambda c: normalize(c, KINETICS_MEAN, [0.2] * 4), r"std .*\(3 for a clip .*got 4"),
        (lambda c: normalize(c, KINETICS_MEAN, (0.2, 0.0, 0.2)), r"std must be positive"),
        (lambda c: normalize(c, "abc", KINETICS_STD), r"mean must be a sequence of numbers"),
    ],
)
def test_bad_input_says_what_was_expected_and_what_came(clip, call, match):
    with pytest.raises(ValueError, match=match):
        call(clip)
