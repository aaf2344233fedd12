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
