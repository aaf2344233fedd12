"""Pictures of clips and of training: animations, frame strips, curves, confusion matrices."""

from vidbook.viz.clips import animate, clip_to_frames, frame_strip, jshtml, show_clips
from vidbook.viz.curves import plot_confusion, plot_history

__all__ = [
    "animate",
    "clip_to_frames",
    "frame_strip",
    "jshtml",
    "plot_confusion",
    "plot_history",
    "show_clips",
]
