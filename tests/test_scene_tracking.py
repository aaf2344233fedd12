"""Tracking a detector's output on SynthScenes: crossing clips, the score filter, IoU-only vs
appearance, and the tracking task's report."""

import pytest
import torch

from vidbook.errors import BadValueError
from vidbook.eval.scene_tracking import crossing_clips, track_detections, tracking_comparison


def two_actor_batch(cross: bool) -> dict:
    """One clip, 6 frames: actor 1 walks right along y=0; actor 2 walks left along y=0 (they
    cross) or along y=40 (they never touch)."""
    t = torch.arange(6.0)
    a = torch.stack([6 * t, 0 * t, 6 * t + 10, 0 * t + 10], -1)
    y = 0.0 if cross else 40.0
    b = torch.stack([30 - 6 * t, y + 0 * t, 40 - 6 * t, y + 10 + 0 * t], -1)
    return {"boxes": torch.stack([a, b])[None], "visible": torch.ones(1, 2, 6, dtype=torch.bool),
            "track_id": torch.tensor([[1, 2]])}  # fmt: skip


def perfect_detections(batch: dict, swap_embeddings: bool = False) -> list[list[dict]]:
    frames = []
    for t in range(batch["boxes"].shape[2]):
        boxes = batch["boxes"][0, :, t]
        emb = torch.eye(2)
        frames.append({"boxes": boxes, "scores": torch.tensor([0.9, 0.9]), "embeddings": emb})
    return [frames]


def test_crossing_clips_finds_overlapping_boxes_only():
    crossing, apart = two_actor_batch(True), two_actor_batch(False)
    both = {k: torch.cat([crossing[k], apart[k]]) for k in crossing}
    assert crossing_clips(both) == [0]
    with pytest.raises(BadValueError, match="'boxes' and 'visible'"):
        crossing_clips({"boxes": both["boxes"]})


def test_low_scores_are_dropped_and_appearance_needs_embeddings():
    frames = perfect_detections(two_actor_batch(False))[0]
    frames[0] = {**frames[0], "scores": torch.tensor([0.9, 0.1])}
    tracks = track_detections(frames, score_threshold=0.3)
    assert len(tracks[0]) == 1 and len(tracks[1]) == 2
    no_embeddings = [{k: v for k, v in f.items() if k != "embeddings"} for f in frames]
    with pytest.raises(BadValueError, match="embedding channels"):
        track_detections(no_embeddings, appearance_weight=0.5)


def test_the_comparison_of_perfect_detections_is_perfect():
    batch = two_actor_batch(True)
    result = tracking_comparison(perfect_detections(batch), batch)
    assert result["crossing"]["clips"] == 1 and result["all"]["clips"] == 1
    for how in ("iou", "appearance"):
        scores = result["crossing"][how]
        assert scores["num_misses"] == 0 and scores["num_false_positives"] == 0
        assert scores["num_objects"] == 12
    assert result["crossing"]["appearance"]["idf1"] == pytest.approx(1.0)
    with pytest.raises(BadValueError, match="one entry per clip"):
        tracking_comparison([], batch)
