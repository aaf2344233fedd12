"""Atomic, ``weights_only``-safe training checkpoints.

A checkpoint is a dict of plain values (tensors, ints, floats, strings, bools, None and lists,
tuples or dicts of them) written by ``torch.save``. :func:`save_checkpoint` refuses anything else,
so that :func:`load_checkpoint` can always read it with ``torch.load(..., weights_only=True)``;
it writes to a temporary file in the target directory and renames it over the target, so a run
killed while saving leaves the previous checkpoint intact, never half a file.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidbook.errors import BadValueError, VidbookError
from vidbook.runtime import atomic_write

FORMAT = "vidbook.train.checkpoint"
VERSION = 1
_PLAIN_SCALARS = (bool, int, float, str, bytes, type(None))


class CheckpointError(VidbookError, ValueError):
    """A file that is missing, truncated or not a vidbook checkpoint (also a ValueError)."""


def _check_plain(value: Any, where: str) -> None:
    """Raise TypeError naming ``where`` if ``value`` holds something ``weights_only`` rejects."""
    if isinstance(value, torch.Tensor) or type(value) in _PLAIN_SCALARS:
        return
    if isinstance(value, (torch.dtype, torch.device, torch.Size)):
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if type(key) not in _PLAIN_SCALARS:
                raise TypeError(f"checkpoint key {key!r} in {where} is a {type(key).__name__}")
            _check_plain(item, f"{where}[{key!r}]")
        return
    hint = " (convert NumPy values with float() / int() / .tolist())" if _is_numpy(value) else ""
    raise TypeError(
        f"cannot store {where} = {value!r} of type {type(value).__name__} in a checkpoint: "
        f"torch.load(weights_only=True) only reads tensors and plain Python values{hint}"
    )


def _is_numpy(value: Any) -> bool:
    return isinstance(value, (np.generic, np.ndarray))


def save_checkpoint(path: str | os.PathLike, **state: Any) -> Path:
    """Write ``state`` (plain values and tensors) to ``path`` atomically; return the path.

    The file is written to a temporary file in the same directory, flushed and fsync'ed, then
    renamed over ``path`` with ``os.replace``. A ``format`` marker and a ``version`` are added.
    TypeError if a value would not load with ``weights_only=True`` (e.g. a NumPy scalar).
    """
    path = Path(path)
    for reserved in ("format", "version"):
        if reserved in state:
            raise BadValueError(f"{reserved!r} is reserved in a checkpoint; rename that entry")
    _check_plain(state, "state")
    payload = {"format": FORMAT, "version": VERSION, **state}
    atomic_write(path, lambda f: torch.save(payload, f), binary=True)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    CheckpointError (a ValueError) naming the file if it is missing, truncated, not a
    ``torch.save`` file, or a ``torch.save`` file that is not a vidbook checkpoint.
    """
    path = Path(path)
    expected = f"expected a checkpoint written by vidbook.train.save_checkpoint ({FORMAT})"
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise CheckpointError(f"cannot load checkpoint {path}: the file {what}; {expected}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many error types for a bad file
        size = path.stat().st_size
        raise CheckpointError(
            f"cannot load checkpoint {path} ({size} bytes): the file is truncated, corrupt or not "
            f"a torch.save file; {expected}. torch.load(weights_only=True) said: "
            f"{type(err).__name__}: {err}"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = sorted(map(str, state))[:8] if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is a torch.save file but not a vidbook checkpoint (found {found}); {expected}"
        )
    version = state.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this vidbook reads versions up to "
            f"{VERSION}; update vidbook to read it"
        )
    return state


def rng_state() -> dict:
    """The state of Python's, NumPy's and PyTorch's (CPU and CUDA) generators, as plain values."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": str(np_state["bit_generator"]),
            "key": torch.from_numpy(np.asarray(np_state["state"]["key"], dtype=np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the generators from :func:`rng_state`'s dict (CPU tensors)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": np_state["bit_generator"],
            "state": {
                "key": np_state["key"].cpu().numpy().astype(np.uint32),
                "pos": np_state["pos"],
            },
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def export_weights(
    checkpoint: str | os.PathLike,
    destination: str | os.PathLike,
    dtype: torch.dtype = torch.float16,
    **record: Any,
) -> Path:
    """Write the model weights of a training ``checkpoint`` to ``destination``, without the
    optimizer's state, floating-point tensors stored as ``dtype`` (half the bytes at float16);
    the checkpoint's identity, step and history travel with them, and ``record`` (plain values,
    e.g. the run's provenance) is added. Read it back with :func:`load_weights`."""
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise BadValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    state = load_checkpoint(checkpoint)
    weights = {
        name: value.to(dtype) if value.is_floating_point() else value
        for name, value in state["model"].items()
    }
    return save_checkpoint(
        destination,
        weights=weights,
        identity=state.get("identity"),
        global_step=state["global_step"],
        history=state["history"],
        record=record,
    )


def load_weights(
    model: torch.nn.Module, path: str | os.PathLike, identity: dict | None = None
) -> dict:
    """Load the weights :func:`export_weights` wrote into ``model`` (cast to the model's own
    dtypes) and return what came with them (identity, global_step, history, record).

    CheckpointError if the file is not such a file, if ``identity`` is given and the stored
    one differs (naming the fields), or if the weights do not fit the model."""
    state = load_checkpoint(path)
    if "weights" not in state:
        raise CheckpointError(
            f"{path} is a training checkpoint, not exported weights; export it with "
            "vidbook.train.checkpoint.export_weights (or load it with the Trainer's resume)"
        )
    if identity is not None:
        stored = state.get("identity") or {}
        differ = {k: (stored.get(k), v) for k, v in identity.items() if stored.get(k) != v}
        if differ:
            described = ", ".join(
                f"{k}: stored {a!r}, expected {b!r}" for k, (a, b) in differ.items()
            )
            raise CheckpointError(f"{path} holds weights of another run ({described})")
    own = model.state_dict()
    weights = {
        name: value.to(own[name].dtype) if name in own and value.is_floating_point() else value
        for name, value in state["weights"].items()
    }
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"the weights in {path} do not fit this model: {err}") from err
    return {key: state[key] for key in ("identity", "global_step", "history", "record")}
