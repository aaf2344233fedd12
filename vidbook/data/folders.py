"""VideoFolder: clips decoded from a list of ``(video path, label)`` pairs.

``ds[i]`` decodes only the frames of one clip: a dict with ``clip`` (C, T, H, W) float in [0, 1],
``label`` (int) and ``path`` (str). The official layouts of UCF101, HMDB51 and Kinetics
(:mod:`vidbook.data.layouts`) build the list from their split files;
:func:`vidbook.data.loader.video_loader` batches the clips for the ``Trainer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidbook.checks import check_int, is_int
from vidbook.data import transforms
from vidbook.data.sampling import dense_indices, multi_view_indices, uniform_indices
from vidbook.data.video_io import probe, read_frames
from vidbook.errors import BadValueError

SAMPLINGS = ("dense", "uniform", "center")


def _check_train(train: object) -> bool:
    """``train`` itself, or BadValueError unless it is True or False (also used by the layouts)."""
    if not isinstance(train, bool):
        raise BadValueError(f"train must be True or False, got {train!r}")
    return train


class VideoFolder(Dataset):
    """Clips from a list of ``(video path, label)`` pairs (:mod:`vidbook.data.layouts` builds it).

    ``ds[i]`` is a dict: ``clip`` (C, T, H, W) float32 in [0, 1] with ``T = clip_len``, ``label``
    (int) and ``path`` (str). Which frames: ``sampling`` ``"dense"`` (``clip_len`` frames
    ``stride`` apart from a random start), ``"center"`` (the same, from the middle of the video)
    or ``"uniform"`` (spread over the whole video); default ``"dense"`` in training, ``"center"``
    otherwise. Frames: the short side resized to ``short_side`` (default ``size``), then a
    ``size`` x ``size`` crop, random in training and central otherwise; ``size=None`` keeps the
    frames as decoded. ``flip`` mirrors training clips with probability 1/2 (default: yes,
    except for the book's demo sets, whose classes move left or right); evaluation never does.
    ``threads``: FFmpeg decoding threads per video (None: FFmpeg's choice; one in each
    ``video_loader`` worker, where the workers are the parallelism).

    Every random choice comes from a ``torch.Generator`` seeded from (``seed``, epoch, index),
    so item ``i`` of epoch ``e`` is the same in every run and in every DataLoader worker;
    ``set_epoch(e)`` (which ``video_loader`` calls) gives each epoch fresh clips.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str | Path, int]],
        classes: Sequence[str],
        *,
        clip_len: int = 16,
        stride: int = 1,
        sampling: str | None = None,
        size: int | None = 112,
        short_side: int | None = None,
        train: bool = True,
        flip: bool | None = None,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        self.train = _check_train(train)
        clip_len, stride = check_int("clip_len", clip_len), check_int("stride", stride)
        for name, value in (("size", size), ("short_side", short_side)):
            if value is not None and (not is_int(value) or value < 1):
                raise BadValueError(f"{name} must be an int >= 1 or None, got {value!r}")
        if size is None and short_side is not None:
            raise BadValueError("short_side needs a crop size: give size too (or neither)")
        if short_side is not None and short_side < size:
            raise BadValueError(f"short_side={short_side} must be at least size={size}")
        sampling = ("dense" if train else "center") if sampling is None else sampling
        if sampling not in SAMPLINGS:
            raise BadValueError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
        if flip is not None and not isinstance(flip, bool):
            raise BadValueError(f"flip must be True, False or None, got {flip!r}")
        seed = check_int("seed", seed, 0)
        if threads is not None and (not is_int(threads) or threads < 1):
            raise BadValueError(f"threads must be None or an int >= 1, got {threads!r}")
        self.samples = [(Path(path), int(label)) for path, label in samples]
        self.classes = list(classes)
        bad = [label for _, label in self.samples if not 0 <= label < len(self.classes)]
        if bad:
            raise BadValueError(f"label {bad[0]} is outside 0..{len(self.classes) - 1}")
        self.clip_len, self.stride, self.sampling = clip_len, stride, sampling
        self.size, self.short_side = size, short_side if short_side is not None else size
        self.flip = train and flip is not False
        self.seed, self.threads, self.epoch = seed, threads, 0
        self._num_frames: dict[int, int] = {}  # probed lengths, per process

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Draw the random clips, crops and flips of epoch ``epoch`` (0-based)."""
        self.epoch = int(epoch)

    def generator(self, index: int) -> torch.Generator:
        """The generator of item ``index`` in the current epoch (seeded from seed, epoch, index)."""
        state = np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1, np.uint64)
        return torch.Generator().manual_seed(int(state[0]))

    def num_frames(self, index: int) -> int:
        """Frames in video ``index`` (probed once per process, then remembered)."""
        if index not in self._num_frames:
            self._num_frames[index] = probe(self.samples[index][0]).num_frames
        return self._num_frames[index]

    def frame_indices(
        self, num_frames: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The ``clip_len`` frame indices (int64 tensor) this data set's ``sampling`` picks."""
        if self.sampling == "uniform":
            return uniform_indices(num_frames, self.clip_len)
        if self.sampling == "center":
            return multi_view_indices(num_frames, self.clip_len, 1, self.stride)[0]
        return dense_indices(num_frames, self.clip_len, self.stride, generator=generator)

    def __getitem__(self, index: int) -> dict:
        if not is_int(index):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} videos")
        index = int(index) % len(self)
        path, label = self.samples[index]
        gen = self.generator(index)
        indices = self.frame_indices(self.num_frames(index), gen)
        clip = transforms.to_float(read_frames(path, indices.tolist(), threads=self.threads))
        if self.size is not None:
            if min(clip.shape[-2:]) != self.short_side:
                clip = transforms.resize(clip, self.short_side)
            if self.train:
                clip = transforms.random_crop(clip, self.size, generator=gen)
            else:
                clip = transforms.center_crop(clip, self.size)
        if self.flip:
            clip = transforms.random_hflip(clip, 0.5, generator=gen)
        return {"clip": clip.contiguous(), "label": label, "path": str(path)}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self)} videos, {self.num_classes} classes, "
            f"train={self.train}, clip_len={self.clip_len}, stride={self.stride}, "
            f"sampling={self.sampling!r}, size={self.size})"
        )
