"""Pictures of clips and of training: animations, frame strips, curves, confusion matrices;
and the source of the package's functions, shown in the book."""

from vidbook.viz.clips import animate, clip_to_frames, frame_strip, jshtml, show_clips
from vidbook.viz.curves import plot_confusion, plot_history
from vidbook.viz.overlays import animate_overlays, show_overlays
from vidbook.viz.source import show_source, source_text

__all__ = [
    "animate",
    "animate_overlays",
    "clip_to_frames",
    "frame_strip",
    "jshtml",
    "plot_confusion",
    "plot_history",
    "show_clips",
    "show_overlays",
    "show_source",
    "source_text",
]
