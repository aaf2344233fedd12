"""The CenterNet-style detector: targets, loss and decoding agree with one another exactly."""

from __future__ import annotations

import pytest
import torch

from vidbook import ClipShape
from vidbook.data import SynthScenes
from vidbook.errors import BadValueError
from vidbook.models.detection import (
    CenterDetector,
    CenterDetectorConfig,
    center_targets,
    decode,
    detection_loss,
    focal_loss,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def scenes():
    return SynthScenes("val", size=12, clip_shape=ClipShape(4, 32, 32)).batch(range(12))


def perfect_output(boxes: torch.Tensor, visible: torch.Tensor, grid=(16, 16)) -> torch.Tensor:
    """Maps (B, 5, T, Hs, Ws) that say exactly what the targets say."""
    b, a, t, _ = boxes.shape
    target = center_targets(boxes, visible, grid)
    out = torch.zeros(b, 5, t, *grid)
    out[:, 0] = -20.0
    bi, ai, ti = target["mask"].nonzero(as_tuple=True)
    x, y = target["cell"][bi, ai, ti].unbind(-1)
    out[bi, 0, ti, y, x] = 20.0
    out[bi, 1:3, ti, y, x] = target["size"][bi, ai, ti]
    out[bi, 3:5, ti, y, x] = target["offset"][bi, ai, ti]
    return out


def test_shapes_and_the_heatmap_prior():
    model = CenterDetector(CenterDetectorConfig(width=8, blocks=1)).eval()
    out = model(torch.rand(2, 3, 4, 32, 24))
    assert out.shape == (2, 5, 4, 16, 12)
    assert torch.sigmoid(out[:, 0]).mean().item() == pytest.approx(0.1, abs=0.05)
    flat = CenterDetector(CenterDetectorConfig(width=8, blocks=1, temporal=False))
    assert all(m.kernel_size[0] == 1 for m in flat.modules() if isinstance(m, torch.nn.Conv3d))
    assert any(
        m.kernel_size == (3, 1, 1) for m in model.modules() if isinstance(m, torch.nn.Conv3d)
    )


def test_targets_put_a_peak_at_every_visible_centre(scenes):
    target = center_targets(scenes["boxes"], scenes["visible"], (16, 16))
    heat = target["heat"]
    assert heat.shape == (12, 4, 16, 16) and heat.max() <= 1
    centres = int((heat == 1).sum())
    assert 0 < centres <= int(scenes["visible"].sum())  # two actors may share a cell
    assert ((target["offset"] >= 0) & (target["offset"] < 1))[target["mask"]].all()


def test_decoding_a_perfect_map_gives_back_the_boxes(scenes):
    boxes, visible = scenes["boxes"], scenes["visible"]
    found = decode(perfect_output(boxes, visible))
    for i in range(12):
        for f in range(4):
            truth = boxes[i, :, f][visible[i, :, f]]
            got = found[i][f]["boxes"]
            assert len(got) == len(truth), (i, f)
            # every true box is recovered exactly (up to float rounding), in some order
            for box in truth:
                assert (got - box).abs().amax(-1).min() < 1e-4


def test_the_loss_is_lowest_for_the_perfect_map(scenes):
    boxes, visible = scenes["boxes"], scenes["visible"]
    perfect = perfect_output(boxes, visible)
    assert detection_loss(perfect, boxes, visible) < 1e-3
    worse = perfect.clone()
    worse[:, 1:3] += 1.0  # every size one cell too large
    assert detection_loss(worse, boxes, visible) > detection_loss(perfect, boxes, visible) + 0.09
    assert focal_loss(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4)) > 0


def test_bad_inputs():
    with pytest.raises(BadValueError, match=r"boxes must be a tensor \(B, A, T, 4\), got \(2, 4\)"):
        center_targets(torch.zeros(2, 4), torch.zeros(2, dtype=torch.bool), (8, 8))
    with pytest.raises(BadValueError, match=r"visible must be \(B, A, T\) = \(1, 2, 3\)"):
        center_targets(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, dtype=torch.bool), (8, 8))
    backwards = torch.tensor([[[[5.0, 5.0, 2.0, 9.0]]]])
    with pytest.raises(BadValueError, match="x2 >= x1 and y2 >= y1"):
        center_targets(backwards, torch.ones(1, 1, 1, dtype=torch.bool), (8, 8))
    with pytest.raises(BadValueError, match="even frame sizes"):
        CenterDetector()(torch.rand(1, 3, 2, 15, 16))
    with pytest.raises(BadValueError, match="width must be an int >= 4"):
        CenterDetectorConfig(width=2)


def test_embedding_loss_prefers_actors_told_apart():
    from vidbook.models.detection import embedding_loss

    identity = torch.tensor([0, 0, 1, 1, 2])
    apart = torch.tensor([[1.0, 0], [1, 0], [0, 1], [0, 1], [-1, 0]])
    mixed = torch.tensor([[1.0, 0], [0, 1], [1, 0], [0, 1], [-1, 0]])
    assert embedding_loss(apart, identity) < 0.01 < 1 < embedding_loss(mixed, identity)
    assert embedding_loss(apart[:1], identity[:1]) == 0  # no partner: nothing to learn
    # by hand (temperature 0.1): anchors 0 and 1 see their partner at 10 and the others at
    # 0, 0, -10; anchors 2 and 3 see theirs at 10 and the others at 0, 0, 0; anchor 4 has none
    first = -torch.log_softmax(torch.tensor([10.0, 0, 0, -10]), 0)[0]
    second = -torch.log_softmax(torch.tensor([10.0, 0, 0, 0]), 0)[0]
    expected = (2 * first + 2 * second).item() / 4
    assert embedding_loss(apart, identity).item() == pytest.approx(expected, abs=1e-6)


def test_decode_returns_unit_embeddings_when_the_detector_has_them(scenes):
    model = CenterDetector(CenterDetectorConfig(width=8, blocks=0, embedding=4)).eval()
    with torch.no_grad():
        out = model(scenes["clip"][:2])
    assert out.shape[1] == 9
    frame = decode(out, threshold=0.0)[0][0]
    assert frame["embeddings"].shape == (len(frame["boxes"]), 4)
    assert torch.allclose(frame["embeddings"].norm(dim=-1), torch.ones(len(frame["boxes"])))
    boxes, visible = scenes["boxes"][:2], scenes["visible"][:2]
    with_ids = detection_loss(out, boxes, visible, track_id=scenes["track_id"][:2])
    assert with_ids > detection_loss(out, boxes, visible)  # the appearance term is added
