"""Real video files: probe, read a few frames, read all, write H.264 — through PyAV (FFmpeg).

Clips come back as uint8 tensors ``(C, T, H, W)`` with ``C = 3`` (RGB); divide by 255 for the
book's float clips in [0, 1]. Frames are numbered 0, 1, 2, ... in presentation order, exactly as
``read_video`` delivers them, so ``read_frames(p, idx)`` equals ``read_video(p)[:, idx]``.
This module is longer than 400 lines because it is the one place that talks to FFmpeg: opening,
frame numbering, seeking and writing share their PyAV handling and their checks of broken files.

``read_frames`` decodes only what a clip needs: it seeks to the key frame at or before the first
asked frame, decodes forward and stops after the last one. A decoded frame's number comes from
its timestamp: ``round((pts - pts of frame 0) * time_base * frame_rate)``. Where timestamps
cannot be trusted (variable frame rate; H.264 with B-frames in AVI, which keeps timestamps in
decoding order) the numbers would stop counting up by one; ``read_frames`` notices that and
decodes from the start of the file instead, which is slower but still exact.

Broken files raise ``VideoDecodeError`` (naming the file and the cause): files FFmpeg cannot
open, streams without video or frames, decoding errors, frames FFmpeg marks as damaged, and
frames the header promises but the file does not hold. A clip never comes back shorter.

PyAV is imported inside the functions: ``vidbook`` itself imports without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from vidbook.checks import check_int, check_int_range, check_positive, is_int
from vidbook.errors import BadValueError, MissingFileError, NotAFileError, VidbookError
from vidbook.runtime import atomic_write

CONTAINERS: dict[str, str] = {".mp4": "mp4", ".avi": "avi"}  # suffix -> FFmpeg muxer
_SEEK_TRIES = 10  # seeks, each twice as far back as the last, before decoding from the start
_FRAMES_BEFORE_KEY = 64  # frames a decoder may emit after a seek before its key frame


class VideoDecodeError(VidbookError, RuntimeError):
    """A file that is not a readable video: the message names the file and the cause.

    ``VideoDecodeError(message)`` with one argument (how pickle and a DataLoader worker rebuild
    it) keeps that message as it is, with ``path`` None and ``cause`` the message.
    """

    def __init__(self, path: str | Path, cause: str | None = None) -> None:
        if cause is None:
            self.path, self.cause = None, str(path)
            super().__init__(str(path))
            return
        self.path = Path(path)
        self.cause = cause
        super().__init__(f"{self.path}: not a readable video: {cause}")


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` finds out about a video file without decoding it."""

    path: Path
    fps: float  # average frame rate
    num_frames: int  # frames in the video stream (counted from packets if the header lacks it)
    duration: float  # seconds
    width: int
    height: int
    codec: str  # e.g. "h264"


# --------------------------------------------------------------------------------------------
# Opening a file: PyAV, checks, metadata
# --------------------------------------------------------------------------------------------
def _import_av():
    try:
        import av
    except ImportError as err:  # pragma: no cover - av is installed wherever the tests run
        raise ModuleNotFoundError(
            "reading and writing video files needs PyAV: pip install av "
            "(or pip install 'vidbook[video]')"
        ) from err
    return av


def _existing_file(path: str | Path) -> Path:
    if not isinstance(path, (str, Path)):
        raise BadValueError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"video file not found: {path}")
    if not path.is_file():
        raise NotAFileError(f"{path} is not a file (a video file was expected)")
    return path


def _check_threads(threads: object) -> int | None:
    if threads is None:
        return None
    if not is_int(threads) or threads < 1:
        raise BadValueError(f"threads must be None (automatic) or an int >= 1, got {threads!r}")
    return int(threads)


def _ffmpeg_cause(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err)


class _Video:
    """An open video file: the container, its first video stream and the stream's facts."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.av = _import_av()
        self.path, self.threads = path, threads
        self.container = None
        self._open()
        try:
            self.info = self._facts()
        except BaseException:
            self.close()
            raise
        # A sanity bound on every decoding loop: a file never needs this many packets.
        self.packet_limit = 4 * self.info.num_frames + 1024

    def _facts(self) -> VideoInfo:
        stream, path = self.stream, self.path
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or rate <= 0:
            raise VideoDecodeError(path, "its video stream has no frame rate")
        self.rate = Fraction(rate)
        self.time_base = Fraction(stream.time_base)
        num_frames = int(stream.frames or 0)
        if num_frames <= 0:  # the header does not say: count the packets (no decoding)
            num_frames = sum(1 for packet in self._demux(10**9) if packet.size)
            self.reopen()
        if num_frames <= 0:
            raise VideoDecodeError(path, "its video stream has no frames")
        width, height = int(self.stream.width or 0), int(self.stream.height or 0)
        if width <= 0 or height <= 0:
            raise VideoDecodeError(path, f"its video stream has no frame size ({width}x{height})")
        if stream.duration:
            duration = float(stream.duration * self.time_base)
        elif self.container.duration:
            duration = self.container.duration / self.av.time_base
        else:
            duration = num_frames / float(self.rate)
        return VideoInfo(
            path=path,
            fps=float(self.rate),
            num_frames=num_frames,
            duration=duration,
            width=width,
            height=height,
            codec=stream.codec_context.name,
        )

    def _open(self) -> None:
        if self.path.stat().st_size == 0:
            raise VideoDecodeError(self.path, "the file is empty (0 bytes)")
        try:
            self.container = self.av.open(str(self.path))
        except self.av.FFmpegError as err:
            raise VideoDecodeError(
                self.path, f"FFmpeg cannot open it: {_ffmpeg_cause(err)}"
            ) from err
        if not self.container.streams.video:
            kinds = [s.type for s in self.container.streams] or ["none"]
            self.close()
            raise VideoDecodeError(
                self.path, f"it has no video stream (streams found: {', '.join(kinds)})"
            )
        self.stream = self.container.streams.video[0]
        context = self.stream.codec_context
        context.thread_type = "AUTO"  # frame and slice threads
        context.thread_count = 0 if self.threads is None else self.threads  # 0: FFmpeg decides

    def reopen(self) -> None:
        """Close and open again: decoding restarts at the first frame with a fresh decoder."""
        self.close()
        self._open()

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def __enter__(self) -> _Video:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- packets and frames --------------------------------------------------------------------
    def _demux(self, limit: int) -> Iterator:
        try:
            for count, packet in enumerate(self.container.demux(self.stream), start=1):
                if count > limit:
                    raise VideoDecodeError(
                        self.path, f"reading did not end after {limit} packets (damaged file?)"
                    )
                yield packet
        except self.av.FFmpegError as err:
            raise VideoDecodeError(
                self.path, f"FFmpeg failed to read it: {_ffmpeg_cause(err)}"
            ) from err

    def frames(self) -> Iterator:
        """Decoded frames (``av.VideoFrame``) in presentation order, from the current position."""
        for packet in self._demux(self.packet_limit):
            try:
                decoded = packet.decode()
            except self.av.FFmpegError as err:
                raise VideoDecodeError(
                    self.path, f"FFmpeg failed to decode it: {_ffmpeg_cause(err)}"
                ) from err
            yield from decoded

    def seek(self, timestamp: int) -> None:
        """Go to the key frame at or before ``timestamp`` (in units of the stream's time base)."""
        try:
            self.container.seek(timestamp, stream=self.stream, backward=True, any_frame=False)
        except self.av.FFmpegError as err:
            raise VideoDecodeError(
                self.path, f"FFmpeg failed to seek: {_ffmpeg_cause(err)}"
            ) from err


def probe(path: str | Path) -> VideoInfo:
    """Frame rate, number of frames, duration, size and codec of a video file (no decoding)."""
    with _Video(_existing_file(path)) as video:
        return video.info


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
def _rgb(frame, video: _Video, index: int) -> np.ndarray:
    """A decoded frame as an (H, W, 3) uint8 RGB array; damaged frames are refused."""
    if frame.is_corrupt:
        raise VideoDecodeError(video.path, f"frame {index} is damaged (FFmpeg marked it corrupt)")
    return frame.to_ndarray(format="rgb24")


def read_video(path: str | Path, *, threads: int | None = None) -> torch.Tensor:
    """Every frame of a video, decoded in order: uint8 ``(3, T, H, W)``, RGB.

    Raises ``VideoDecodeError`` if the file is not a readable video, if FFmpeg reports an error
    or a damaged frame, or if fewer frames than ``probe(path).num_frames`` can be decoded.
    """
    threads = _check_threads(threads)
    with _Video(_existing_file(path), threads) as video:
        info = video.info
        out = torch.empty(3, info.num_frames, info.height, info.width, dtype=torch.uint8)
        extra: list[torch.Tensor] = []  # frames beyond the header's count, if any
        count = 0
        for count, frame in enumerate(video.frames(), start=1):
            rgb = torch.from_numpy(_rgb(frame, video, count - 1)).permute(2, 0, 1)
            if tuple(rgb.shape[1:]) != (info.height, info.width):
                raise VideoDecodeError(
                    video.path,
                    f"frame {count - 1} is {rgb.shape[2]}x{rgb.shape[1]}, "
                    f"the stream says {info.width}x{info.height}",
                )
            if count <= info.num_frames:
                out[:, count - 1] = rgb
            else:
                extra.append(rgb.unsqueeze(1))
    if count < info.num_frames:
        raise VideoDecodeError(
            info.path, f"only {count} of its {info.num_frames} frames could be decoded (truncated?)"
        )
    return torch.cat([out, *extra], dim=1) if extra else out


def _check_indices(indices, path: Path, num_frames: int) -> np.ndarray:
    """``indices`` as a 1-D int64 array of frame numbers in [0, num_frames)."""
    if torch.is_tensor(indices):
        idx = indices.detach().cpu().numpy()
    elif isinstance(indices, (np.ndarray, range, list, tuple)):
        idx = np.asarray(indices)
    else:
        raise BadValueError(
            f"{path}: indices must be a sequence, 1-D tensor or array of frame numbers, "
            f"got {type(indices).__name__}"
        )
    if idx.ndim != 1:
        raise BadValueError(f"{path}: indices must be 1-D, got shape {tuple(idx.shape)}")
    if idx.size == 0:
        raise BadValueError(f"{path}: indices is empty; ask for at least one frame")
    if idx.dtype == np.bool_ or not np.issubdtype(idx.dtype, np.integer):
        raise BadValueError(f"{path}: indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    bad = (idx < 0) | (idx >= num_frames)
    if bad.any():
        raise IndexError(
            f"{path}: frame index {int(idx[bad][0])} is out of range; the video has "
            f"{num_frames} frames, so indices must be in [0, {num_frames})"
        )
    return idx


class _Collector:
    """Keeps the decoded frames that were asked for, by frame number."""

    def __init__(self, video: _Video, wanted: np.ndarray) -> None:
        self.video, self.wanted = video, {int(i) for i in wanted}
        self.frames: dict[int, np.ndarray] = {}

    def __call__(self, index: int, frame) -> None:
        if index in self.wanted and index not in self.frames:
            info = self.video.info
            if (frame.width, frame.height) != (info.width, info.height):
                raise VideoDecodeError(
                    self.video.path,
                    f"frame {index} is {frame.width}x{frame.height}, "
                    f"the stream says {info.width}x{info.height}",
                )
            self.frames[index] = _rgb(frame, self.video, index)

    def missing(self) -> list[int]:
        return sorted(self.wanted - self.frames.keys())


def _decode_counting(video: _Video, last: int, keep: Callable[[int, object], None]) -> None:
    """Decode from the start, numbering frames by their order, up to frame ``last``."""
    for index, frame in enumerate(video.frames()):
        keep(index, frame)
        if index >= last:
            return


def _decode_seeking(
    video: _Video, first: int, last: int, keep: Callable[[int, object], None]
) -> bool:
    """Seek near frame ``first`` and decode up to ``last``, numbering frames by timestamp.

    Returns False (having kept frames that may be misnumbered) when the timestamps cannot be
    trusted; the caller then decodes from the start.
    """
    origin = next((frame.pts for frame in video.frames()), None)  # the pts of frame 0
    if origin is None:
        return False
    frames_per_tick = video.time_base * video.rate

    def number(pts: int | None) -> int | None:
        return None if pts is None else round((pts - origin) * frames_per_tick)

    target, step = first, 1
    for _ in range(_SEEK_TRIES):
        video.seek(origin + math.floor(target / frames_per_tick))
        expected = None  # the number the next frame must have, once the key frame is seen
        skipped = 0
        for frame in video.frames():
            if expected is None and not frame.key_frame:
                skipped += 1  # frames before the key frame may lack references: skip them
                if skipped > _FRAMES_BEFORE_KEY:
                    return False
                continue
            index = number(frame.pts)
            if index is None or index < 0 or frame.is_corrupt:
                return False  # let counting from the start decide
            if expected is None and index > first:
                break  # the key frame lies after the first frame asked for: seek further back
            if expected is not None and index != expected:
                return False  # not one frame after the other: timestamps are not usable
            keep(index, frame)
            if index >= last:
                return True
            expected = index + 1
        else:
            return False  # the stream ended early: let counting from the start decide
        target -= step  # seek further back and try again
        step *= 2
        if target <= 0:
            return False
    return False


def read_frames(path: str | Path, indices, *, threads: int | None = None) -> torch.Tensor:
    """Frames ``indices`` of a video: uint8 ``(3, T, H, W)``, RGB, with ``T = len(indices)``.

    ``indices`` (a sequence, 1-D tensor or array of 0-based frame numbers in presentation
    order) may come in any order and repeat; the frames come back in the order asked. Only what
    is needed is decoded: from the key frame at or before the smallest index to the largest.
    ``threads`` sets FFmpeg's decoding threads (None: FFmpeg's automatic choice; 1: one thread).

    The result equals ``read_video(path)[:, indices]``, or an error is raised: a frame that
    FFmpeg cannot decode, marks as damaged, or that the file does not hold gives
    ``VideoDecodeError`` (never fewer frames). A damaged file that FFmpeg decodes without
    complaint comes back with whatever pixels the decoder made of it.
    """
    threads = _check_threads(threads)
    with _Video(_existing_file(path), threads) as video:
        idx = _check_indices(indices, video.path, video.info.num_frames)
        first, last = int(idx.min()), int(idx.max())
        keep = _Collector(video, idx)
        if first == 0 or not _decode_seeking(video, first, last, keep):
            keep.frames.clear()
            video.reopen()
            _decode_counting(video, last, keep)
        missing = keep.missing()
    if missing:
        raise VideoDecodeError(
            video.path,
            f"frames {missing[:5]}{' ...' if len(missing) > 5 else ''} could not be decoded "
            f"although the header says {video.info.num_frames} frames (truncated?)",
        )
    clip = np.stack([keep.frames[int(i)] for i in idx])  # (T, H, W, 3)
    return torch.from_numpy(clip).permute(3, 0, 1, 2).contiguous()


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def _as_uint8_frames(clip: object) -> np.ndarray:
    """Check a (3, T, H, W) clip and return it as (T, H, W, 3) uint8."""
    if not torch.is_tensor(clip):
        raise BadValueError(f"clip must be a torch.Tensor (3, T, H, W), got {type(clip).__name__}")
    if clip.ndim != 4 or clip.shape[0] != 3:
        raise BadValueError(
            f"clip must have shape (3, T, H, W) (RGB channels first), got {tuple(clip.shape)}"
        )
    _, t, h, w = clip.shape
    if t < 1:
        raise BadValueError("clip has no frames (T = 0)")
    if h < 2 or w < 2 or h % 2 or w % 2:
        raise BadValueError(
            f"clip frames are {h}x{w} (HxW); H.264 in yuv420p needs even sizes >= 2: "
            "crop or pad the clip to even height and width"
        )
    if clip.dtype == torch.uint8:
        pixels = clip
    elif clip.is_floating_point():
        if not bool(torch.isfinite(clip).all()):
            raise BadValueError("clip holds NaN or infinite values; expected floats in [0, 1]")
        pixels = (clip.float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    else:
        raise BadValueError(f"clip must be uint8 or float in [0, 1], got dtype {clip.dtype}")
    return pixels.detach().cpu().permute(1, 2, 3, 0).contiguous().numpy()


def _check_fps(fps: object) -> Fraction:
    return Fraction(check_positive("fps", fps)).limit_denominator(1001)


def write_video(
    path: str | Path,
    clip: torch.Tensor,
    fps: float = 25.0,
    *,
    crf: int = 18,
    keyframe_interval: int | None = None,
) -> Path:
    """Write a clip ``(3, T, H, W)`` as H.264 (libx264, yuv420p) in an .mp4 or .avi file.

    ``clip`` is uint8, or float in [0, 1] (values outside are clamped, then rounded to 0..255).
    H and W must be even (yuv420p stores colour at half resolution): odd sizes raise ValueError.
    ``crf`` is x264's quality (0 best .. 51 worst; 18 looks lossless to most eyes).
    ``keyframe_interval`` is the distance between key frames in frames (default: about 2 s,
    as in camera and web video); key frames fall exactly there (x264's scene-cut is off).
    mp4 files use B-frames, as x264 does by default; .avi files do not, because AVI stores no
    presentation timestamps. The container follows the suffix. The file is written atomically
    (a temporary file in the same folder, then renamed), and parent folders are created.
    Returns the path.
    """
    if not isinstance(path, (str, Path)):
        raise BadValueError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    path = Path(path)
    container_format = CONTAINERS.get(path.suffix.lower())
    if container_format is None:
        raise BadValueError(
            f"cannot choose a container for suffix {path.suffix!r} of {path}; "
            f"use one of {', '.join(CONTAINERS)}"
        )
    frames = _as_uint8_frames(clip)
    rate = _check_fps(fps)
    crf = check_int_range("crf", crf, 0, 51)
    if keyframe_interval is None:
        keyframe_interval = max(1, round(2 * rate))
    else:
        keyframe_interval = check_int("keyframe_interval", keyframe_interval)
    x264 = f"keyint={keyframe_interval}:min-keyint={keyframe_interval}:scenecut=0"
    if container_format == "avi":
        x264 += ":bframes=0"
    av = _import_av()
    _, height, width, _ = frames.shape

    def write(file) -> None:
        with av.open(file, mode="w", format=container_format) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(int(crf)), "x264-params": x264}
            for index, pixels in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = index
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))  # flush the frames the encoder still holds

    return atomic_write(path, write, binary=True)
