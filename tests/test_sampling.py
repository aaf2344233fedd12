"""Clip samplers: which frames, valid ranges, randomness only through the generator, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from vidbook.data.sampling import (
    dense_indices,
    multi_view_indices,
    segment_indices,
    uniform_indices,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------
# uniform_indices
# ------------------------------------------------------------------------------------------
def test_uniform_takes_segment_centres():
    assert uniform_indices(10, 4).tolist() == [1, 3, 6, 8]
    assert uniform_indices(100, 1).tolist() == [50]
    assert uniform_indices(16, 16).tolist() == list(range(16))
    for n, k in [(300, 16), (17, 5), (7, 3), (1000, 7)]:
        idx = uniform_indices(n, k)
        assert idx.dtype == torch.int64 and idx.shape == (k,)
        assert idx.tolist() == [math.floor((i + 0.5) * n / k) for i in range(k)]


def test_uniform_spreads_over_the_whole_video():
    idx = uniform_indices(300, 10)
    gaps = idx.diff()
    assert gaps.min() == gaps.max() == 30  # evenly spaced
    assert idx[0] == 15 and idx[-1] == 285  # as far from the start as from the end


def test_uniform_short_video_repeats_frames():
    idx = uniform_indices(3, 8)
    assert idx.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert 0 <= idx.min() and idx.max() < 3


# ------------------------------------------------------------------------------------------
# dense_indices
# ------------------------------------------------------------------------------------------
def test_dense_given_start():
    assert dense_indices(100, 4, 3, start=10).tolist() == [10, 13, 16, 19]
    assert dense_indices(16, 16, start=0).tolist() == list(range(16))
    # the last valid start puts the clip's last frame on the video's last frame
    assert dense_indices(50, 8, 2, start=35).tolist()[-1] == 49


def test_dense_random_start_covers_every_valid_start_and_stays_inside():
    g = gen(1)
    starts = set()
    for _ in range(400):
        idx = dense_indices(20, 4, 2, generator=g)  # span 7: starts 0..13
        assert idx.dtype == torch.int64 and idx.shape == (4,)
        assert idx.diff().tolist() == [2, 2, 2]
        assert 0 <= idx[0] and idx[-1] < 20
        starts.add(int(idx[0]))
    assert starts == set(range(14))


def test_dense_reproducible_with_a_generator():
    a = [dense_indices(1000, 8, 2, generator=gen(5)) for _ in range(2)]
    assert torch.equal(a[0], a[1])
    others = {int(dense_indices(1000, 8, 2, generator=gen(s))[0]) for s in range(10)}
    assert len(others) > 1


def test_dense_short_video_repeats_last_frame():
    assert dense_indices(5, 4, 2).tolist() == [0, 2, 4, 4]
    assert dense_indices(3, 6, generator=gen(0)).tolist() == [0, 1, 2, 2, 2, 2]
    assert dense_indices(1, 3, 5).tolist() == [0, 0, 0]


def test_dense_start_outside_valid_range():
    with pytest.raises(ValueError, match=r"start must be an int in \[0, 92\].*got 93"):
        dense_indices(100, 8, start=93)
    with pytest.raises(ValueError, match=r"start .*got -1"):
        dense_indices(100, 8, start=-1)
    with pytest.raises(ValueError, match=r"start must be an int in \[0, 0\].*got 1"):
        dense_indices(5, 4, 2, start=1)  # a short video has one start: 0
    with pytest.raises(ValueError, match=r"start .*got 2\.0"):
        dense_indices(100, 8, start=2.0)


# ------------------------------------------------------------------------------------------
# segment_indices
# ------------------------------------------------------------------------------------------
def test_segment_train_one_random_frame_inside_each_segment():
    n, k = 23, 4
    g = gen(2)
    seen = set()
    for _ in range(300):
        idx = segment_indices(n, k, generator=g)
        assert idx.dtype == torch.int64 and idx.shape == (k,)
        for i, f in enumerate(idx.tolist()):
            # frame f lies in segment i = [i * n / k, (i + 1) * n / k) (its floor)
            assert math.floor(i * n / k) <= f and f * k < (i + 1) * n
            seen.add(f)
    assert seen == set(range(n))  # every frame can be drawn


def test_segment_test_mode_takes_centres():
    assert segment_indices(80, 8, train=False).tolist() == [5, 15, 25, 35, 45, 55, 65, 75]
    assert torch.equal(segment_indices(37, 3, train=False), uniform_indices(37, 3))
    # test mode uses no randomness
    g = gen(0)
    before = g.get_state()
    segment_indices(37, 3, train=False, generator=g)
    assert torch.equal(g.get_state(), before)


def test_segment_reproducible_and_random():
    assert torch.equal(
        segment_indices(1000, 8, generator=gen(3)), segment_indices(1000, 8, generator=gen(3))
    )
    draws = {tuple(segment_indices(1000, 8, generator=gen(s)).tolist()) for s in range(5)}
    assert len(draws) == 5


def test_segment_short_video_repeats_frames():
    for seed in range(20):
        idx = segment_indices(3, 8, generator=gen(seed))
        assert 0 <= idx.min() and idx.max() < 3 and bool((idx.diff() >= 0).all())
    assert segment_indices(1, 3, train=False).tolist() == [0, 0, 0]


# ------------------------------------------------------------------------------------------
# multi_view_indices
# ------------------------------------------------------------------------------------------
def test_multi_view_rows_are_dense_clips_with_evenly_spaced_starts():
    n, clip_len, clips, stride = 300, 16, 10, 2
    idx = multi_view_indices(n, clip_len, clips, stride)
    assert idx.dtype == torch.int64 and idx.shape == (clips, clip_len)
    assert bool((idx.diff(dim=1) == stride).all())
    starts = idx[:, 0]
    last_start = n - ((clip_len - 1) * stride + 1)  # 269: valid starts 0..269
    assert torch.equal(starts, uniform_indices(last_start + 1, clips))
    gaps = starts.diff()
    assert gaps.max() - gaps.min() <= 1  # evenly spaced
    assert abs(int(starts[0]) - (last_start - int(starts[-1]))) <= 1  # symmetric in the video
    assert idx.min() >= 0 and idx.max() < n
    for row in idx:
        assert torch.equal(row, dense_indices(n, clip_len, stride, start=int(row[0])))


def test_multi_view_one_clip_is_the_middle_one():
    idx = multi_view_indices(100, 16, 1, 2)  # span 31, valid starts 0..69
    assert idx[0, 0] == 35 and idx[0, -1] == 65


def test_multi_view_short_video_repeats():
    idx = multi_view_indices(5, 4, 3, 2)
    assert idx.tolist() == [[0, 2, 4, 4]] * 3


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: uniform_indices(0, 4), r"num_frames must be an int >= 1, got 0"),
        (lambda: uniform_indices(10.0, 4), r"num_frames .*got 10\.0"),
        (lambda: uniform_indices(10, -2), r"clip_len must be an int >= 1, got -2"),
        (lambda: uniform_indices(True, 4), r"num_frames .*got True"),
        (lambda: dense_indices(10, 0), r"clip_len .*got 0"),
        (lambda: dense_indices(10, 4, 0), r"stride must be an int >= 1, got 0"),
        (lambda: dense_indices(10, 4, 1.5), r"stride .*got 1\.5"),
        (lambda: dense_indices(10, 4, generator=0), r"generator must be a torch\.Generator"),
        (lambda: segment_indices(10, 0), r"num_segments must be an int >= 1, got 0"),
        (lambda: segment_indices("10", 3), r"num_frames .*got '10'"),
        (lambda: segment_indices(10, 3, train="yes"), r"train must be True or False"),
        (lambda: segment_indices(10, 3, generator=1), r"generator must be a torch\.Generator"),
        (lambda: multi_view_indices(10, 4, 0), r"num_clips must be an int >= 1, got 0"),
        (lambda: multi_view_indices(10, 4, 3, -1), r"stride must be an int >= 1, got -1"),
        (lambda: multi_view_indices(-5, 4, 3), r"num_frames .*got -5"),
    ],
)
def test_bad_input_names_argument_and_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()
