"""The package's errors: one base class, :class:`VidbookError`, for everything vidbook raises
about its user's input (arguments, files, folders, split files, model names, devices).

Each class also derives from the built-in error that was raised before it existed, so
``except ValueError`` or ``except FileNotFoundError`` keep catching what they caught::

    VidbookError(Exception)
    ├── BadValueError(VidbookError, ValueError)        an argument or a value that is not valid
    ├── DataFileError(VidbookError, OSError)           a file or folder that cannot be used
    │   ├── MissingFileError(DataFileError, FileNotFoundError)
    │   ├── PathExistsError(DataFileError, FileExistsError)
    │   └── NotAFileError(DataFileError, IsADirectoryError)
    ├── CheckpointError(VidbookError, ValueError)      vidbook.train.checkpoint
    ├── NonFiniteLossError(VidbookError, RuntimeError) vidbook.train.trainer
    └── VideoDecodeError(VidbookError, RuntimeError)   vidbook.data.video_io

The command line prints any of them as one line, ``vidbook <command>: error: <message>``, and
exits with status 2. This module imports nothing from vidbook: every layer may use it.
"""

from __future__ import annotations

__all__ = [
    "BadValueError",
    "DataFileError",
    "MissingFileError",
    "NotAFileError",
    "PathExistsError",
    "VidbookError",
]


class VidbookError(Exception):
    """Base class of the errors vidbook raises about its user's input."""


class BadValueError(VidbookError, ValueError):
    """An argument, option or value (also one read from a file) that is not valid."""


class DataFileError(VidbookError, OSError):
    """A file or folder that is missing, unreadable, empty or in the way."""


class MissingFileError(DataFileError, FileNotFoundError):
    """A file or folder that does not exist."""


class PathExistsError(DataFileError, FileExistsError):
    """A path that exists already and would be overwritten."""


class NotAFileError(DataFileError, IsADirectoryError):
    """A path that exists but is not a regular file (a folder, for example)."""


# torch re-raises an error of a DataLoader worker with the worker's traceback in its message.
_WORKER_TRACEBACK = "Original Traceback (most recent call last):"


def error_line(err: BaseException) -> str:
    """The message of ``err`` as one line: a worker's traceback dropped, line breaks joined."""
    text = str(err)
    if _WORKER_TRACEBACK in text:
        kind = type(err)
        name = kind.__qualname__
        if kind.__module__ != "builtins":
            name = f"{kind.__module__}.{name}"
        start = text.rfind(f"{name}: ")  # the traceback's last line, "module.Class: message"
        if start >= 0:
            text = text[start + len(name) + 2 :]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
