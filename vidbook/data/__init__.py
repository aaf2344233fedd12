"""Data: the SynthActions world and batch loaders."""

from vidbook.data.action import ActionOrNot
from vidbook.data.loader import ClipLoader
from vidbook.data.synth import CLASSES, TIME_REVERSED, SynthActions

__all__ = ["ActionOrNot", "CLASSES", "TIME_REVERSED", "ClipLoader", "SynthActions"]
