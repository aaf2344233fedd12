"""Where the code runs and how big the runs are: device, profile, seeds, provenance."""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import itertools
import os
import platform
import random
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np
import torch
from torch import nn

from vidbook.checks import is_int
from vidbook.errors import BadValueError

PROFILES = ("quick", "full")
PROFILE_ENV = "VIDBOOK_PROFILE"
DEVICE_ENV = "VIDBOOK_DEVICE"


def device() -> torch.device:
    """The device runs use by default: the one the environment variable ``VIDBOOK_DEVICE`` names
    (checked by :func:`resolve_device`), else the best available: CUDA, then Apple's MPS, then
    the CPU."""
    chosen = os.environ.get(DEVICE_ENV, "").strip()
    if chosen:
        try:
            return resolve_device(chosen)
        except BadValueError as err:
            raise BadValueError(f"{DEVICE_ENV}={chosen!r}: {err}") from err
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def available_devices() -> list[str]:
    """The devices torch can use here, by name: ``cpu``, then ``cuda`` and ``cuda:0`` ... (one
    per GPU) and ``mps`` where present."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(
    name: str | torch.device | None = None, *, model: nn.Module | None = None
) -> torch.device:
    """The device to run on: the one ``name`` names; without a name, the device of ``model``'s
    first parameter or buffer; without either, :func:`device` (the best available one).

    This is the package's one way to choose a device: the command line, the trainer, the
    benchmarks, the grader and the evaluation helpers all call it.

    BadValueError (a ValueError) naming the device and the available ones if ``name`` is not a
    torch device or not usable here: ``cuda`` without a CUDA GPU, ``cuda:3`` on a machine with
    fewer GPUs, ``mps`` off Apple silicon, or another kind (``meta``, ``xpu``...) torch cannot
    run on here.
    """
    if name is None:
        if model is not None:
            for tensor in itertools.chain(model.parameters(), model.buffers()):
                return tensor.device
        return device()
    available = ", ".join(available_devices())
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise BadValueError(
            f"device {name!r} is not a torch device ({err}); available here: {available}"
        ) from err
    problem = None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            problem = "torch sees no CUDA GPU here"
        elif dev.index is not None and dev.index >= count:
            problem = f"torch sees {count} CUDA GPU(s), numbered 0 to {count - 1}"
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if not (mps is not None and mps.is_available()):
            problem = "torch sees no Apple MPS device"
    elif dev.type != "cpu" and not _accelerator_is(dev.type):
        problem = f"vidbook runs on cpu, cuda or mps, and {dev.type} is not an accelerator here"
    if problem is not None:
        raise BadValueError(
            f"device {name!r} is not available: {problem}; available here: {available}"
        )
    return dev


def _accelerator_is(kind: str) -> bool:
    """True if torch's current accelerator (e.g. an Intel XPU) is of type ``kind``."""
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is None or not accelerator.is_available():
        return False
    current = accelerator.current_accelerator()
    return current is not None and current.type == kind


def fast_bf16(dev: torch.device | str | None = None) -> bool:
    """True where bf16 autocast is fast on ``dev`` (default: :func:`device`): a CUDA GPU with
    bf16, or a CPU whose oneDNN kernels have bf16 instructions (AVX-512 BF16, AMX). On other
    CPUs bf16 is emulated and slower than float32."""
    dev = torch.device(dev) if dev is not None else device()
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if dev.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def profile() -> str:
    """``"quick"`` (small runs, CPU) or ``"full"`` (published sizes, CUDA).

    The default follows the hardware; the environment variable ``VIDBOOK_PROFILE`` overrides it.
    """
    chosen = os.environ.get(PROFILE_ENV, "").strip().lower()
    if chosen:
        if chosen not in PROFILES:
            raise BadValueError(
                f"{PROFILE_ENV}={os.environ[PROFILE_ENV]!r} is not a profile; use one of {PROFILES}"
            )
        return chosen
    return "full" if device().type == "cuda" else "quick"


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators."""
    if not is_int(seed) or seed < 0:
        raise BadValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the working tree that holds ``path`` (default: this package), or None."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def device_name(dev: torch.device | None = None) -> str:
    """A human name for the device: the GPU's model, or the CPU's."""
    dev = dev or device()
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def provenance(command: str | None = None, device: str | torch.device | None = None) -> dict:
    """Where a result came from: the device it ran on (``device``, resolved by
    :func:`resolve_device`; default: the best available), versions, commit, date and command."""
    dev = resolve_device(device)
    return {
        "device": dev.type,
        "device_name": device_name(dev),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "threads": torch.get_num_threads(),
    }


def setup_notebook(expected_minutes: dict[str, float] | None = None, seed: int = 0) -> dict:
    """Print device, profile and expected run time; warn (a printed line) on CPU; seed all.

    ``expected_minutes`` maps a profile to the chapter's measured run time, e.g.
    ``{"quick": 1.5, "full": 10}``. Returns the printed facts as a dict.
    """
    from vidbook.claims import perturb_seeds

    dev, prof = device(), profile()
    offset = perturb_seeds()  # VIDBOOK_SEED_OFFSET (make claims): every seed shifted
    seed_everything(seed)
    facts = {"device": str(dev), "profile": prof, "torch": torch.__version__, "seed": seed}
    if offset:
        facts["seed_offset"] = offset
        print(f"every seed this chapter sets is shifted by {offset} (VIDBOOK_SEED_OFFSET)")
    line = f"vidbook: device={dev} ({device_name(dev)}), profile={prof}, torch {torch.__version__}"
    print(line)
    if expected_minutes and prof in expected_minutes:
        facts["expected_minutes"] = expected_minutes[prof]
        print(f"expected run time of this chapter: about {expected_minutes[prof]:g} min")
    if dev.type == "cpu":
        facts["warning"] = (
            "warning: running on the CPU, so the runs are small. "
            "On a CUDA GPU the same notebook runs the 'full' profile."
        )
        print(facts["warning"])
    return facts


def atomic_write(path: str | Path, write: Callable[[IO], None], binary: bool = False) -> Path:
    """Write a file so that readers see the old one or the new one, never half of one.

    ``write(f)`` fills a temporary file in the same folder (created if missing); the file is
    flushed and fsync'ed, then renamed over ``path`` with ``os.replace``. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (not possible on every system)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """``model.eval()`` and ``torch.no_grad()``; every submodule's mode is restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, training in modes:
            module.training = training


def _version(package: str) -> str:
    """The installed version of ``package``, or why there is none."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        if package == "vidbook":
            import vidbook

            return f"{vidbook.__version__} (not installed: run pip install -e .)"
        return "not installed"


def info() -> dict:
    """Versions, device and profile, as printed by ``vidbook info``."""
    dev = resolve_device()
    return {
        "vidbook": _version("vidbook"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": _version("numpy"),
        "av (PyAV)": _version("av"),
        "device": str(dev),
        "device name": device_name(dev),
        "profile": profile(),
        "cpu threads": torch.get_num_threads(),
    }
