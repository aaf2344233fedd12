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
gradient is after ``backward()``. (``preprocess`` and ``predict``, from decoded frames to class
names, are in ``vidbook.eval.predict``.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidbook.checks import check_int
from vidbook.errors import BadValueError
from vidbook.models._checks import check_batch, check_clips, check_model
from vidbook.models.registry import register
from vidbook.runtime import eval_mode, resolve_device

HEADS = ("flatten", "average")


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
            setattr(self, name, check_int(name, getattr(self, name)))
        for name in ("frames", "height", "width"):  # two 2x poolings need 4 along every axis
            setattr(self, name, check_int(name, getattr(self, name), 4))
        widths = tuple(self.widths)
        if len(widths) != 2:
            raise BadValueError(
                f"widths must give two channel counts (C1, C2), got {self.widths!r}"
            )
        self.widths = tuple(check_int("widths[i]", w) for w in widths)
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
    check_model(model, "layer_shapes")
    check_batch(clips, "layer_shapes")
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
    device = resolve_device(model=model)
    try:
        with eval_mode(model):
            model(clips.to(device))
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
    check_model(model, "gradient_norms")
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
