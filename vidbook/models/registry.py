"""Models by name: ``build("c3d", num_classes=10)`` and ``available()``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make a model builder available under ``name``."""

    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"a model named {name!r} is already registered")
        _BUILDERS[name] = builder
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
