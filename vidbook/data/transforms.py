"""Video transforms on clips (C, T, H, W) or batches (B, C, T, H, W), uint8 or float.

A crop or flip treats a clip as one picture in time: every frame of the clip gets the same crop and
the same flip, or the motion would jump. In a batch, the random transforms (:func:`random_crop`,
:func:`random_hflip`) draw a separate choice for each clip; the fixed ones treat every clip alike.
Randomness comes only from the optional ``torch.Generator`` (a CPU generator, whatever the clip's
device), so a seeded generator repeats the same augmentation.

Usual order for training: ``Compose([to_float, partial(resize, size=128), partial(random_crop,
size=112), random_hflip, partial(normalize, mean=KINETICS_MEAN, std=KINETICS_STD)])``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from vidbook.checks import is_int, is_real
from vidbook.errors import BadValueError

# Per-channel (RGB) statistics of the training videos the published models saw.
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)  # R3D, MC3, R(2+1)D (torchvision's video models)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # image-pretrained backbones, VideoMAE, Swin
IMAGENET_STD = (0.229, 0.224, 0.225)

Size = int | tuple[int, int]


def _check_clip(clip: object, what: str = "clip") -> Tensor:
    """Raise a ValueError unless ``clip`` is a uint8 or float (C, T, H, W) or (B, C, T, H, W) tensor."""
    if not isinstance(clip, Tensor):
        raise BadValueError(f"{what} must be a torch.Tensor, got {type(clip).__name__}")
    if clip.ndim not in (4, 5):
        raise BadValueError(
            f"{what} must be a clip (C, T, H, W) or a batch (B, C, T, H, W), "
            f"got {clip.ndim} dimensions with shape {tuple(clip.shape)}"
        )
    if clip.dtype != torch.uint8 and not clip.is_floating_point():
        raise BadValueError(f"{what} must be uint8 or floating point, got dtype {clip.dtype}")
    return clip


def _check_size(size: object, name: str = "size") -> tuple[int, int] | int:
    """``size`` as given if it is an int >= 1 or a pair (h, w) of them, else a ValueError."""

    def positive_int(v: object) -> bool:
        return is_int(v) and v >= 1

    if positive_int(size):
        return size  # type: ignore[return-value]
    if isinstance(size, Sequence) and len(size) == 2 and all(positive_int(v) for v in size):
        return int(size[0]), int(size[1])
    raise BadValueError(f"{name} must be an int >= 1 or a pair (h, w) of them, got {size!r}")


def _crop_size(clip: Tensor, size: object) -> tuple[int, int]:
    """The crop's (h, w), checked against the clip's frame size."""
    size = _check_size(size)
    h, w = (size, size) if isinstance(size, int) else size
    height, width = clip.shape[-2:]
    if h > height or w > width:
        raise BadValueError(
            f"crop size (h, w) = ({h}, {w}) does not fit in frames of (H, W) = ({height}, {width})"
        )
    return h, w


def _check_generator(generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise BadValueError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )


def to_float(clip: Tensor) -> Tensor:
    """uint8 in [0, 255] -> float32 in [0, 1]; a float clip is returned as it is. Shape unchanged."""
    clip = _check_clip(clip)
    return clip.to(torch.float32).div_(255) if clip.dtype == torch.uint8 else clip


def resize(clip: Tensor, size: Size) -> Tensor:
    """Resize every frame: ``size`` an int sets the short side (aspect ratio kept), or (h, w).

    Bilinear with antialiasing (``F.interpolate(..., antialias=True)``), so shrinking does not alias.
    With an int, the long side becomes ``round(long * size / short)``: 240 x 320 frames with
    ``size=128`` become 128 x 171, the R(2+1)D recipe's size. uint8 in gives uint8 out (rounded);
    float in gives the same float dtype out. (C, T, H, W) -> (C, T, h, w); batches likewise.
    """
    clip = _check_clip(clip)
    size = _check_size(size)
    height, width = clip.shape[-2:]
    if isinstance(size, int):
        scale = size / min(height, width)
        if height <= width:
            size = (size, max(1, round(width * scale)))
        else:
            size = (max(1, round(height * scale)), size)
    frames = clip.reshape(1, -1, height, width)  # every (channel, frame) resized alike
    work = torch.float64 if clip.dtype == torch.float64 else torch.float32
    out = F.interpolate(frames.to(work), size=size, mode="bilinear", antialias=True)
    if clip.dtype == torch.uint8:
        out = out.round_().clamp_(0, 255)
    return out.to(clip.dtype).reshape(*clip.shape[:-2], *size)


def center_crop(clip: Tensor, size: Size) -> Tensor:
    """The central ``size`` (int: square, or (h, w)) of every frame; odd margins favour the top/left.

    A view into ``clip`` (slicing), no copy. (..., H, W) -> (..., h, w).
    """
    clip = _check_clip(clip)
    h, w = _crop_size(clip, size)
    top, left = (clip.shape[-2] - h) // 2, (clip.shape[-1] - w) // 2
    return clip[..., top : top + h, left : left + w]


def random_crop(clip: Tensor, size: Size, generator: torch.Generator | None = None) -> Tensor:
    """A crop of ``size`` at a random place, the same place in every frame of a clip.

    Each clip of a batch gets its own place (drawn in batch order from ``generator``).
    (C, T, H, W) -> (C, T, h, w); (B, C, T, H, W) -> (B, C, T, h, w).
    """
    clip = _check_clip(clip)
    h, w = _crop_size(clip, size)
    _check_generator(generator)
    height, width = clip.shape[-2:]
    n = clip.shape[0] if clip.ndim == 5 else 1
    tops = torch.randint(height - h + 1, (n,), generator=generator).tolist()
    lefts = torch.randint(width - w + 1, (n,), generator=generator).tolist()
    if clip.ndim == 4:
        return clip[..., tops[0] : tops[0] + h, lefts[0] : lefts[0] + w]
    return torch.stack(
        [c[..., t : t + h, x : x + w] for c, t, x in zip(clip, tops, lefts, strict=True)]
    )


def three_crops(clip: Tensor, size: Size) -> list[Tensor]:
    """The usual 3-crop testing: three crops of ``size`` along the frame's long side.

    Wide frames (W >= H) give left, centre and right crops; tall frames give top, centre and
    bottom. Across the long side the crops are centred. Resize the short side to the crop size
    first to cover the whole frame. Returns a list of three views, each (..., h, w).
    """
    clip = _check_clip(clip)
    h, w = _crop_size(clip, size)
    height, width = clip.shape[-2:]
    middle = center_crop(clip, (h, w))
    if width >= height:
        top = (height - h) // 2
        first = clip[..., top : top + h, :w]
        last = clip[..., top : top + h, width - w :]
    else:
        left = (width - w) // 2
        first = clip[..., :h, left : left + w]
        last = clip[..., height - h :, left : left + w]
    return [first, middle, last]


def hflip(clip: Tensor) -> Tensor:
    """Mirror every frame left to right (``torch.flip`` on the width axis). Shape unchanged."""
    return torch.flip(_check_clip(clip), dims=(-1,))


def random_hflip(clip: Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Mirror the whole clip with probability ``p``; each clip of a batch decides on its own.

    Note that mirroring changes the meaning of direction classes (left <-> right): use it only
    when the labels do not depend on it. Shape unchanged.
    """
    clip = _check_clip(clip)
    if not is_real(p) or not 0.0 <= p <= 1.0:
        raise BadValueError(f"p must be a probability in [0, 1], got {p!r}")
    _check_generator(generator)
    n = clip.shape[0] if clip.ndim == 5 else 1
    flip = torch.rand(n, generator=generator) < p
    if clip.ndim == 4:
        return hflip(clip) if bool(flip[0]) else clip
    flip = flip.to(clip.device).view(n, 1, 1, 1, 1)
    return torch.where(flip, torch.flip(clip, dims=(-1,)), clip)


def normalize(clip: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """``(clip - mean) / std`` per channel, for float clips (convert uint8 with :func:`to_float`).

    ``mean`` and ``std`` hold one value per channel, e.g. :data:`KINETICS_MEAN` and
    :data:`KINETICS_STD`. Returns a new tensor of the clip's shape and dtype.
    """
    clip = _check_clip(clip)
    if not clip.is_floating_point():
        raise BadValueError(
            f"normalize expects a float clip (e.g. in [0, 1]), got dtype {clip.dtype}; "
            "convert it with to_float(clip) first"
        )
    channels = clip.shape[-4]
    stats = {}
    for name, values in (("mean", mean), ("std", std)):
        try:
            stats[name] = torch.as_tensor(values, dtype=clip.dtype).to(clip.device).flatten()
        except (TypeError, ValueError, RuntimeError) as err:
            raise BadValueError(f"{name} must be a sequence of numbers, got {values!r}") from err
        if stats[name].numel() != channels:
            raise BadValueError(
                f"{name} must have one value per channel ({channels} for a clip of shape "
                f"{tuple(clip.shape)}), got {stats[name].numel()}: {values!r}"
            )
    if not bool((stats["std"] > 0).all()):
        raise BadValueError(f"std must be positive in every channel, got {std!r}")
    shape = (channels, 1, 1, 1)  # broadcasts over (C, T, H, W) and (B, C, T, H, W)
    return (clip - stats["mean"].view(shape)) / stats["std"].view(shape)


class Compose:
    """Apply transforms in order: ``Compose([to_float, hflip])(clip) == hflip(to_float(clip))``."""

    def __init__(self, transforms: Sequence[Callable[[Tensor], Tensor]]) -> None:
        if isinstance(transforms, str | bytes) or not isinstance(transforms, Sequence):
            raise BadValueError(
                f"Compose expects a list of callables, got {type(transforms).__name__}"
            )
        for i, t in enumerate(transforms):
            if not callable(t):
                raise BadValueError(
                    f"Compose expects callables, but item {i} is a {type(t).__name__}: {t!r}"
                )
        self.transforms = list(transforms)

    def __call__(self, clip: Tensor) -> Tensor:
        for t in self.transforms:
            clip = t(clip)
        return clip

    def __repr__(self) -> str:
        inner = ", ".join(getattr(t, "__name__", repr(t)) for t in self.transforms)
        return f"Compose([{inner}])"
