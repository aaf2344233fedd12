"""UCF101, HMDB51 and Kinetics read from your own copy, in the layouts they are published in.

Each data set is a list of ``(video path, label)`` pairs read from the official split files, and
``ds[i]`` decodes only the frames of one clip: a dict with ``clip`` (C, T, H, W) float in [0, 1],
``label`` (int) and ``path`` (str). :func:`video_loader` batches them for the ``Trainer``.

- ``UCF101(root, split=1, train=True)``: ``root/UCF-101/<Class>/v_<Class>_gXX_cYY.avi`` and
  ``root/ucfTrainTestlist/`` (``classInd.txt``, ``trainlist0N.txt``, ``testlist0N.txt``).
- ``HMDB51(root, split=1, train=True)``: ``root/<class>/<file>.avi`` and
  ``root/testTrainMulti_7030_splits/<class>_test_split<N>.txt`` (tag 1 train, 2 test, 0 unused).
- ``Kinetics(root, csv, split="train")``: ``root/<split>/<label>/<youtube_id>_<start>_<end>.mp4``
  listed by an official CSV (``label,youtube_id,time_start,time_end,split``).

Nothing is downloaded: the errors say where each data set is published, and
``vidbook prepare-demo --layout ucf101 PATH`` writes a small set in the same layout.
"""

from __future__ import annotations

import csv
import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from vidbook.data import transforms
from vidbook.data.demo import MANIFEST as DEMO_MANIFEST
from vidbook.data.sampling import dense_indices, multi_view_indices, uniform_indices
from vidbook.data.video_io import probe, read_frames
from vidbook.distributed import rank_and_world
from vidbook.errors import BadValueError, DataFileError, MissingFileError

SAMPLINGS = ("dense", "uniform", "center")
SPLITS = (1, 2, 3)
KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")

DOWNLOAD_PAGES = {
    "UCF101": "https://www.crcv.ucf.edu/data/UCF101.php",
    "HMDB51": "https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/",
    "Kinetics": "https://github.com/cvdfoundation/kinetics-dataset",
}
LAYOUTS = {
    "UCF101": (
        "  UCF-101/<Class>/v_<Class>_gXX_cYY.avi  (the videos, from UCF101.rar)\n"
        "  ucfTrainTestlist/classInd.txt, trainlist0N.txt, testlist0N.txt  (the splits, from\n"
        "      UCF101TrainTestSplits-RecognitionTask.zip)"
    ),
    "HMDB51": (
        "  <class>/<file>.avi  (the videos, from hmdb51_org.rar: one .rar per class to unpack)\n"
        "  testTrainMulti_7030_splits/<class>_test_split<N>.txt  (the splits, from\n"
        "      test_train_splits.rar)"
    ),
    "Kinetics": (
        "  <split>/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4  (the clips, sorted\n"
        "      into one folder per label)\n"
        "  and the official CSV of that split (label,youtube_id,time_start,time_end,split)"
    ),
}


# --------------------------------------------------------------------------------------------
# Errors that say what was expected and how to get it
# --------------------------------------------------------------------------------------------
def layout_help(name: str, root: Path) -> str:
    """The expected layout of data set ``name`` under ``root`` and where to get the data."""
    return (
        f"{name} is expected in its official layout under {root}:\n{LAYOUTS[name]}\n"
        f"Download it from {DOWNLOAD_PAGES[name]} , or write a small data set in the same "
        f"layout with `vidbook prepare-demo --layout {name.lower()} PATH`."
    )


def _missing_root(name: str, root: Path, missing: Path) -> MissingFileError:
    what = "does not exist" if not missing.exists() else "is not a folder"
    hint = ""
    if root.name == "UCF-101" and name == "UCF101":
        hint = f"\n(root is the folder that holds UCF-101/, here probably {root.parent})"
    return MissingFileError(f"{missing} {what}. {layout_help(name, root)}{hint}")


def _check_split(split: object) -> int:
    if isinstance(split, bool) or not isinstance(split, (int, np.integer)) or split not in SPLITS:
        raise BadValueError(f"split must be 1, 2 or 3 (the official splits), got {split!r}")
    return int(split)


def _check_train(train: object) -> bool:
    if not isinstance(train, bool):
        raise BadValueError(f"train must be True or False, got {train!r}")
    return train


def _read_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """The non-blank lines of a split file as (1-based line number, stripped text)."""
    if not path.is_file():
        raise MissingFileError(f"{what} {path} does not exist")
    text = path.read_text(encoding="utf-8-sig")  # the official lists end lines with \r\n
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _malformed(path: Path, number: int, line: str, expected: str) -> BadValueError:
    return BadValueError(f"{path}, line {number}: expected {expected}, got {line!r}")


def _file_size(path: Path) -> int | None:
    """The size in bytes of the regular file ``path`` (one ``os.stat``), None if there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _check_videos_exist(
    samples: list[tuple[Path, int]], listed_in: Path, name: str, root: Path
) -> None:
    """Raise MissingFileError naming the missing videos, DataFileError naming the empty ones
    (0 bytes): a broken copy, not a sampling choice. One ``os.stat`` per video, no decoding."""
    sizes = [_file_size(path) for path, _ in samples]
    missing = [path for (path, _), size in zip(samples, sizes, strict=True) if size is None]
    if missing:
        shown = "\n  ".join(str(p) for p in missing[:3])
        more = f"\n  ... and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise MissingFileError(
            f"{len(missing)} of the {len(samples)} videos listed in {listed_in} do not exist:\n"
            f"  {shown}{more}\nA complete copy of {name} has every listed video; unpack it again "
            f"from {DOWNLOAD_PAGES[name]} ."
        )
    empty = [path for (path, _), size in zip(samples, sizes, strict=True) if size == 0]
    _check_not_empty(empty, len(samples), listed_in, name, root)


def _check_not_empty(
    empty: list[Path], total: int, listed_in: Path, name: str, root: Path, shown: int = 5
) -> None:
    """Raise DataFileError naming the first ``shown`` of the ``empty`` (0-byte) videos and
    counting them all: an interrupted download or copy, found before any decoding."""
    if not empty:
        return
    names = ", ".join(_relative(path, root) for path in empty[:shown])
    more = f" and {len(empty) - shown} more" if len(empty) > shown else ""
    verb = "video is" if len(empty) == 1 else "videos are"
    raise DataFileError(
        f"{len(empty)} {verb} empty (0 bytes): {names}{more} (under {root}; {total} videos "
        f"listed in {listed_in}). An interrupted download or copy leaves empty files; copy "
        f"them again, or unpack {name} again from {DOWNLOAD_PAGES[name]} ."
    )


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` where it lies under it, else the whole path."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _is_demo(root: Path) -> bool:
    """True if ``root`` holds a data set written by ``vidbook.data.demo.write_demo``."""
    return (root / DEMO_MANIFEST).is_file()


# --------------------------------------------------------------------------------------------
# The shared base: (path, label) pairs in, clips out
# --------------------------------------------------------------------------------------------
class VideoFolder(Dataset):
    """Clips from a list of ``(video path, label)`` pairs; the layouts below build the list.

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
        for name, value in (("clip_len", clip_len), ("stride", stride)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadValueError(f"{name} must be an int >= 1, got {value!r}")
        for name, value in (("size", size), ("short_side", short_side)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
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
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise BadValueError(f"seed must be an int >= 0, got {seed!r}")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
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
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
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


def _default_flip(root: Path, clip_options: dict) -> dict:
    """No mirroring by default on the book's demo sets: their classes move left or right."""
    if clip_options.get("flip") is None and _is_demo(root):
        clip_options = {**clip_options, "flip": False}
    return clip_options


# --------------------------------------------------------------------------------------------
# UCF101
# --------------------------------------------------------------------------------------------
def read_class_index(path: Path) -> list[str]:
    """Class names from UCF101's ``classInd.txt`` (lines ``1 ApplyEyeMakeup``), in index order."""
    path = Path(path)
    names: dict[int, str] = {}
    for number, line in _read_lines(path, "UCF101 class index"):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise _malformed(path, number, line, "'<index> <ClassName>', e.g. '1 ApplyEyeMakeup'")
        index, name = int(parts[0]), parts[1]
        if index in names or name in names.values():
            raise BadValueError(f"{path}, line {number}: {line!r} repeats an index or a class name")
        names[index] = name
    if sorted(names) != list(range(1, len(names) + 1)):
        raise BadValueError(
            f"{path}: the class indices must be 1..{len(names)} (each once), got "
            f"{sorted(names)[:5]}..."
        )
    if not names:
        raise BadValueError(f"{path} lists no classes")
    return [names[i] for i in range(1, len(names) + 1)]


def read_ucf_list(
    path: Path, classes: Sequence[str], videos: Path, *, labelled: bool
) -> list[tuple[Path, int]]:
    """``(video, label)`` pairs from a ``trainlist0N.txt`` (``labelled``: lines
    ``Class/file.avi 1``, with classInd's 1-based index) or a ``testlist0N.txt`` (lines
    ``Class/file.avi``); the labels returned are 0-based."""
    path = Path(path)
    index = {name: i for i, name in enumerate(classes)}
    expected = "'<Class>/<file>.avi <label>'" if labelled else "'<Class>/<file>.avi'"
    samples = []
    for number, line in _read_lines(path, "UCF101 split file"):
        parts = line.split()
        relative = parts[0].split("/")
        if len(parts) not in (1, 2) or len(relative) != 2 or not all(relative):
            raise _malformed(path, number, line, expected)
        if labelled and len(parts) != 2:
            raise _malformed(path, number, line, expected)
        folder = relative[0]
        if folder not in index:
            raise BadValueError(
                f"{path}, line {number}: class {folder!r} of {line!r} is not in classInd.txt "
                f"({len(classes)} classes, e.g. {', '.join(classes[:3])})"
            )
        label = index[folder]
        if len(parts) == 2:
            if not parts[1].isdigit():
                raise _malformed(path, number, line, expected + " with an integer label")
            if int(parts[1]) != label + 1:
                raise BadValueError(
                    f"{path}, line {number}: {line!r} gives label {parts[1]}, but classInd.txt "
                    f"gives {folder!r} the index {label + 1}"
                )
        samples.append((videos / folder / relative[1], label))
    if not samples:
        raise BadValueError(f"{path} lists no videos")
    return samples


class UCF101(VideoFolder):
    """UCF101 (101 classes, 13,320 clips, 3 splits) from ``root`` in its official layout.

    ``root`` holds ``UCF-101/<Class>/v_<Class>_gXX_cYY.avi``; ``annotations`` (default
    ``root/ucfTrainTestlist``) holds ``classInd.txt``, ``trainlist0N.txt`` and
    ``testlist0N.txt``. ``train`` picks the split's training or test list (and training or
    evaluation clips); labels are classInd's index - 1. ``clip_options`` go to
    :class:`VideoFolder` (``clip_len``, ``stride``, ``sampling``, ``size``, ``seed`` ...).
    """

    def __init__(
        self,
        root: str | Path,
        split: int = 1,
        train: bool = True,
        annotations: str | Path | None = None,
        **clip_options,
    ) -> None:
        self.root, self.split = Path(root), _check_split(split)
        videos = self.root / "UCF-101"
        if not videos.is_dir():
            raise _missing_root("UCF101", self.root, videos)
        folder = Path(annotations) if annotations is not None else self.root / "ucfTrainTestlist"
        classes = read_class_index(folder / "classInd.txt")
        listed = folder / f"{'train' if _check_train(train) else 'test'}list0{self.split}.txt"
        samples = read_ucf_list(listed, classes, videos, labelled=train)
        _check_videos_exist(samples, listed, "UCF101", self.root)
        super().__init__(samples, classes, train=train, **_default_flip(self.root, clip_options))


# --------------------------------------------------------------------------------------------
# HMDB51
# --------------------------------------------------------------------------------------------
HMDB_TAGS = {"0": None, "1": True, "2": False}  # unused, train, test


def read_hmdb_splits(folder: Path, split: int, train: bool, videos: Path):
    """``(classes, samples)`` from HMDB51's ``<class>_test_split<split>.txt`` files.

    Classes are the class names of the split files, sorted; samples are the ``(video, label)``
    pairs tagged 1 (``train=True``) or 2 (``train=False``); tag 0 marks unused videos.
    """
    folder = Path(folder)
    suffix = "_test_split"
    names = {p.name[: p.name.rindex(suffix)] for p in folder.glob(f"*{suffix}[1-3].txt")}
    if not names:
        raise MissingFileError(
            f"found no split files <class>{suffix}<N>.txt in {folder}. "
            + layout_help("HMDB51", videos)
        )
    classes = sorted(names)
    samples = []
    for label, name in enumerate(classes):
        path = folder / f"{name}{suffix}{split}.txt"
        for number, line in _read_lines(path, "HMDB51 split file"):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in HMDB_TAGS:
                raise _malformed(
                    path, number, line, "'<file>.avi <tag>', tag 1 (train), 2 (test) or 0 (unused)"
                )
            if HMDB_TAGS[parts[1]] is train:
                samples.append((videos / name / parts[0], label))
    if not samples:
        raise BadValueError(f"the split files {folder}/*{suffix}{split}.txt list no videos")
    return classes, samples


class HMDB51(VideoFolder):
    """HMDB51 (51 classes, 6,766 clips, 3 splits) from ``root`` in its official layout.

    Videos are ``root/<class>/<file>.avi``; ``annotations`` (default
    ``root/testTrainMulti_7030_splits``) holds ``<class>_test_split<N>.txt`` with lines
    ``file.avi tag`` (1 train, 2 test, 0 unused). Classes are sorted by name.
    """

    def __init__(
        self,
        root: str | Path,
        split: int = 1,
        train: bool = True,
        annotations: str | Path | None = None,
        **clip_options,
    ) -> None:
        self.root, self.split = Path(root), _check_split(split)
        default = self.root / "testTrainMulti_7030_splits"
        folder = Path(annotations) if annotations is not None else default
        for needed in (self.root, folder):
            if not needed.is_dir():
                raise _missing_root("HMDB51", self.root, needed)
        classes, samples = read_hmdb_splits(folder, self.split, _check_train(train), self.root)
        listed = folder / f"*_test_split{self.split}.txt"
        _check_videos_exist(samples, listed, "HMDB51", self.root)
        super().__init__(samples, classes, train=train, **_default_flip(self.root, clip_options))


# --------------------------------------------------------------------------------------------
# Kinetics
# --------------------------------------------------------------------------------------------
def kinetics_file_name(youtube_id: str, time_start: int, time_end: int) -> str:
    """``<youtube_id>_<start:06d>_<end:06d>.mp4``, the name the download scripts give a clip."""
    return f"{youtube_id}_{time_start:06d}_{time_end:06d}.mp4"


def _torchvision_label(label: str) -> str:
    """The folder name torchvision's Kinetics gives a label ('passing American football (in
    game)' -> 'passing_American_football_in_game')."""
    return label.replace(" ", "_").replace("'", "").replace("(", "").replace(")", "")


def _label_folder(folder: Path, label: str) -> Path:
    """``folder/<label>``, or the torchvision-named folder if only that one exists."""
    named = folder / label
    if not named.is_dir() and (folder / _torchvision_label(label)).is_dir():
        return folder / _torchvision_label(label)
    return named


def read_kinetics_csv(path: Path) -> list[dict]:
    """Rows of an official Kinetics CSV, read by column name: ``label``, ``youtube_id`` and the
    integer ``time_start``, ``time_end`` (plus ``line``, the row's line number)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(
            f"Kinetics CSV {path} does not exist; the official CSVs (train.csv, validate.csv) "
            f"come with the data from {DOWNLOAD_PAGES['Kinetics']}"
        )
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        found = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in KINETICS_COLUMNS if name not in found]
        if missing:
            test = " (a test CSV has no labels)" if "label" in missing else ""
            raise BadValueError(
                f"{path} needs the columns {', '.join(KINETICS_COLUMNS)}{test}; its header has "
                f"{found or 'no columns'}"
            )
        reader.fieldnames = found
        for row in reader:
            values = [row.get(name) for name in KINETICS_COLUMNS]
            text = ",".join("" if v is None else v for v in values)
            if any(v is None or not v.strip() for v in values):
                raise _malformed(path, reader.line_num, text, "a value in every column")
            try:
                start, end = (int(float(row[name])) for name in ("time_start", "time_end"))
            except ValueError:
                raise _malformed(path, reader.line_num, text, "numbers for the times") from None
            rows.append(
                {
                    "label": row["label"].strip(),
                    "youtube_id": row["youtube_id"].strip(),
                    "time_start": start,
                    "time_end": end,
                    "line": reader.line_num,
                }
            )
    if not rows:
        raise BadValueError(f"{path} lists no clips")
    return rows


class Kinetics(VideoFolder):
    """Kinetics (400/600/700) clips listed by an official CSV, from ``root/<split>/<label>/``.

    A clip is ``root/<split>/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4`` (the
    label folder may also have torchvision's name, spaces as underscores and no quotes or
    brackets). Classes are the CSV's labels, sorted, whether or not their clips are present.
    Every copy misses some clips (videos leave YouTube): ``missing="skip"`` (default) leaves
    them out with a warning that counts them, ``missing="error"`` raises; finding no clip at all
    always raises. ``train`` defaults to ``split == "train"``.
    """

    def __init__(
        self,
        root: str | Path,
        csv: str | Path,
        split: str = "train",
        *,
        missing: str = "skip",
        train: bool | None = None,
        **clip_options,
    ) -> None:
        if not isinstance(split, str) or not split or "/" in split or os.sep in split:
            raise BadValueError(
                f"split must be a folder name such as 'train' or 'val', got {split!r}"
            )
        if missing not in ("skip", "error"):
            raise BadValueError(f"missing must be 'skip' or 'error', got {missing!r}")
        self.root, self.split, self.csv = Path(root), split, Path(csv)
        folder = self.root / split
        if not folder.is_dir():
            raise _missing_root("Kinetics", self.root, folder)
        rows = read_kinetics_csv(self.csv)
        classes = sorted({row["label"] for row in rows})
        index = {label: i for i, label in enumerate(classes)}
        folders = {label: _label_folder(folder, label) for label in classes}
        present = {
            label: set(os.listdir(f)) if f.is_dir() else set() for label, f in folders.items()
        }
        samples, absent = [], []
        for row in rows:
            name = kinetics_file_name(row["youtube_id"], row["time_start"], row["time_end"])
            path = folders[row["label"]] / name
            if name in present[row["label"]]:
                samples.append((path, index[row["label"]]))
            else:
                absent.append(path)
        self.num_missing = len(absent)
        if absent and (missing == "error" or not samples):
            raise MissingFileError(
                f"{len(absent)} of the {len(rows)} clips listed in {self.csv} are not in "
                f"{folder}, e.g. {absent[0]}. "
                + ("" if samples else layout_help("Kinetics", self.root))
            )
        if absent:
            warnings.warn(
                f"{len(absent)} of the {len(rows)} clips listed in {self.csv} are not in "
                f"{folder} and are skipped ({len(samples)} remain); every copy of Kinetics "
                "misses some videos that left YouTube",
                stacklevel=2,
            )
        empty = [path for path, _ in samples if _file_size(path) == 0]
        _check_not_empty(empty, len(rows), self.csv, "Kinetics", self.root)
        train = split == "train" if train is None else train
        super().__init__(samples, classes, train=train, **_default_flip(self.root, clip_options))


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------
class EpochShuffle(Sampler[int]):
    """Indices ``0..n-1`` in an order that depends only on ``seed`` and the epoch (like
    ``DistributedSampler``, for one process): iterating twice gives the same order."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, np.uint64)
        gen = torch.Generator().manual_seed(int(state[0]))
        return iter(torch.randperm(self.n, generator=gen).tolist())


def _one_decoder_thread(worker_id: int) -> None:
    """In a DataLoader worker: decode with one FFmpeg thread unless the data set says otherwise."""
    dataset = torch.utils.data.get_worker_info().dataset
    if getattr(dataset, "threads", 0) is None:
        dataset.threads = 1


class VideoLoader(DataLoader):
    """A ``DataLoader`` whose ``set_epoch(epoch)`` picks the epoch's order and random clips."""

    def set_epoch(self, epoch: int) -> None:
        """Shuffle for epoch ``epoch`` (0-based) and draw that epoch's clips, crops and flips."""
        self.epoch = int(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(self.epoch)


def video_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    num_workers: int = 0,
    seed: int = 0,
    drop_last: bool = False,
) -> VideoLoader:
    """Batches of a video data set: dicts with ``clip`` (B, C, T, H, W), ``label`` (B,) and
    ``path`` (a list of B strings).

    The order depends only on ``seed`` and the epoch given to ``set_epoch`` (the ``Trainer``
    calls it), in any number of ``num_workers`` decoding processes. Under ``torchrun`` each
    process reads its share: a ``DistributedSampler`` when shuffling (training), every
    ``world_size``-th video otherwise (evaluation: each video exactly once).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise BadValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise BadValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise BadValueError(f"seed must be an int >= 0, got {seed!r}")
    if len(dataset) == 0:
        raise BadValueError("the data set is empty: nothing to load")
    rank, world = rank_and_world()
    if world > 1 and shuffle:
        sampler = DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=drop_last
        )
    elif world > 1:
        sampler = range(rank, len(dataset), world)
    elif shuffle:
        sampler = EpochShuffle(len(dataset), seed)
    else:
        sampler = None  # in order
    loader = VideoLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=torch.cuda.is_available(),
        worker_init_fn=_one_decoder_thread,
        generator=torch.Generator().manual_seed(seed),  # worker seeds; not the global RNG
    )
    loader.set_epoch(0)
    return loader
