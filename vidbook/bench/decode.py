"""How fast video files decode here, and why training reads clips rather than whole videos.

``run_decode`` times two ways of getting frames out of one H.264 file: decoding all of it in
order (``read_video``) and reading short random clips (``read_frames``, which seeks to a key
frame and decodes only up to the clip's last frame). Their ratio, the time to decode the whole
file over the time to read one clip, is the speed-up of sampled reading. Without a file, it
writes a test video of SynthActions clips (real motion, a key frame every 2 s) first.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vidbook import runtime
from vidbook.checks import check_int, check_positive
from vidbook.data.synth import SynthActions
from vidbook.data.video_io import probe, read_frames, read_video, write_video
from vidbook.errors import BadValueError


def write_test_video(
    path: str | Path,
    seconds: float = 10.0,
    fps: float = 25.0,
    height: int = 240,
    width: int = 320,
    seed: int = 0,
) -> Path:
    """A ``seconds``-long H.264 video of SynthActions clips, one new clip every 2 s.

    Each clip is ``SynthActions("test", frames=2 * fps, height, width, seed)`` item ``i``,
    rendered as (3, T, H, W) and written with ``write_video`` (key frame every 2 s).
    """
    total = max(1, round(seconds * fps))
    per_clip = max(2, round(2 * fps))
    count = math.ceil(total / per_clip)
    ds = SynthActions("test", size=count, frames=per_clip, height=height, width=width, seed=seed)
    parts = [  # (3, T, H, W) uint8 each: a quarter of the memory of floats
        ds.batch([i], captions=False)["clip"][0].mul(255).round_().to(torch.uint8)
        for i in range(count)
    ]
    return write_video(path, torch.cat(parts, dim=1)[:, :total], fps)


def _keyframes(path: Path) -> int:
    """The number of key frames in the file's video stream (packets only, no decoding)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(packet.is_keyframe for packet in container.demux(stream) if packet.size)


def run_decode(
    path: str | Path | None = None,
    *,
    seconds: float = 10.0,
    fps: float = 25.0,
    height: int = 240,
    width: int = 320,
    clip_len: int = 16,
    clips: int = 8,
    threads: int | None = None,
    seed: int = 0,
    command: str | None = None,
) -> dict:
    """Time whole-file decoding against random clips of ``clip_len`` frames.

    With ``path`` None a test video (``write_test_video(seconds, fps, height, width, seed)``) is
    written to a temporary folder and removed afterwards; otherwise ``path`` is measured and
    ``seconds``, ``fps``, ``height`` and ``width`` are not used. After one untimed warm-up of
    each, ``read_video`` decodes the whole file once and ``read_frames`` reads ``clips`` clips
    whose starts are uniform over the video (NumPy generator seeded with ``seed``), all with
    ``threads`` FFmpeg threads (None: automatic).

    Returns ``video`` (path, fps, num_frames, duration, width, height, codec, bytes, keyframes,
    synthetic), ``whole`` (seconds, frames_per_s), ``clips`` (clip_len, count, starts,
    ms_per_clip, ms_min, ms_max, frames_per_s), ``speedup`` (whole-file time / mean clip time),
    ``threads`` and ``provenance`` (``vidbook.runtime.provenance(command, device="cpu")``:
    PyAV decodes on the CPU).
    """
    clip_len = check_int("clip_len", clip_len, 1)
    clips = check_int("clips", clips, 1)
    seed = check_int("seed", seed, 0)
    if threads is not None:
        threads = check_int("threads", threads, 1)
    with tempfile.TemporaryDirectory(prefix="vidbook-decode-") as folder:
        synthetic = path is None
        if synthetic:
            seconds = check_positive("seconds", seconds)
            fps = check_positive("fps", fps)
            for name, size in (("height", height), ("width", width)):
                if check_int(name, size, 8) % 2:
                    raise BadValueError(f"{name} must be even (H.264 in yuv420p), got {size}")
            if round(seconds * fps) < clip_len:
                raise BadValueError(
                    f"a {seconds:g} s video at {fps:g} fps has {round(seconds * fps)} frames, "
                    f"fewer than clip_len={clip_len}"
                )
            path = write_test_video(
                Path(folder) / "synthactions.mp4", seconds, fps, height, width, seed
            )
        path = Path(path)
        info = probe(path)
        if clip_len > info.num_frames:
            raise BadValueError(
                f"clip_len={clip_len} exceeds the {info.num_frames} frames of {path}"
            )
        rng = np.random.default_rng(seed)
        starts = rng.integers(0, info.num_frames - clip_len + 1, size=clips + 1)

        def clip(start: int) -> float:
            begin = time.perf_counter()
            read_frames(path, np.arange(start, start + clip_len), threads=threads)
            return time.perf_counter() - begin

        read_video(path, threads=threads)  # warm-up: file cache, decoder set-up
        begin = time.perf_counter()
        read_video(path, threads=threads)
        whole = time.perf_counter() - begin
        clip(int(starts[0]))  # warm-up
        times = np.array([clip(int(s)) for s in starts[1:]])
        video = {
            "path": None if synthetic else str(path),
            "synthetic": synthetic,
            "fps": info.fps,
            "num_frames": info.num_frames,
            "duration": info.duration,
            "width": info.width,
            "height": info.height,
            "codec": info.codec,
            "bytes": path.stat().st_size,
            "keyframes": _keyframes(path),
        }
    return {
        "video": video,
        "whole": {"seconds": whole, "frames_per_s": info.num_frames / whole},
        "clips": {
            "clip_len": clip_len,
            "count": clips,
            "starts": [int(s) for s in starts[1:]],
            "ms_per_clip": 1000 * float(times.mean()),
            "ms_min": 1000 * float(times.min()),
            "ms_max": 1000 * float(times.max()),
            "frames_per_s": clips * clip_len / float(times.sum()),
        },
        "speedup": whole / float(times.mean()),
        "threads": threads,
        "provenance": runtime.provenance(command, device="cpu"),  # PyAV decodes on the CPU
    }


def summary(result: dict) -> str:
    """A few printable lines for a ``run_decode`` result."""
    v, w, c = result["video"], result["whole"], result["clips"]
    source = "SynthActions test video" if v["synthetic"] else v["path"]
    return "\n".join(
        [
            f"{source}: {v['num_frames']} frames ({v['duration']:.1f} s at {v['fps']:g} fps), "
            f"{v['width']}x{v['height']} {v['codec']}, {v['keyframes']} key frames, "
            f"{v['bytes'] / 1e6:.2f} MB",
            f"whole file, in order: {w['seconds'] * 1000:.0f} ms ({w['frames_per_s']:.0f} frames/s)",
            f"{c['count']} random clips of {c['clip_len']} frames: {c['ms_per_clip']:.1f} ms per "
            f"clip ({c['frames_per_s']:.0f} frames/s delivered)",
            f"speed-up of reading a clip over decoding the whole file: {result['speedup']:.1f}x",
        ]
    )
