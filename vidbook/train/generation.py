"""Class-conditional video generation trained by flow matching (rectified flow; Lipman et al.,
2023; Liu et al., 2023), with a diffusion transformer (``vidbook.models.dit``).

Convention. Clips in [0, 1] are mapped to *model space* [-1, 1] (``x = 2 clip - 1``,
:func:`to_model_space`). Noise ``x0 ~ N(0, I)``, data ``x1``; the path between them is the
straight line ``x_t = (1 - t) x0 + t x1`` and its velocity ``v = x1 - x0`` is the regression
target. **t = 0 is noise, t = 1 is data**; sampling integrates ``dx/dt = v(x, t)`` from t = 0 to
t = 1 (:func:`integrate`). Training times are drawn uniform or logit-normal (SD3: ``sigmoid(n)``,
``n ~ N(mean, std)``, which puts more steps in the middle of the path).

Classifier-free guidance: training replaces a label by the null label (``num_classes``) with
probability ``class_dropout``; sampling mixes ``v = v_null + w (v_cond - v_null)``.

Function evaluations (NFE) of :func:`integrate` with ``steps`` steps, see :func:`nfe`: Euler
``steps``, Heun (trapezoid predictor-corrector, corrected on every step including the last)
``2 steps``, midpoint ``2 steps``. With guidance w != 1 each evaluation is one forward pass on a
batch twice the size (conditional and null together).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.checks import check_int, is_real
from vidbook.clip_shape import ClipShape
from vidbook.data import CLASSES
from vidbook.errors import BadValueError
from vidbook.models.dit import DiTConfig, VideoDiT, to_model_space
from vidbook.runtime import eval_mode, resolve_device
from vidbook.train.objective import Objective, unpack_labelled

METHODS = ("euler", "heun", "midpoint")
TIMESTEPS = ("uniform", "logit_normal")
FIXED_TIMESTEPS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

# Generators by name: DiTConfig fields; frames and size come from the clips (build_generator).
# dit_tiny: 64 tokens of 4x8x8 for 16x32x32 clips; dit_small: 128 tokens of 2x8x8.
GENERATORS: dict[str, dict] = {
    "dit_tiny": {"patch": (4, 8, 8), "dim": 128, "depth": 4, "heads": 4, "mlp_ratio": 4,
                 "class_dropout": 0.1, "prediction": "data"},
    "dit_small": {"patch": (2, 8, 8), "dim": 256, "depth": 6, "heads": 8, "mlp_ratio": 4,
                  "class_dropout": 0.1},
}  # fmt: skip


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value  # type: ignore[return-value]


def sample_timesteps(
    n: int,
    kind: str = "logit_normal",
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
    mean: float = 0.0,
    std: float = 1.0,
) -> torch.Tensor:
    """``n`` flow times (n,) float32 in [0, 1]: ``"uniform"``, or ``"logit_normal"``
    (``sigmoid(N(mean, std))``, SD3's default mean 0 and std 1)."""
    _choice("timesteps", kind, TIMESTEPS)
    if kind == "uniform":
        return torch.rand(n, device=device, generator=generator)
    return torch.sigmoid(mean + std * torch.randn(n, device=device, generator=generator))


def _broadcast_t(t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """t as (B,) on x's device: a number or a 0-d tensor is repeated, a (B,) tensor checked."""
    if not isinstance(t, torch.Tensor):
        if not is_real(t):
            raise BadValueError(f"t must be a number or a (B,) tensor, got {t!r}")
        t = torch.tensor(float(t))
    t = t.to(x.device, torch.float32)
    if t.ndim == 0:
        return t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise BadValueError(f"t must be a number or of shape ({x.shape[0]},), got {tuple(t.shape)}")
    return t


def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``x_t = (1 - t) x0 + t x1`` for x0, x1 (B, ...) and t (B,)."""
    tb = t.view(-1, *([1] * (x1.ndim - 1))).to(x1.dtype)
    return (1 - tb) * x0 + tb * x1


def flow_matching_loss(
    model: Callable[..., torch.Tensor],
    x1: torch.Tensor,
    label: torch.Tensor,
    t: torch.Tensor | float | None = None,
    noise: torch.Tensor | None = None,
    timesteps: str = "logit_normal",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean squared error (scalar, mean over every element) between ``model(x_t, t, label)`` and
    the velocity ``x1 - x0``.

    x1 (B, ...) data in model space, label (B,). ``t``: (B,), a number, or None (drawn per item
    by ``timesteps``, "uniform" or "logit_normal"); ``noise`` x0 like x1, or None (drawn). Draws
    use ``generator`` (on x1's device) or torch's global generator."""
    if noise is None:
        noise = torch.randn(x1.shape, device=x1.device, dtype=x1.dtype, generator=generator)
    elif noise.shape != x1.shape:
        raise BadValueError(
            f"noise must have x1's shape {tuple(x1.shape)}, got {tuple(noise.shape)}"
        )
    if t is None:
        t = sample_timesteps(x1.shape[0], timesteps, x1.device, generator)
    t = _broadcast_t(t, x1)
    output = model(interpolate(noise, x1, t), t, label)
    return F.mse_loss(output.float(), (x1 - noise).float())


class FlowMatching(Objective):
    """The Trainer's objective for a :class:`~vidbook.models.dit.VideoDiT`.

    ``unpack`` takes ``clip`` (B, C, T, H, W) in [0, 1] and ``label`` (B,) of a batch, maps the
    clip to model space, replaces each label by the null label ``num_classes`` with probability
    ``class_dropout``, draws t (by ``timesteps``) and noise with torch's global generator on the
    clip's device, and returns inputs ``(x_t, t, label)`` and targets ``x1 - x0``; ``loss`` is
    the mean squared error. :meth:`for_model` reads num_classes and class_dropout from a model.
    """

    accuracy = False

    def __init__(
        self,
        num_classes: int = len(CLASSES),
        class_dropout: float = 0.1,
        timesteps: str = "logit_normal",
    ) -> None:
        self.num_classes = check_int("num_classes", num_classes, 1)
        if not is_real(class_dropout) or not 0 <= class_dropout <= 1:
            raise BadValueError(f"class_dropout must be a number in [0, 1], got {class_dropout!r}")
        self.class_dropout = float(class_dropout)
        self.timesteps = _choice("timesteps", timesteps, TIMESTEPS)

    @classmethod
    def for_model(cls, model: VideoDiT, timesteps: str = "logit_normal") -> FlowMatching:
        """The objective with the model's ``cfg.num_classes`` and ``cfg.class_dropout``."""
        return cls(model.cfg.num_classes, model.cfg.class_dropout, timesteps)

    def unpack(self, batch: Any) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        clip, label = unpack_labelled(batch)
        # A latent generator's loader gives the clips' latents (already in model space).
        x1 = (
            batch["latent"]
            if isinstance(batch, dict) and "latent" in batch
            else to_model_space(clip)
        )
        dev = clip.device
        label = label.to(dev)
        if self.class_dropout > 0:
            drop = torch.rand(label.shape, device=dev) < self.class_dropout
            label = torch.where(drop, torch.full_like(label, self.num_classes), label)
        t = sample_timesteps(x1.shape[0], self.timesteps, dev)
        x0 = torch.randn_like(x1)
        return (interpolate(x0, x1, t), t, label), x1 - x0

    def loss(self, output: Any, targets: torch.Tensor) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.shape != targets.shape:
            got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output)
            raise BadValueError(
                f"the model must return a velocity of shape {tuple(targets.shape)}, got {got}"
            )
        return F.mse_loss(output.float(), targets.float())


def _guidance(guidance: object) -> float:
    if not is_real(guidance):
        raise BadValueError(f"guidance must be a finite number, got {guidance!r}")
    return float(guidance)


def velocity_with_guidance(
    model: nn.Module,
    x: torch.Tensor,
    t: torch.Tensor,
    label: torch.Tensor,
    guidance: float = 1.0,
    null_label: int | None = None,
) -> torch.Tensor:
    """Classifier-free guided velocity ``v_null + w (v_cond - v_null)`` (shape of x).

    x (B, ...), t (B,), label (B,); ``guidance`` w: 1 runs the conditional pass alone, 0 gives
    the null velocity; otherwise both passes run as one forward on 2B items. ``null_label``
    defaults to ``model.cfg.num_classes``."""
    w = _guidance(guidance)
    if w == 1.0:
        return model(x, t, label)
    if null_label is None:
        null_label = model.cfg.num_classes
    null = torch.full_like(label, null_label)
    v_cond, v_null = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([label, null])).chunk(2)
    return v_null + w * (v_cond - v_null)


def nfe(method: str, steps: int) -> int:
    """Velocity evaluations of :func:`integrate`: Euler ``steps``, Heun and midpoint
    ``2 steps``."""
    _choice("method", method, METHODS)
    return check_int("steps", steps) * (1 if method == "euler" else 2)


def integrate(
    velocity_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    steps: int,
    method: str = "euler",
) -> torch.Tensor:
    """Solve ``dx/dt = velocity_fn(x, t)`` from t = 0 (x0, shape (B, ...)) to t = 1 on ``steps``
    equal steps; ``velocity_fn`` gets x (B, ...) and t (B,) on x's device and dtype. Methods:
    ``"euler"``; ``"heun"``, the trapezoid rule: predict with Euler, then step with the mean of
    the slopes at both ends (second order); ``"midpoint"``, a half Euler step, then the full step
    with the slope there (second order). Returns x at t = 1; :func:`nfe` counts evaluations."""
    steps = check_int("steps", steps)
    _choice("method", method, METHODS)
    x, h = x0, 1.0 / steps
    ones = torch.ones(x0.shape[0], device=x0.device, dtype=x0.dtype)
    for i in range(steps):
        t = ones * (i * h)
        v = velocity_fn(x, t)
        if method == "euler":
            x = x + h * v
        elif method == "heun":
            predicted = x + h * v
            x = x + h / 2 * (v + velocity_fn(predicted, ones * ((i + 1) * h)))
        else:
            x = x + h * velocity_fn(x + h / 2 * v, ones * ((i + 0.5) * h))
    return x


def _labels(labels: Any, num_classes: int, dev: torch.device) -> torch.Tensor:
    """Labels (a sequence of ints or a 1D integer tensor) as (B,) long, in [0, num_classes]."""
    tensor = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(list(labels))
    if tensor.ndim != 1 or tensor.numel() == 0 or tensor.is_floating_point() or (
        tensor.dtype == torch.bool
    ):  # fmt: skip
        raise BadValueError(
            f"labels must be a non-empty 1D sequence of ints, got {tensor.dtype} of shape "
            f"{tuple(tensor.shape)}"
        )
    if bool(((tensor < 0) | (tensor > num_classes)).any()):
        raise BadValueError(
            f"labels must be in [0, {num_classes}] ({num_classes} = no class), got "
            f"{tensor.tolist()}"
        )
    return tensor.to(dev, torch.long)


def _model_device(model: nn.Module) -> torch.device:
    return resolve_device(model=model)


def sample(
    model: VideoDiT,
    labels: Sequence[int] | torch.Tensor,
    steps: int = 32,
    method: str = "heun",
    guidance: float = 1.0,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Generate one clip per label: (B, C, T, H, W) in [0, 1] (clamped), B = len(labels).

    Starts from noise (B, C, frames, size, size) of ``model.cfg``, drawn on the CPU (so a seed
    gives the same clips on every device) from ``generator``, or from ``seed``, or from torch's
    global generator, and integrates the guided velocity (:func:`velocity_with_guidance`) from
    t = 0 to 1 with ``steps`` steps of ``method``: :func:`nfe` forward passes, in eval mode
    without gradients (modes restored). Labels in [0, num_classes]; num_classes = no class."""
    cfg: DiTConfig = model.cfg
    steps = check_int("steps", steps)
    _choice("method", method, METHODS)
    w = _guidance(guidance)
    dev = _model_device(model)
    label = _labels(labels, cfg.num_classes, dev)
    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(check_int("seed", seed, 0))
    shape = (len(label), cfg.in_channels, cfg.frames, cfg.size, cfg.size)
    x0 = torch.randn(shape, generator=generator).to(dev)
    with eval_mode(model):
        x1 = integrate(
            lambda x, t: velocity_with_guidance(model, x, t, label, w), x0, steps, method
        )
    return model.to_clips(x1.float())


def fixed_timestep_losses(
    model: nn.Module,
    clips: torch.Tensor,
    labels: torch.Tensor,
    timesteps: Sequence[float] = FIXED_TIMESTEPS,
    seed: int = 0,
) -> dict[float, float]:
    """The flow-matching loss at each fixed t of ``timesteps``, with one fixed noise draw
    (from ``seed``, on the CPU) for all of them: ``{t: loss}``.

    clips (B, C, T, H, W) in [0, 1] and labels (B,) (no class dropout). Deterministic given
    the seed; runs in eval mode without gradients (modes restored). Open-Sora logs these: unlike
    the training loss, they do not move with the draw of t and noise."""
    if not timesteps or not all(is_real(t) and 0 <= t <= 1 for t in timesteps):
        raise BadValueError(f"timesteps must be numbers in [0, 1], got {timesteps!r}")
    dev = _model_device(model)
    x1 = model.to_model_space(clips.to(dev).float())
    generator = torch.Generator().manual_seed(check_int("seed", seed, 0))
    noise = torch.randn(x1.shape, generator=generator).to(dev)
    label = torch.as_tensor(labels).to(dev)
    with eval_mode(model):
        return {
            float(t): float(flow_matching_loss(model, x1, label, float(t), noise))
            for t in timesteps
        }


def build_generator(name: str, clip_shape: ClipShape, num_classes: int = len(CLASSES)) -> VideoDiT:
    """The VideoDiT ``name`` of :data:`GENERATORS` for square clips of ``clip_shape``."""
    if name not in GENERATORS:
        raise BadValueError(f"the generator must be one of {tuple(GENERATORS)}, got {name!r}")
    if not isinstance(clip_shape, ClipShape):
        raise BadValueError(f"clip_shape must be a ClipShape, got {type(clip_shape).__name__}")
    if not clip_shape.is_square:
        raise BadValueError(
            f"{name} generates square frames, got clip shape {clip_shape} (height "
            f"{clip_shape.height} != width {clip_shape.width})"
        )
    cfg = DiTConfig(
        frames=clip_shape.frames,
        size=clip_shape.height,
        num_classes=num_classes,
        **GENERATORS[name],
    )
    return VideoDiT(cfg)
