"""Shared pytest set-up. Kept minimal: nothing here may slow the test suite down."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Plots in tests are drawn off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder (where pyproject.toml is)."""
    return REPO_ROOT


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: quick and steady on a small, busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the largest oracle errors seen (tests/oracle.py) to _build/oracle-errors.json."""
    import json
    import sys

    oracle = sys.modules.get("oracle") or sys.modules.get("tests.oracle")
    if oracle is None or not oracle.LARGEST_ERROR:
        return
    out = REPO_ROOT / "_build" / "oracle-errors.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(oracle.LARGEST_ERROR, indent=2, sort_keys=True) + "\n")
