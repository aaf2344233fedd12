"""Models by name: ``build("c3d", num_classes=10)`` and ``available()``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_SIZED: set[str] = set()  # models whose weights depend on the clip size (position embeddings)


def register(
    name: str, sized: bool = False
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make a model builder available under ``name``.

    ``sized=True``: the builder takes ``frames`` and ``size`` (a square clip's side), because
    the model's parameters depend on them; ``build_for_clips`` passes them.
    """

    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"a model named {name!r} is already registered")
        _BUILDERS[name] = builder
        if sized:
            _SIZED.add(name)
        return builder

    return add


def available() -> list[str]:
    """Names accepted by ``build``, sorted."""
    return sorted(_BUILDERS)


def build(name: str, num_classes: int = 10, **cfg) -> nn.Module:
    """Build the model ``name`` with ``num_classes`` outputs; ``cfg`` goes to its config."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(available())}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return _BUILDERS[name](num_classes=num_classes, **cfg)


def build_for_clips(
    name: str, num_classes: int, frames: int, height: int, width: int, **cfg
) -> nn.Module:
    """``build`` for clips of shape (B, C, frames, height, width): a model whose parameters
    depend on the clip size gets it (and needs square frames); the others ignore it."""
    if name in _SIZED:
        if height != width:
            raise ValueError(f"{name} needs square frames, got height {height} and width {width}")
        cfg = {"frames": frames, "size": height, **cfg}
    return build(name, num_classes=num_classes, **cfg)
