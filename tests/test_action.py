"""ActionOrNot: balanced, labelled by motion, and clear about bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidbook.data import ClipLoader, SynthActions
from vidbook.data.action import STATIC, ActionOrNot


def test_balanced_and_labelled_by_motion():
    world = SynthActions("train", size=300, frames=4, height=16, width=16)
    view = ActionOrNot(world)
    n_static = int((world.label_of(np.arange(300)) == STATIC).sum())
    assert len(view) == 2 * n_static and n_static > 10
    batch = view.batch(range(len(view)))
    assert batch["label"].dtype == torch.long and batch["label"].sum().item() == n_static
    original = torch.as_tensor(world.label_of(view.indices))
    assert torch.equal(batch["label"], (original != STATIC).long())
    assert torch.equal(batch["clip"][:3], world.batch(view.indices[:3])["clip"])
    assert len(list(ClipLoader(view, batch_size=16))) == -(-len(view) // 16)


def test_bad_inputs():
    with pytest.raises(ValueError, match="SynthActions split, got list"):
        ActionOrNot([1, 2, 3])
    view = ActionOrNot(SynthActions("val", size=100, frames=4, height=16, width=16))
    with pytest.raises(ValueError, match=f"index {len(view)} is out of range"):
        view.batch([0, len(view)])
    tiny = SynthActions("val", size=1, frames=4, height=16, width=16)
    if tiny.label_of(np.arange(1))[0] != STATIC:
        with pytest.raises(ValueError, match="no static clip"):
            ActionOrNot(tiny)


def test_captions_use_an_before_a_vowel():
    from vidbook.data.synth import COLOURS

    for colour, name in enumerate(COLOURS):
        caption = SynthActions.caption_for(0, 0, colour)
        assert caption.startswith(("an " if name[0] in "aeiou" else "a ") + name), caption
