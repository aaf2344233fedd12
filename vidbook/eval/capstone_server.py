"""The capstone grader's other half: the process that knows the answers.

``vidbook.eval.capstone.grade`` runs this module as a child process (``python -m
vidbook.eval.capstone_server``) and talks to it, through ``GradingChild``, over the child's stdin and
stdout. The child draws the grade's seed (unless it is given one), draws the labels from a hash
of (seed, clip number), renders the clips and sends them, batch by batch, as uint8 (the pixel
values times 255, rounded). Only after it has received one predicted class per clip does it send
back the confusion matrix and the seed. The labels never exist in the process that runs the
model.

The clips of a grade are SynthActions clips numbered ``GRADING_OFFSET + i`` (i = 0 ... size - 1):
a range of clip numbers that no SynthActions split uses. Their labels are balanced (each class
``size / K`` times, up to one) and assigned in an order given by a hash of the seed, so that
neither the clip number nor the order in which the clips arrive says anything about a label.

Every message is two little-endian numbers (header length: uint32, payload length: uint64), a
JSON header and a raw payload. The conversation (parent -> child, child -> parent):

1. ``{"kind": "request", "task", "size", "frames", "height", "width", "batch_size", "seed"}``
   (``seed`` null: draw one);
2. ``{"kind": "clips", "start", "shape"}`` + uint8 clips (B, 3, T, H, W), once per batch, then
   ``{"kind": "done"}``;
3. ``{"kind": "predictions", "n"}`` + int64 classes (n,);
4. ``{"kind": "result", "seed", "confusion"}`` (rows: true class), or at any point from the
   child ``{"kind": "error", "message"}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np
import torch

from vidbook.data.synth import (
    CLASSES,
    DIFFICULTIES,
    STATIC_CLASS,
    _splitmix64,
    draw_params,
    render,
)

GRADING_OFFSET = 3 << 40  # splits use [0, 3 << 40): train 0, val 1 << 40, test 2 << 40
GRADING_DIFFICULTY = "medium"
SEED_LIMIT = 1 << 31  # seeds of a grade lie in [0, 2**31)
TASK_SIZES: dict[str, int] = {"action": 2, "classes": len(CLASSES)}  # number of task classes
_LABEL_SALT = 0x5EED_CAFE_F00D_D1CE  # the labels' hash differs from the clips' own hash
_MOVING = np.array([c for c in range(len(CLASSES)) if c != STATIC_CLASS], dtype=np.int64)
_FRAME = struct.Struct("<IQ")  # header length, payload length


# --------------------------------------------------------------------------------------------
# The clips of a grade
# --------------------------------------------------------------------------------------------
def draw_seed() -> int:
    """A fresh seed for a grade, from the operating system's randomness: in [0, 2**31)."""
    return secrets.randbelow(SEED_LIMIT)


def world_labels(task: str, size: int, seed: int) -> np.ndarray:
    """The SynthActions class (size,) int64 of each clip of a grade.

    "classes": each of the ten classes ``size / 10`` times (up to one); "action": half of the
    clips ``static``, the other half spread evenly over the nine moving classes. Which clip gets
    which class follows a hash of ``seed``: without the seed, a clip number says nothing.
    """
    if task not in TASK_SIZES:
        raise ValueError(
            f"unknown task {task!r}; the tasks are: {', '.join(map(repr, TASK_SIZES))}"
        )
    salt = _splitmix64(np.full(1, (seed ^ _LABEL_SALT) % (1 << 64), dtype=np.uint64))
    keys = _splitmix64(np.arange(size, dtype=np.uint64) ^ salt)  # a bijection: no ties
    rank = np.empty(size, dtype=np.int64)
    rank[np.argsort(keys, kind="stable")] = np.arange(size)
    if task == "classes":
        return rank % len(CLASSES)
    return np.where(rank % 2 == 0, STATIC_CLASS, _MOVING[(rank // 2) % len(_MOVING)])


def task_labels(task: str, labels: np.ndarray) -> np.ndarray:
    """The answers the grade expects for SynthActions classes ``labels``: the class itself for
    "classes", 1 (action) or 0 (no action, the static class) for "action"."""
    if task == "action":
        return (labels != STATIC_CLASS).astype(np.int64)
    return np.asarray(labels, dtype=np.int64)


def grading_batch(
    task: str,
    seed: int,
    size: int,
    start: int,
    stop: int,
    *,
    frames: int = 16,
    height: int = 32,
    width: int = 32,
) -> tuple[torch.Tensor, np.ndarray]:
    """Clips ``start`` to ``stop`` of the grade with ``seed``, as the model's side receives them:
    uint8 clips (B, 3, frames, height, width) (value = round(255 * pixel)) and the task's labels
    (B,) int64. Anyone can render a grade whose seed they know; a grade's seed is known only
    once its predictions are in."""
    labels = world_labels(task, size, seed)[start:stop]
    index = GRADING_OFFSET + np.arange(start, stop, dtype=np.int64)
    params = draw_params(index, labels, frames, DIFFICULTIES[GRADING_DIFFICULTY], seed)
    clips = render(params, height, width)["clip"]
    return clips.mul_(255).round_().to(torch.uint8), task_labels(task, labels)


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------
def send(stream: BinaryIO, header: dict, payload: bytes | memoryview = b"") -> None:
    """Write one message: the frame, the JSON ``header`` and the raw ``payload``."""
    data = json.dumps(header).encode()
    payload = memoryview(payload).cast("B")
    stream.write(_FRAME.pack(len(data), payload.nbytes))
    stream.write(data)
    stream.write(payload)
    stream.flush()


def _read_exactly(stream: BinaryIO, n: int) -> bytearray:
    buffer = bytearray(n)
    view, got = memoryview(buffer), 0
    while got < n:
        chunk = stream.readinto(view[got:])
        if not chunk:
            raise EOFError(f"the other side closed the connection after {got} of {n} bytes")
        got += chunk
    return buffer


def receive(stream: BinaryIO) -> tuple[dict, bytearray]:
    """Read one message: its header (a dict) and its payload (a writable bytearray)."""
    header_length, payload_length = _FRAME.unpack(_read_exactly(stream, _FRAME.size))
    header = json.loads(_read_exactly(stream, header_length))
    return header, _read_exactly(stream, payload_length)


# --------------------------------------------------------------------------------------------
# The child's side of the conversation
# --------------------------------------------------------------------------------------------
def _checked_request(header: dict) -> dict:
    if header.get("kind") != "request":
        raise ValueError(f"expected a request, got a message of kind {header.get('kind')!r}")
    request = {key: header[key] for key in ("task", "size", "frames", "height", "width")}
    request["batch_size"] = header["batch_size"]
    if request["task"] not in TASK_SIZES:
        raise ValueError(f"unknown task {request['task']!r}")
    for key in ("size", "frames", "height", "width", "batch_size"):
        if not isinstance(request[key], int) or request[key] < 1:
            raise ValueError(f"{key} must be a positive int, got {request[key]!r}")
    seed = header.get("seed")
    if seed is not None and not (isinstance(seed, int) and 0 <= seed < SEED_LIMIT):
        raise ValueError(f"seed must be an int in [0, 2**31) or null, got {seed!r}")
    request["seed"] = draw_seed() if seed is None else seed
    return request


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Answer one grade: read the request, send the clips, read the predictions, send the
    confusion matrix (K, K) and the seed."""
    request = _checked_request(receive(inp)[0])
    task, size, seed = request["task"], request["size"], request["seed"]
    shape = dict(frames=request["frames"], height=request["height"], width=request["width"])
    truth = task_labels(task, world_labels(task, size, seed))
    for start in range(0, size, request["batch_size"]):
        stop = min(start + request["batch_size"], size)
        clips, _ = grading_batch(task, seed, size, start, stop, **shape)
        header = {"kind": "clips", "start": start, "shape": list(clips.shape)}
        send(out, header, clips.numpy().data)
    send(out, {"kind": "done"})

    header, payload = receive(inp)
    if header.get("kind") != "predictions" or len(payload) != 8 * size:
        raise ValueError(
            f"expected {size} predictions (int64), got a message of kind {header.get('kind')!r} "
            f"with {len(payload)} bytes"
        )
    predicted = np.frombuffer(payload, dtype="<i8")
    k = TASK_SIZES[task]
    if predicted.min() < 0 or predicted.max() >= k:
        raise ValueError(
            f"predictions must be classes 0..{k - 1}, got {predicted.min()} to {predicted.max()}"
        )
    confusion = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)
    send(out, {"kind": "result", "seed": seed, "confusion": confusion.tolist()})


# --------------------------------------------------------------------------------------------
# The grader's side of the conversation
# --------------------------------------------------------------------------------------------
def start_child(stderr: IO[bytes]) -> subprocess.Popen:
    """The child process, ``python -m vidbook.eval.capstone_server``, with pipes to its stdin and
    stdout (the messages) and its stderr written to ``stderr`` (for a failure's message)."""
    if not sys.executable:
        raise RuntimeError(
            "grade renders its clips in a child Python process, but sys.executable is empty: "
            "this Python cannot start another one"
        )
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)  # the child imports this vidbook
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "vidbook.eval.capstone_server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
    )


class GradingChild:
    """The grader's end of one grade: ``with GradingChild(request) as child:`` starts the child
    and sends it ``request``; ``child.batches()`` yields (start, uint8 clips (B, 3, T, H, W));
    ``child.result(predicted)`` sends the predicted classes (n,) and returns the confusion
    matrix (K, K) int64 and the seed. Leaving the block early ends the child. A child that fails
    or dies is a RuntimeError with its message (or the end of its stderr)."""

    def __init__(self, request: dict) -> None:
        self._request = {"kind": "request", **request}
        self._done = False

    def __enter__(self) -> GradingChild:
        self._stderr = tempfile.TemporaryFile()
        try:
            self._child = start_child(self._stderr)
        except BaseException:
            self._stderr.close()
            raise
        try:
            self._send(self._request)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        child = self._child
        with contextlib.suppress(OSError):
            child.stdin.close()
        if not self._done:  # the model failed, or the grade was interrupted
            child.kill()
        try:
            child.wait(timeout=10)  # after its result, the child exits at once
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()
        self._stderr.close()

    def batches(self) -> Iterator[tuple[int, torch.Tensor]]:
        """The clips, batch by batch: (index of the first clip, uint8 clips (B, 3, T, H, W))."""
        while True:
            header, payload = self._receive(("clips", "done"))
            if header["kind"] == "done":
                return
            shape = tuple(header["shape"])
            yield header["start"], torch.frombuffer(payload, dtype=torch.uint8).view(shape)

    def result(self, predicted: np.ndarray) -> tuple[np.ndarray, int]:
        """Send the predicted classes (n,); the confusion matrix (K, K) and the seed."""
        answers = np.ascontiguousarray(predicted, dtype="<i8")
        self._send({"kind": "predictions", "n": len(answers)}, answers.data)
        header, _ = self._receive(("result",))
        self._done = True
        return np.array(header["confusion"], dtype=np.int64), int(header["seed"])

    def _failed(self, what: str) -> RuntimeError:
        """A RuntimeError for a child that stopped talking, with the end of its stderr."""
        try:
            self._child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        tail = f"; its last words:\n{text[-3000:]}" if text else ""
        return RuntimeError(
            f"the grader's child process (python -m vidbook.eval.capstone_server) stopped {what} "
            f"(exit code {self._child.returncode}){tail}"
        )

    def _send(self, header: dict, payload: bytes | memoryview = b"") -> None:
        try:
            send(self._child.stdin, header, payload)
        except OSError:  # a broken pipe: the child has gone; say why
            raise self._failed(f"before it read the {header['kind']}") from None

    def _receive(self, kinds: tuple[str, ...]) -> tuple[dict, bytearray]:
        try:
            header, payload = receive(self._child.stdout)
        except (EOFError, OSError):
            raise self._failed("in the middle of a grade") from None
        if header.get("kind") == "error":
            raise RuntimeError(f"the grader's child process failed: {header.get('message')}")
        if header.get("kind") not in kinds:
            raise RuntimeError(
                f"the grader's child process sent a message of kind {header.get('kind')!r}, "
                f"expected one of {kinds}"
            )
        return header, payload


def main() -> int:
    """Serve one grade on stdin/stdout; stray prints go to stderr, away from the messages."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # The model runs in the other process at the same time: leave it half of the cores.
    torch.set_num_threads(max(1, torch.get_num_threads() // 2))
    try:
        serve(sys.stdin.buffer, out)
    except EOFError:
        return 1  # the grader went away (its model failed, or it was interrupted)
    except Exception as err:  # reported to the grader, which raises it there
        try:
            send(out, {"kind": "error", "message": f"{type(err).__name__}: {err}"})
        except OSError:
            pass
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # all is sent: skip the interpreter's clean-up (a third of a second)
