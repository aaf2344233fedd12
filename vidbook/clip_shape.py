"""The size of a clip: frames, height and width, as one value with its own checks.

A batch of clips is a tensor ``(B, C, T, H, W)``; :class:`ClipShape` is its ``(T, H, W)``. It is the
one name for that triple across the package: the SynthActions world renders it, models whose
parameters depend on it are built for it (``vidbook.models.build_for_clips``), FLOPs are counted for
it, and the benchmarks, the capstone grader and the command line pass it on whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from vidbook.checks import check_int
from vidbook.errors import BadValueError


@dataclass(frozen=True)
class ClipShape:
    """Frames, height and width of a clip (at least 2 frames and 8 pixels a side).

    >>> ClipShape(16, 32, 32)
    ClipShape(frames=16, height=32, width=32)
    >>> str(ClipShape(16, 112, 112)), ClipShape(8, 32, 32).as_dict()["frames"]
    ('16x112x112', 8)
    """

    frames: int = 16
    height: int = 32
    width: int = 32

    MIN_FRAMES: ClassVar[int] = 2  # one frame has no motion
    MIN_SIDE: ClassVar[int] = 8  # below this the world's objects are a few pixels

    def __post_init__(self) -> None:
        object.__setattr__(self, "frames", check_int("frames", self.frames, self.MIN_FRAMES))
        object.__setattr__(self, "height", check_int("height", self.height, self.MIN_SIDE))
        object.__setattr__(self, "width", check_int("width", self.width, self.MIN_SIDE))

    @classmethod
    def resolve(
        cls,
        frames: int | ClipShape | None = None,
        height: int | None = None,
        width: int | None = None,
        *,
        clip_shape: ClipShape | None = None,
        default: ClipShape | None = None,
    ) -> ClipShape:
        """The one ClipShape that a function's ``frames, height, width`` and ``clip_shape=``
        arguments give, however they were passed. ``frames`` may itself be a ClipShape (the
        form ``build_for_clips(name, k, shape)``); a ClipShape and separate values may both be
        given only where they agree; values left out come from ``default`` (an error without
        one).

        >>> ClipShape.resolve(8, 32, 32) == ClipShape.resolve(ClipShape(8, 32, 32))
        True
        >>> ClipShape.resolve(height=64, default=ClipShape())
        ClipShape(frames=16, height=64, width=32)
        """
        if isinstance(frames, ClipShape):
            if clip_shape is not None:
                raise BadValueError(f"the clip shape came twice: {frames} and {clip_shape}")
            clip_shape, frames = frames, None
        given = {"frames": frames, "height": height, "width": width}
        if clip_shape is not None:
            if not isinstance(clip_shape, ClipShape):
                raise BadValueError(
                    f"clip_shape must be a vidbook.clip_shape.ClipShape or None, got "
                    f"{type(clip_shape).__name__}"
                )
            differ = {
                k: v for k, v in given.items() if v is not None and v != getattr(clip_shape, k)
            }
            if differ:
                shown = ", ".join(f"{k}={v!r}" for k, v in differ.items())
                raise BadValueError(
                    f"clip_shape={clip_shape} disagrees with {shown}; give the clip shape once, "
                    "as clip_shape or as frames, height and width"
                )
            return clip_shape
        missing = [k for k, v in given.items() if v is None]
        if missing and default is None:
            raise BadValueError(
                "a clip shape needs frames, height and width (or one ClipShape), got "
                + ", ".join(f"{k}={v!r}" for k, v in given.items())
            )
        return cls(**{k: getattr(default, k) if v is None else v for k, v in given.items()})

    @property
    def is_square(self) -> bool:
        """True when height equals width (what patch and fixed-size models need)."""
        return self.height == self.width

    def as_dict(self) -> dict[str, int]:
        """``{"frames": T, "height": H, "width": W}``: keyword arguments and JSON records."""
        return {"frames": self.frames, "height": self.height, "width": self.width}

    def batch(self, batch_size: int, channels: int = 3) -> tuple[int, int, int, int, int]:
        """The tensor shape ``(B, C, T, H, W)`` of a batch of such clips."""
        return (batch_size, channels, self.frames, self.height, self.width)

    def __str__(self) -> str:
        return f"{self.frames}x{self.height}x{self.width}"
