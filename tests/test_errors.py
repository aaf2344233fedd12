"""The error classes: one base, ``vidbook.VidbookError``, under the built-ins they replace, and
the one-line messages the command line prints for them."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import vidbook
from vidbook import errors
from vidbook.data.video_io import VideoDecodeError
from vidbook.errors import error_line
from vidbook.train import CheckpointError, NonFiniteLossError

# Each class, with the built-in it also is (so except / pytest.raises of the old type still work).
CLASSES = [
    (errors.BadValueError, ValueError),
    (errors.DataFileError, OSError),
    (errors.MissingFileError, FileNotFoundError),
    (errors.PathExistsError, FileExistsError),
    (errors.NotAFileError, IsADirectoryError),
    (CheckpointError, ValueError),
    (NonFiniteLossError, RuntimeError),
    (VideoDecodeError, RuntimeError),
]


@pytest.mark.parametrize(("kind", "builtin"), CLASSES, ids=[c.__name__ for c, _ in CLASSES])
def test_every_error_is_a_vidbook_error_and_its_old_builtin(kind, builtin):
    assert issubclass(kind, vidbook.VidbookError) and issubclass(kind, builtin)
    assert vidbook.VidbookError is errors.VidbookError


def test_file_errors_keep_the_message_as_given():
    err = errors.MissingFileError("x.avi does not exist")
    assert str(err) == "x.avi does not exist" and err.errno is None
    assert issubclass(errors.MissingFileError, errors.DataFileError)


def test_video_decode_error_rebuilds_from_its_message():
    err = VideoDecodeError("clip.mp4", "FFmpeg cannot open it")
    assert str(err) == "clip.mp4: not a readable video: FFmpeg cannot open it"
    assert err.path is not None and err.path.name == "clip.mp4"
    back = pickle.loads(pickle.dumps(err))  # as multiprocessing and DataLoader workers need
    assert type(back) is VideoDecodeError and str(back) == str(err)
    assert (back.path, back.cause) == (err.path, err.cause)
    alone = VideoDecodeError(str(err))  # one argument: the whole message
    assert str(alone) == str(err) and alone.path is None and alone.cause == str(err)


def test_error_line_joins_lines():
    err = errors.MissingFileError("root/UCF-101 does not exist. Expected:\n  UCF-101/<Class>\n")
    assert error_line(err) == "root/UCF-101 does not exist. Expected: UCF-101/<Class>"


class _Broken(Dataset):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> torch.Tensor:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        VideoDecodeError("a.mp4", "its video stream has no frames"),
        errors.BadValueError("clip_len=9 exceeds\nthe 4 frames"),
    ],
    ids=["VideoDecodeError", "BadValueError"],
)
def test_error_line_of_an_error_in_a_data_loader_worker(error):
    # torch re-raises a worker's error as the same type, with the worker's traceback in the
    # message; the command line prints the original message only.
    with pytest.raises(type(error)) as caught:
        next(iter(DataLoader(_Broken(error), num_workers=1)))
    assert "Traceback" in str(caught.value)
    assert error_line(caught.value) == " ".join(str(error).split("\n"))
