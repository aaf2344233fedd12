"""Show clips: frame strips, and animations that also play on the static website (jshtml)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

from vidbook.errors import BadValueError


def clip_to_frames(clip: torch.Tensor) -> np.ndarray:
    """(C, T, H, W) float clip in [0, 1] -> (T, H, W, C) uint8 frames for display."""
    if clip.ndim != 4 or clip.shape[0] not in (1, 3):
        raise BadValueError(
            f"expected one clip of shape (C, T, H, W) with C in (1, 3), got {tuple(clip.shape)}"
        )
    frames = clip.detach().float().cpu().clamp(0, 1).permute(1, 2, 3, 0)
    if frames.shape[-1] == 1:
        frames = frames.expand(*frames.shape[:-1], 3)
    return (frames * 255 + 0.5).to(torch.uint8).numpy()


def frame_strip(clip: torch.Tensor, every: int = 1, title: str | None = None, ax=None, boxes=None):
    """Draw the frames of one clip (C, T, H, W) side by side; optional boxes (T, 4) on top."""
    import matplotlib.pyplot as plt

    frames = clip_to_frames(clip)[::every]
    t, h, w, _ = frames.shape
    strip = np.concatenate(
        [np.pad(f, ((0, 0), (0, 2), (0, 0)), constant_values=255) for f in frames], axis=1
    )
    if ax is None:
        _, ax = plt.subplots(figsize=(min(1.0 * t, 14), 1.3))
    ax.imshow(strip, interpolation="nearest")
    if boxes is not None:
        for i, box in enumerate(boxes[::every]):
            x1, y1, x2, y2 = (float(v) for v in box)
            ax.add_patch(
                plt.Rectangle(
                    (i * (w + 2) + x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, ec="w", lw=0.8
                )
            )
    ax.set_xticks(
        [(w + 2) * i + w / 2 for i in range(t)], [str(i * every) for i in range(t)], fontsize=7
    )
    ax.set_yticks([])
    ax.set_xlabel("frame", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    return ax


def animate(
    clips: torch.Tensor,
    titles: Sequence[str] | None = None,
    cols: int = 5,
    fps: int = 6,
    size: float = 1.6,
):
    """A matplotlib animation of clips (B, C, T, H, W) (or one (C, T, H, W)) in a grid."""
    import matplotlib.pyplot as plt
    from matplotlib import animation

    if clips.ndim == 4:
        clips = clips.unsqueeze(0)
    if clips.ndim != 5:
        raise BadValueError(f"expected clips of shape (B, C, T, H, W), got {tuple(clips.shape)}")
    if titles is not None and len(titles) != len(clips):
        raise BadValueError(f"got {len(titles)} titles for {len(clips)} clips: give one per clip")
    frames = [clip_to_frames(c) for c in clips]
    n, t = len(frames), frames[0].shape[0]
    cols = min(cols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(size * cols, size * rows + 0.3 * rows), squeeze=False
    )
    images = []
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            images.append(ax.imshow(frames[i][0], interpolation="nearest"))
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    label = fig.suptitle("frame 0", fontsize=8, y=0.02, va="bottom")
    fig.tight_layout()

    def draw(k: int):
        for img, f in zip(images, frames, strict=True):
            img.set_data(f[k])
        label.set_text(f"frame {k}")
        return [*images, label]

    anim = animation.FuncAnimation(fig, draw, frames=t, interval=1000 / fps, blit=False)
    plt.close(fig)
    return anim


# matplotlib's player links Font Awesome 4 from a CDN for its button icons. The book's website
# and JupyterLab both serve Font Awesome themselves, so the link only costs a failed request
# when reading offline.
_CDN_STYLESHEET = re.compile(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">\s*')


def jshtml(anim, default_mode: str = "loop") -> str:
    """HTML + JavaScript player of a matplotlib animation, with every frame inside, no CDN."""
    return _CDN_STYLESHEET.sub("", anim.to_jshtml(default_mode=default_mode))


def show_clips(clips: torch.Tensor, titles: Sequence[str] | None = None, **kwargs):
    """An HTML animation (JavaScript player, works on the static website) of clips."""
    from IPython.display import HTML

    return HTML(jshtml(animate(clips, titles, **kwargs)))
