"""UCF101, HMDB51 and Kinetics read from your own copy, in the layouts they are published in.

Each data set is a :class:`~vidbook.data.folders.VideoFolder` whose list of ``(video path,
label)`` pairs is read from the official split files, and ``ds[i]`` decodes only the frames of one
clip: a dict with ``clip`` (C, T, H, W) float in [0, 1], ``label`` (int) and ``path`` (str).
:func:`vidbook.data.loader.video_loader` batches them for the ``Trainer``.

- ``UCF101(root, split=1, train=True)``: ``root/UCF-101/<Class>/v_<Class>_gXX_cYY.avi`` and
  ``root/ucfTrainTestlist/`` (``classInd.txt``, ``trainlist0N.txt``, ``testlist0N.txt``).
- ``HMDB51(root, split=1, train=True)``: ``root/<class>/<file>.avi`` and
  ``root/testTrainMulti_7030_splits/<class>_test_split<N>.txt`` (tag 1 train, 2 test, 0 unused).
- ``Kinetics(root, csv, split="train")``: ``root/<split>/<label>/<youtube_id>_<start>_<end>.mp4``
  listed by an official CSV (``label,youtube_id,time_start,time_end,split``).

Nothing is downloaded: the errors (:mod:`vidbook.data.layout_checks`) say where each data set is
published, and ``vidbook prepare-demo --layout ucf101 PATH`` writes a small set in the same layout.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from vidbook.data.folders import VideoFolder, _check_train
from vidbook.data.layout_checks import (
    DOWNLOAD_PAGES,
    check_not_empty,
    check_split,
    check_videos_exist,
    file_size,
    is_demo,
    layout_help,
    malformed,
    missing_root,
    read_lines,
)
from vidbook.errors import BadValueError, MissingFileError

KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def _default_flip(root: Path, clip_options: dict) -> dict:
    """No mirroring by default on the book's demo sets: their classes move left or right."""
    if clip_options.get("flip") is None and is_demo(root):
        clip_options = {**clip_options, "flip": False}
    return clip_options


# --------------------------------------------------------------------------------------------
# UCF101
# --------------------------------------------------------------------------------------------
def read_class_index(path: Path) -> list[str]:
    """Class names from UCF101's ``classInd.txt`` (lines ``1 ApplyEyeMakeup``), in index order."""
    path = Path(path)
    names: dict[int, str] = {}
    for number, line in read_lines(path, "UCF101 class index"):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise malformed(path, number, line, "'<index> <ClassName>', e.g. '1 ApplyEyeMakeup'")
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
    for number, line in read_lines(path, "UCF101 split file"):
        parts = line.split()
        relative = parts[0].split("/")
        if len(parts) not in (1, 2) or len(relative) != 2 or not all(relative):
            raise malformed(path, number, line, expected)
        if labelled and len(parts) != 2:
            raise malformed(path, number, line, expected)
        folder = relative[0]
        if folder not in index:
            raise BadValueError(
                f"{path}, line {number}: class {folder!r} of {line!r} is not in classInd.txt "
                f"({len(classes)} classes, e.g. {', '.join(classes[:3])})"
            )
        label = index[folder]
        if len(parts) == 2:
            if not parts[1].isdigit():
                raise malformed(path, number, line, expected + " with an integer label")
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
        self.root, self.split = Path(root), check_split(split)
        videos = self.root / "UCF-101"
        if not videos.is_dir():
            raise missing_root("UCF101", self.root, videos)
        folder = Path(annotations) if annotations is not None else self.root / "ucfTrainTestlist"
        classes = read_class_index(folder / "classInd.txt")
        listed = folder / f"{'train' if _check_train(train) else 'test'}list0{self.split}.txt"
        samples = read_ucf_list(listed, classes, videos, labelled=train)
        check_videos_exist(samples, listed, "UCF101", self.root)
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
        for number, line in read_lines(path, "HMDB51 split file"):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in HMDB_TAGS:
                raise malformed(
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
        self.root, self.split = Path(root), check_split(split)
        default = self.root / "testTrainMulti_7030_splits"
        folder = Path(annotations) if annotations is not None else default
        for needed in (self.root, folder):
            if not needed.is_dir():
                raise missing_root("HMDB51", self.root, needed)
        classes, samples = read_hmdb_splits(folder, self.split, _check_train(train), self.root)
        listed = folder / f"*_test_split{self.split}.txt"
        check_videos_exist(samples, listed, "HMDB51", self.root)
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
                raise malformed(path, reader.line_num, text, "a value in every column")
            try:
                start, end = (int(float(row[name])) for name in ("time_start", "time_end"))
            except ValueError:
                raise malformed(path, reader.line_num, text, "numbers for the times") from None
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
            raise missing_root("Kinetics", self.root, folder)
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
        empty = [path for path, _ in samples if file_size(path) == 0]
        check_not_empty(empty, len(rows), self.csv, "Kinetics", self.root)
        train = split == "train" if train is None else train
        super().__init__(samples, classes, train=train, **_default_flip(self.root, clip_options))
