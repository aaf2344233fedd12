"""anatomy: the textbook five-box network made real for clips, and tools to look inside a model.

``SourceCNN`` is the network that overviews draw as input -> convolution -> pooling ->
convolution -> pooling -> fully connected -> output, with 3D kernels so that it sees time:

    clips (B, C, T, H, W)
      conv1  Conv3d k=3, pad 1      (B, C1, T, H, W)          same size: padding 1 keeps it
      relu1, pool1 MaxPool3d 2      (B, C1, T/2, H/2, W/2)    halves time, height and width
      conv2  Conv3d k=3, pad 1      (B, C2, T/2, H/2, W/2)
      relu2, pool2 MaxPool3d 2      (B, C2, T/4, H/4, W/4)
      flatten                       (B, C2 * T/4 * H/4 * W/4)
      fc     Linear                 (B, num_classes) logits

With ``head="flatten"`` (the textbook picture) the fully connected layer has one weight per
feature *and position*, so its size is fixed by the clip size the model was built for; with
``head="average"`` the maps are averaged over (T, H, W) first (global average pooling), the way
the book's ``c3d`` and most modern networks end.

``layer_shapes`` lists what every layer outputs, ``gradient_norms`` how large each layer's
gradient is after ``backward()``, ``preprocess`` turns decoded frames into a model input and
``predict`` turns a model's logits into class names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidbook.errors import BadValueError
from vidbook.models._checks import check_clips
from vidbook.models.registry import register
from vidbook.runtime import eval_mode

HEADS = ("flatten", "average")


def _positive_int(name: str, value: object, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise BadValueError(f"{name} must be an int >= {least}, got {value!r}")
    return int(value)


@dataclass
class SourceCNNConfig:
    """Settings of ``SourceCNN``; ``frames``, ``height``, ``width``: the clip size it is built
    for (with ``head="flatten"`` the fully connected layer's size depends on it)."""

    num_classes: int = 10
    in_channels: int = 3
    frames: int = 16
    height: int = 32
    width: int = 32
    widths: tuple[int, int] = (8, 16)
    head: str = "flatten"
    channels_last: bool = True  # channels-last-3d memory: faster 3D convolutions on the CPU

    def __post_init__(self) -> None:
        for name in ("num_classes", "in_channels"):
            setattr(self, name, _positive_int(name, getattr(self, name)))
        for name in ("frames", "height", "width"):  # two 2x poolings need 4 along every axis
            setattr(self, name, _positive_int(name, getattr(self, name), least=4))
        widths = tuple(self.widths)
        if len(widths) != 2:
            raise BadValueError(
                f"widths must give two channel counts (C1, C2), got {self.widths!r}"
            )
        self.widths = tuple(_positive_int("widths[i]", w) for w in widths)
        if self.head not in HEADS:
            raise BadValueError(f"head must be one of {HEADS}, got {self.head!r}")

    @property
    def pooled(self) -> tuple[int, int, int]:
        """(T, H, W) after the two 2x2x2 max-poolings: each axis is halved (rounding down) twice."""
        return (self.frames // 4, self.height // 4, self.width // 4)


class SourceCNN(nn.Module):
    """(B, C, T, H, W) clips -> (B, num_classes) logits: two conv-ReLU-pool stages, one linear."""

    def __init__(self, cfg: SourceCNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c1, c2 = cfg.widths
        self.conv1 = nn.Conv3d(cfg.in_channels, c1, kernel_size=3, padding=1)
        self.relu1 = nn.ReLU(inplace=True)  # in place: one large tensor less to store
        self.pool1 = nn.MaxPool3d(kernel_size=2)
        self.conv2 = nn.Conv3d(c1, c2, kernel_size=3, padding=1)
        self.relu2 = nn.ReLU(inplace=True)
        self.pool2 = nn.MaxPool3d(kernel_size=2)
        if cfg.head == "average":
            self.gap = nn.AdaptiveAvgPool3d(1)  # (B, C2, T', H', W') -> (B, C2, 1, 1, 1)
            features = c2
        else:
            self.gap = None
            t, h, w = cfg.pooled
            features = c2 * t * h * w  # one input of fc per channel *and* position
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(features, cfg.num_classes)
        if cfg.channels_last:
            for conv in (self.conv1, self.conv2):
                conv.to(memory_format=torch.channels_last_3d)

    def check(self, clips: torch.Tensor) -> None:
        """ValueError unless ``clips`` is a float (B, C, T, H, W) batch this model accepts."""
        check_clips(clips, self.cfg.in_channels, "source_cnn", min_frames=4)
        t, h, w = clips.shape[2:]
        cfg = self.cfg
        if self.gap is None and (t, h, w) != (cfg.frames, cfg.height, cfg.width):
            raise BadValueError(
                f"source_cnn with head='flatten' was built for clips of T x H x W = "
                f"{cfg.frames} x {cfg.height} x {cfg.width}, got {t} x {h} x {w}: its fully "
                f"connected layer has a weight for every feature at every position "
                f"({self.fc.in_features} inputs), so the clip size is fixed when it is built. "
                "Build it for this size (build_for_clips) or use head='average'"
            )
        if min(h, w) < 4:
            raise BadValueError(f"source_cnn needs frames of at least 4 x 4 pixels, got {h} x {w}")

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        self.check(clips)
        if self.cfg.channels_last:  # the same values, stored channel-fastest
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        x = self.pool1(self.relu1(self.conv1(clips)))  # (B, C1, T/2, H/2, W/2)
        x = self.pool2(self.relu2(self.conv2(x)))  # (B, C2, T/4, H/4, W/4)
        if self.gap is not None:
            x = self.gap(x)  # (B, C2, 1, 1, 1)
        return self.fc(self.flatten(x))  # (B, num_classes)


@register("source_cnn", sized=True)
def source_cnn(
    num_classes: int = 10, frames: int = 16, size: int | None = None, **cfg
) -> SourceCNN:
    """``SourceCNN`` for clips of ``frames`` frames; ``size`` sets height and width at once."""
    if size is not None:
        cfg.setdefault("height", size)
        cfg.setdefault("width", size)
    return SourceCNN(SourceCNNConfig(num_classes=num_classes, frames=frames, **cfg))


# --------------------------------------------------------------------------------------------
# Looking inside a model
# --------------------------------------------------------------------------------------------
def _check_model(model: object, what: str) -> None:
    if not isinstance(model, nn.Module):
        raise BadValueError(
            f"{what} expects a torch.nn.Module as model, got {type(model).__name__}"
        )


def _check_batch(clips: object, what: str) -> None:
    """ValueError unless ``clips`` is a floating-point (B, C, T, H, W) tensor."""
    if not isinstance(clips, torch.Tensor):
        raise BadValueError(f"{what} expects a tensor of clips, got {type(clips).__name__}")
    if clips.ndim != 5:
        hint = (
            " — one clip (C, T, H, W)? add the batch axis: clips.unsqueeze(0)"
            if clips.ndim == 4
            else ""
        )
        raise BadValueError(
            f"{what} expects a batch of clips (B, C, T, H, W), got shape {tuple(clips.shape)}"
            + hint
        )
    if not clips.is_floating_point():
        raise BadValueError(
            f"{what} expects floating-point clips, got dtype {clips.dtype}; decoded uint8 frames "
            "need preprocessing first (preprocess(), or clips.float() / 255)"
        )


def _first_tensor(output: object) -> torch.Tensor | None:
    """The output itself if it is a tensor, else the first tensor inside a tuple, list or dict."""
    if isinstance(output, torch.Tensor):
        return output
    items = output.values() if isinstance(output, dict) else output
    if isinstance(items, (tuple, list)) or isinstance(output, dict):
        for item in items:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _device_of(model: nn.Module) -> torch.device | None:
    first = next(model.parameters(), None)
    return first.device if first is not None else None


def layer_shapes(model: nn.Module, clips: torch.Tensor) -> list[tuple[str, tuple[int, ...], int]]:
    """Push ``clips`` (B, C, T, H, W) through ``model`` once and list what every layer outputs.

    Returns ``[("input", clips.shape, 0), (name, output shape, parameters), ...]``: one row per
    call of a leaf module (one without submodules), in the order the calls happen; ``name`` is
    the module's name in ``model.named_modules()``. ``parameters`` counts the module's own
    parameters, on its first call only, so the column sums to the parameters of all leaves
    (parameters held by non-leaf modules, such as a class token, are not listed). For a module
    that returns a tuple (e.g. an LSTM) the shape is that of its first tensor. Runs in eval mode
    under ``torch.no_grad()`` and restores the modes afterwards.
    """
    _check_model(model, "layer_shapes")
    _check_batch(clips, "layer_shapes")
    rows: list[tuple[str, tuple[int, ...], int]] = [("input", tuple(clips.shape), 0)]
    seen: set[int] = set()

    def recorder(name: str):
        def hook(module: nn.Module, _inputs, output) -> None:
            first = id(module) not in seen
            seen.add(id(module))
            params = sum(p.numel() for p in module.parameters(recurse=False)) if first else 0
            tensor = _first_tensor(output)
            shape = tuple(tensor.shape) if tensor is not None else ()
            rows.append((name, shape, params))

        return hook

    leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(recorder(n or type(m).__name__)) for n, m in leaves]
    device = _device_of(model)
    try:
        with eval_mode(model):
            model(clips.to(device) if device is not None else clips)
    finally:
        for handle in handles:
            handle.remove()
    return rows


def gradient_norms(model: nn.Module) -> dict[str, float]:
    """After ``loss.backward()``: the L2 norm of each leaf module's gradient, all its parameters
    together, ``{module name: norm}`` in the order of ``model.named_modules()``.

    Modules without parameters (ReLU, pooling) are left out; a parameter without a gradient
    (frozen, or unused in the forward pass) counts as zero. ValueError if no parameter has one.
    """
    _check_model(model, "gradient_norms")
    if all(p.grad is None for p in model.parameters()):
        raise BadValueError(
            "gradient_norms: no parameter has a gradient; call loss.backward() first"
        )
    norms = {}
    for name, module in model.named_modules():
        if any(True for _ in module.children()):
            continue
        params = list(module.parameters(recurse=False))
        if not params:
            continue
        squares = sum(
            float(p.grad.detach().double().pow(2).sum()) for p in params if p.grad is not None
        )
        norms[name or type(module).__name__] = squares**0.5
    return norms


# --------------------------------------------------------------------------------------------
# From decoded frames to a prediction
# --------------------------------------------------------------------------------------------
def sample_indices(num_frames: int, frames: int) -> torch.Tensor:
    """``frames`` frame indices spread evenly over a video of ``num_frames`` frames, first and
    last included (repeated when the video is shorter than ``frames``): (frames,) long."""
    num_frames = _positive_int("num_frames", num_frames)
    frames = _positive_int("frames", frames)
    return torch.linspace(0, num_frames - 1, frames).round().long()


def preprocess(
    video: torch.Tensor | np.ndarray,
    frames: int = 16,
    size: int = 32,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> torch.Tensor:
    """Decoded frames (N, H, W, 3) uint8, as a video decoder gives them -> one clip
    (3, frames, size, size) float, ready for a model (add the batch axis with ``unsqueeze(0)``).

    1. sample ``frames`` frames evenly over the video (``sample_indices``);
    2. scale to [0, 1]; put the channels first;
    3. resize every frame so that its shorter side is ``size`` (bilinear, anti-aliased);
    4. cut the central ``size`` x ``size`` square;
    5. if ``mean`` and ``std`` are given (one value per channel), normalise: (x - mean) / std.
    """
    if isinstance(video, np.ndarray):
        video = torch.from_numpy(video)
    if not isinstance(video, torch.Tensor):
        raise BadValueError(
            f"preprocess expects a uint8 array or tensor, got {type(video).__name__}"
        )
    if video.ndim != 4 or video.shape[-1] != 3:
        hint = ""
        if video.ndim == 4 and 3 in video.shape[:2]:
            hint = " — channels first? preprocess takes frames as decoders give them, (N, H, W, 3)"
        raise BadValueError(
            f"preprocess expects decoded frames of shape (N, H, W, 3), got {tuple(video.shape)}"
            + hint
        )
    if video.dtype != torch.uint8:
        raise BadValueError(
            f"preprocess expects uint8 frames (0..255), got dtype {video.dtype}; clips that are "
            "already float in [0, 1] need no preprocessing"
        )
    frames = _positive_int("frames", frames)
    size = _positive_int("size", size)
    if (mean is None) != (std is None):
        raise BadValueError("preprocess: give both mean and std, or neither")
    picked = video[sample_indices(video.shape[0], frames)]  # (frames, H, W, 3)
    x = picked.permute(0, 3, 1, 2).float() / 255  # (frames, 3, H, W): frames as a batch of images
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[:, :, top : top + size, left : left + size].clamp(0, 1)  # (frames, 3, size, size)
    if mean is not None:
        m = torch.as_tensor(mean, dtype=x.dtype)
        s = torch.as_tensor(std, dtype=x.dtype)
        if m.shape != (3,) or s.shape != (3,):
            raise BadValueError(
                f"mean and std need 3 values (R, G, B), got {list(m)} and {list(s)}"
            )
        if (s <= 0).any():
            raise BadValueError(f"std must be positive, got {s.tolist()}")
        x = (x - m[:, None, None]) / s[:, None, None]
    return x.transpose(0, 1).contiguous()  # (3, frames, size, size)


def class_probabilities(model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Softmax of the model's logits: clips (B, C, T, H, W) -> (B, K) float32 on the CPU, each
    row summing to 1. Eval mode (dropout off, batch norm with its running statistics) and no
    gradient tape; the modes are restored afterwards."""
    _check_model(model, "class_probabilities")
    _check_batch(clips, "class_probabilities")
    device = _device_of(model)
    with eval_mode(model):
        logits = model(clips.to(device) if device is not None else clips)
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or len(logits) != len(clips):
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise BadValueError(
            f"the model must return logits of shape (B, K) = ({len(clips)}, K), got {got}"
        )
    return logits.float().softmax(dim=1).cpu()


def predict(model: nn.Module, clips: torch.Tensor, class_names: Sequence[str]) -> list[str]:
    """The name of the most probable class of every clip: (B, C, T, H, W) -> B names.

    ``class_names[k]`` names output ``k`` of the model. The argmax runs over the class axis,
    one per clip (``argmax(dim=1)``), not over the flattened (B, K) scores.
    """
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise BadValueError(
            f"class_names must be a sequence of names, got {type(class_names).__name__}"
        )
    if not class_names or not all(isinstance(n, str) for n in class_names):
        raise BadValueError("class_names must be a non-empty sequence of strings")
    probs = class_probabilities(model, clips)  # (B, K)
    if probs.shape[1] != len(class_names):
        raise BadValueError(
            f"the model has {probs.shape[1]} outputs but {len(class_names)} class names were "
            "given: give one name per output"
        )
    return [class_names[k] for k in probs.argmax(dim=1).tolist()]  # one class per clip
