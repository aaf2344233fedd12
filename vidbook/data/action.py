"""Action or no action: a balanced two-class view of SynthActions.

In SynthActions one class (``static``) is an actor that stays still; in the nine others
something happens. :class:`ActionOrNot` keeps every static clip of a split and as many moving
clips (the first ones, in index order), and relabels them 0 = no action, 1 = action — the
two-class question of the book's chapters 5, 6 and 9.
"""

from __future__ import annotations

import numpy as np
import torch

from vidbook.data.synth import CLASSES, SynthActions
from vidbook.errors import BadValueError

STATIC = CLASSES.index("static")
ACTION_CLASSES = ("no_action", "action")


class ActionOrNot:
    """A balanced binary data set over ``world`` (a SynthActions split).

    ``len(view)`` is twice the number of static clips in ``world``; ``view.batch(indices)`` is
    ``world.batch`` of the chosen clips with ``label`` (B,) long: 1 where the actor moves.
    ``view.indices`` are the clips' indices in ``world``, in increasing order.
    """

    classes = ACTION_CLASSES
    num_classes = 2

    def __init__(self, world: SynthActions) -> None:
        if not isinstance(world, SynthActions):
            raise BadValueError(
                f"ActionOrNot needs a SynthActions split, got {type(world).__name__}"
            )
        idx = np.arange(len(world))
        labels = world.label_of(idx)
        still, moving = idx[labels == STATIC], idx[labels != STATIC]
        if len(still) == 0:
            raise BadValueError(
                f"{world!r} has no static clip to balance against; use a larger size (about "
                "one clip in ten is static)"
            )
        self.world = world
        self.indices = np.sort(np.concatenate([still, moving[: len(still)]]))

    def __len__(self) -> int:
        return len(self.indices)

    def batch(self, indices, device: torch.device | str | None = None, captions: bool = False):
        """The clips at positions ``indices`` of this view, labelled 0 (still) or 1 (moving)."""
        positions = np.asarray(indices, dtype=np.int64).reshape(-1)
        bad = (positions < 0) | (positions >= len(self))
        if bad.any():
            raise BadValueError(
                f"index {int(positions[bad][0])} is out of range for ActionOrNot of size "
                f"{len(self)}; valid indices are 0..{len(self) - 1}"
            )
        out = self.world.batch(self.indices[positions], device=device, captions=captions)
        return {**out, "label": out["action"].long()}

    def __repr__(self) -> str:
        return f"ActionOrNot({self.world!r}: {len(self)} clips, half of them static)"
