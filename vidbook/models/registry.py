"""Models by name: ``build("c3d", num_classes=10)``, ``build("r2plus1d_18", variant="tiny")``.

A model may come in named sizes (``variants("vivit")`` -> ``["base", "small", "tiny"]``): a
variant is a set of config fields, and fields given to ``build`` override it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import nn

from vidbook.checks import is_int
from vidbook.clip_shape import ClipShape
from vidbook.errors import BadValueError

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_SIZED: set[str] = set()  # models whose weights depend on the clip size (position embeddings)
_VARIANTS: dict[str, dict[str, dict]] = {}
_DEFAULT_VARIANT: dict[str, str] = {}


def register(
    name: str,
    sized: bool = False,
    variants: Mapping[str, Mapping] | None = None,
    default_variant: str | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make a model builder available under ``name``.

    ``sized=True``: the builder takes ``frames`` and ``size`` (a square clip's side), because
    the model's parameters depend on them; ``build_for_clips`` passes them. ``variants``: named
    sizes, each a dict of config fields; ``default_variant`` is the one ``build`` uses when it
    is given none.
    """
    variants = {k: dict(v) for k, v in (variants or {}).items()}
    if variants and default_variant not in variants:
        raise BadValueError(
            f"default_variant must be one of {sorted(variants)}, got {default_variant!r}"
        )

    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise BadValueError(f"a model named {name!r} is already registered")
        _BUILDERS[name] = builder
        if sized:
            _SIZED.add(name)
        if variants:
            _VARIANTS[name] = variants
            _DEFAULT_VARIANT[name] = default_variant
        return builder

    return add


def available() -> list[str]:
    """Names accepted by ``build``, sorted."""
    return sorted(_BUILDERS)


def _check_name(name: str) -> None:
    if name not in _BUILDERS:
        raise BadValueError(f"unknown model {name!r}; available models: {', '.join(available())}")


def variants(name: str) -> list[str]:
    """The named sizes of model ``name``, sorted (empty if it has none)."""
    _check_name(name)
    return sorted(_VARIANTS.get(name, {}))


def default_variant(name: str) -> str | None:
    """The variant ``build(name)`` uses when given none (None if the model has no variants)."""
    _check_name(name)
    return _DEFAULT_VARIANT.get(name)


def variant_config(name: str, variant: str | None = None) -> dict:
    """The config fields of ``variant`` of model ``name`` (default: its default variant)."""
    _check_name(name)
    table = _VARIANTS.get(name, {})
    if variant is None:
        return dict(table.get(_DEFAULT_VARIANT.get(name), {}))
    if variant not in table:
        sizes = f"its variants are {', '.join(sorted(table))}" if table else "it has no variants"
        raise BadValueError(f"model {name!r} has no variant {variant!r}; {sizes}")
    return dict(table[variant])


def build(name: str, num_classes: int = 10, variant: str | None = None, **cfg) -> nn.Module:
    """Build the model ``name`` with ``num_classes`` outputs.

    ``variant`` picks a named size (see ``variants``); ``cfg`` fields go to the model's config
    and override the variant's.
    """
    _check_name(name)
    if not is_int(num_classes) or num_classes < 1:
        raise BadValueError(f"num_classes must be a positive int, got {num_classes!r}")
    fields = {**variant_config(name, variant), **cfg}
    try:
        return _BUILDERS[name](num_classes=num_classes, **fields)
    except TypeError as err:
        if "unexpected keyword argument" in str(err):
            raise BadValueError(f"model {name!r}: {err}") from err
        raise


def build_for_clips(
    name: str,
    num_classes: int,
    frames: int | ClipShape | None = None,
    height: int | None = None,
    width: int | None = None,
    *,
    clip_shape: ClipShape | None = None,
    **cfg,
) -> nn.Module:
    """``build`` for clips of shape (B, C, T, H, W): a model whose parameters depend on the clip
    size gets it (and needs square frames); the others ignore it.

    The size is a :class:`vidbook.clip_shape.ClipShape`, given as ``clip_shape=`` or as the third
    argument, or as ``frames, height, width``: ``build_for_clips("vivit", 10, ClipShape(8, 32,
    32))`` and ``build_for_clips("vivit", 10, 8, 32, 32)`` build the same model.
    """
    shape = ClipShape.resolve(frames, height, width, clip_shape=clip_shape)
    if name in _SIZED:
        if not shape.is_square:
            raise BadValueError(
                f"{name} needs square frames, got height {shape.height} and width {shape.width}"
            )
        cfg = {"frames": shape.frames, "size": shape.height, **cfg}
    return build(name, num_classes=num_classes, **cfg)
