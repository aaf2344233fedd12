"""The SynthScenes splits of a run, made one way for every scene task."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidbook.data import SynthScenes
from vidbook.errors import BadValueError

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec


def scene_set(spec: RunSpec, split: str, size: int | None = None) -> SynthScenes:
    """SynthScenes ``split`` with the run's clip shape, difficulty and seed; ``size`` by default
    the spec's size of that split (for ``"test"``: ``test_size``, else ``val_size``)."""
    sizes = {"train": spec.train_size, "val": spec.val_size,
             "test": spec.test_size or spec.val_size}  # fmt: skip
    if split not in sizes:
        raise BadValueError(f"split must be one of {tuple(sizes)}, got {split!r}")
    return SynthScenes(split, size=size or sizes[split], clip_shape=spec.clip_shape,
                       difficulty=spec.difficulty, seed=spec.seed)  # fmt: skip
