"""What the official layouts of UCF101, HMDB51 and Kinetics expect, and the checks of a copy on disk.

:mod:`vidbook.data.layouts` reads the three data sets; this module holds what their errors share:
the expected layout of each and where it is published (:func:`layout_help`), the split-number
check, the reading of split files line by line, and the checks that every listed video exists
and is not empty (one ``os.stat`` each, no decoding). Nothing is downloaded.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vidbook.checks import is_int
from vidbook.data.demo import MANIFEST as DEMO_MANIFEST
from vidbook.errors import BadValueError, DataFileError, MissingFileError

SPLITS = (1, 2, 3)
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


def layout_help(name: str, root: Path) -> str:
    """The expected layout of data set ``name`` under ``root`` and where to get the data."""
    return (
        f"{name} is expected in its official layout under {root}:\n{LAYOUTS[name]}\n"
        f"Download it from {DOWNLOAD_PAGES[name]} , or write a small data set in the same "
        f"layout with `vidbook prepare-demo --layout {name.lower()} PATH`."
    )


def missing_root(name: str, root: Path, missing: Path) -> MissingFileError:
    """The error for a folder ``missing`` of data set ``name`` under ``root``: what exists, the
    layout expected and where to get it (with a hint when ``root`` is UCF101's video folder)."""
    what = "does not exist" if not missing.exists() else "is not a folder"
    hint = ""
    if root.name == "UCF-101" and name == "UCF101":
        hint = f"\n(root is the folder that holds UCF-101/, here probably {root.parent})"
    return MissingFileError(f"{missing} {what}. {layout_help(name, root)}{hint}")


def check_split(split: object) -> int:
    """``split`` as an int, or BadValueError unless it is one of the official splits 1, 2, 3."""
    if not is_int(split) or split not in SPLITS:
        raise BadValueError(f"split must be 1, 2 or 3 (the official splits), got {split!r}")
    return int(split)


def read_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """The non-blank lines of a split file as (1-based line number, stripped text)."""
    if not path.is_file():
        raise MissingFileError(f"{what} {path} does not exist")
    text = path.read_text(encoding="utf-8-sig")  # the official lists end lines with \r\n
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def malformed(path: Path, number: int, line: str, expected: str) -> BadValueError:
    """The error for line ``number`` of ``path``: what was expected and the line itself."""
    return BadValueError(f"{path}, line {number}: expected {expected}, got {line!r}")


def file_size(path: Path) -> int | None:
    """The size in bytes of the regular file ``path`` (one ``os.stat``), None if there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def check_videos_exist(
    samples: list[tuple[Path, int]], listed_in: Path, name: str, root: Path
) -> None:
    """Raise MissingFileError naming the missing videos, DataFileError naming the empty ones
    (0 bytes): a broken copy, not a sampling choice. One ``os.stat`` per video, no decoding."""
    sizes = [file_size(path) for path, _ in samples]
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
    check_not_empty(empty, len(samples), listed_in, name, root)


def check_not_empty(
    empty: list[Path], total: int, listed_in: Path, name: str, root: Path, shown: int = 5
) -> None:
    """Raise DataFileError naming the first ``shown`` of the ``empty`` (0-byte) videos and
    counting them all: an interrupted download or copy, found before any decoding."""
    if not empty:
        return
    names = ", ".join(relative_name(path, root) for path in empty[:shown])
    more = f" and {len(empty) - shown} more" if len(empty) > shown else ""
    verb = "video is" if len(empty) == 1 else "videos are"
    raise DataFileError(
        f"{len(empty)} {verb} empty (0 bytes): {names}{more} (under {root}; {total} videos "
        f"listed in {listed_in}). An interrupted download or copy leaves empty files; copy "
        f"them again, or unpack {name} again from {DOWNLOAD_PAGES[name]} ."
    )


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` where it lies under it, else the whole path."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def is_demo(root: Path) -> bool:
    """True if ``root`` holds a data set written by ``vidbook.data.demo.write_demo``."""
    return (root / DEMO_MANIFEST).is_file()
