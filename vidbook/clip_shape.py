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
    def of(
        cls,
        frames: int | ClipShape | None = None,
        height: int | None = None,
        width: int | None = None,
    ) -> ClipShape:
        """A ClipShape from one (returned as is) or from three ints, as the older
        ``f(..., frames, height, width)`` calls pass them."""
        if isinstance(frames, ClipShape):
            if height is not None or width is not None:
                raise BadValueError(
                    f"give a ClipShape or frames, height and width, not both (got {frames} "
                    f"and height={height!r}, width={width!r})"
                )
            return frames
        if frames is None or height is None or width is None:
            raise BadValueError(
                "a clip shape needs frames, height and width (or one ClipShape), got "
                f"frames={frames!r}, height={height!r}, width={width!r}"
            )
        return cls(frames, height, width)

    @classmethod
    def from_args(
        cls,
        frames: int | ClipShape | None = None,
        height: int | None = None,
        width: int | None = None,
        clip_shape: ClipShape | None = None,
    ) -> ClipShape:
        """For ``f(..., frames, height, width, *, clip_shape=None)``, where ``frames`` may also be
        a ClipShape: the one ClipShape these arguments give, whichever way they were passed."""
        if clip_shape is None:
            return cls.of(frames, height, width)
        return cls.pick(clip_shape, frames, height, width)

    @classmethod
    def pick(
        cls,
        clip_shape: ClipShape | None = None,
        frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        default: ClipShape | None = None,
    ) -> ClipShape:
        """For functions that take ``clip_shape=`` or the separate ``frames=, height=, width=``:
        ``clip_shape`` if given (then the three must be None), else the three, each missing one
        taken from ``default`` (default: ``ClipShape()``)."""
        separate = {"frames": frames, "height": height, "width": width}
        if clip_shape is not None:
            given = {k: v for k, v in separate.items() if v is not None}
            if given:
                raise BadValueError(
                    f"give clip_shape or frames/height/width, not both (got clip_shape={clip_shape}"
                    f" and {', '.join(f'{k}={v!r}' for k, v in given.items())})"
                )
            if not isinstance(clip_shape, ClipShape):
                raise BadValueError(
                    f"clip_shape must be a ClipShape, got {type(clip_shape).__name__}"
                )
            return clip_shape
        base = default if default is not None else cls()
        return cls(**{k: base.as_dict()[k] if v is None else v for k, v in separate.items()})

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
