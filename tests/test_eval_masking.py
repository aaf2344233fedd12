"""The copy baseline of masked reconstruction, on clips whose answer is known by hand."""

from __future__ import annotations

import pytest
import torch

from vidbook.errors import BadValueError
from vidbook.eval.masking import copy_fill_error
from vidbook.models.mae import random_mask, tube_mask, tubelets

TUBELET = (1, 2, 2)  # a 4 x 4 x 4 clip -> 4 time slices of 2 x 2 places


def test_random_mask_hides_the_asked_share_anywhere():
    mask = random_mask(500, (4, 2, 2), 0.75, torch.Generator().manual_seed(0))
    assert mask.shape == (500, 16) and bool((mask.sum(1) == 12).all())
    share = mask.float().mean(0)  # every token is hidden about as often
    assert float(share.min()) > 0.65 and float(share.max()) < 0.85
    assert not bool(mask.view(500, 4, 4).all(dim=1).all())  # not whole tubes


def test_a_still_clip_is_copied_exactly_along_time_but_not_along_space():
    frame = torch.rand(1, 3, 1, 4, 4)
    clip = frame.expand(1, 3, 4, 4, 4).contiguous()
    mask = torch.zeros(1, 16, dtype=torch.bool)
    mask[0, [0, 5, 10, 15]] = True  # one place hidden per time slice, each at another place
    assert copy_fill_error(clip, mask, TUBELET, "time") == pytest.approx(0.0, abs=1e-12)
    assert copy_fill_error(clip, mask, TUBELET, "space") > 0.0


def test_copying_along_space_takes_the_nearest_visible_place_of_the_same_frame():
    clip = torch.zeros(1, 1, 1, 4, 4)
    clip[..., :2, 2:] = 1.0  # place 1 (row 0, column 1) is bright, the others dark
    mask = torch.tensor([[False, True, True, False]])  # places 1 and 2 hidden
    # place 1 copies place 0 or 3 (both 1 step away; the first is taken): error 1 per pixel;
    # place 2 copies place 0 (1 step): error 0. Mean over the two hidden tubelets: 0.5.
    assert copy_fill_error(clip, mask, TUBELET, "space") == pytest.approx(0.5)


def test_a_tube_mask_leaves_nothing_to_copy_along_time():
    clip = torch.rand(2, 3, 4, 4, 4)
    mask = tube_mask(2, (4, 2, 2), 0.5, torch.Generator().manual_seed(1))
    pixels = tubelets(clip, TUBELET)  # (B, L, t p p, C)
    # every hidden tubelet falls back to its clip's mean visible colour
    errors = [(pixels[i][mask[i]] - pixels[i][~mask[i]].mean(dim=(0, 1))) ** 2 for i in range(2)]
    expected = torch.cat([e.flatten() for e in errors]).mean()
    assert copy_fill_error(clip, mask, TUBELET, "time") == pytest.approx(float(expected), rel=1e-5)


def test_bad_inputs_are_refused():
    clip = torch.rand(1, 3, 4, 4, 4)
    with pytest.raises(BadValueError, match="along must be one of"):
        copy_fill_error(clip, torch.zeros(1, 16, dtype=torch.bool), TUBELET, "diagonal")
    with pytest.raises(BadValueError, match=r"mask: expected a bool tensor of shape \(1, 16\)"):
        copy_fill_error(clip, torch.zeros(1, 15, dtype=torch.bool), TUBELET, "time")
    with pytest.raises(BadValueError, match="at least one visible"):
        copy_fill_error(clip, torch.ones(1, 16, dtype=torch.bool), TUBELET, "space")
    with pytest.raises(BadValueError, match=r"ratio must be in \[0, 1\)"):
        random_mask(1, (4, 2, 2), 1.0)
