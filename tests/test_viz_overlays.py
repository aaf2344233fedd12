"""Animations with boxes, masks and sentences drawn on the clips."""

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402

from vidbook.errors import BadValueError  # noqa: E402
from vidbook.viz.clips import jshtml  # noqa: E402
from vidbook.viz.overlays import animate_overlays, show_overlays  # noqa: E402


def test_boxes_masks_and_texts_make_an_animation():
    clips = torch.rand(2, 3, 4, 16, 16)
    boxes = [[[(1, (2, 2, 8, 8))] for _ in range(4)], [[] for _ in range(4)]]
    masks = torch.zeros(2, 4, 16, 16, dtype=torch.bool)
    anim = animate_overlays(clips, boxes=boxes, masks=masks, texts=["a red square", "一个"])
    assert "new Array(4)" in jshtml(anim)  # one picture per frame
    html = show_overlays(clips, texts=["one", "two"]).data
    assert "<script" in html and "cdnjs" not in html


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"texts": ["only one"]}, "1 texts for 2 clips"),
        ({"masks": torch.zeros(2, 3, 16, 16)}, "masks must be"),
        ({"boxes": [[[]] * 3, [[]] * 3]}, "must list 4 frames"),
    ],
)
def test_bad_overlays_are_refused(kwargs, message):
    with pytest.raises(BadValueError, match=message):
        animate_overlays(torch.rand(2, 3, 4, 16, 16), **kwargs)
