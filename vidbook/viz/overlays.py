"""Animations of clips with what a model said about them drawn on top: boxes with track ids,
masks, and a sentence under each clip. They play on the static website, like ``show_clips``."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import torch

from vidbook.errors import BadValueError
from vidbook.viz.clips import clip_to_frames, jshtml

# Per frame, the labelled boxes of one clip: [(label, (x1, y1, x2, y2)), ...].
FrameBoxes = Sequence[tuple[int | str, Sequence[float]]]
_PALETTE = ("#ffffff", "#ff4d4d", "#4dff88", "#4da6ff", "#ffd24d", "#ff4dff", "#4dffff", "#ff9f4d")


def _check_per_clip(name: str, value: Sequence | None, n: int) -> None:
    if value is not None and len(value) != n:
        raise BadValueError(f"got {len(value)} {name} for {n} clips: give one per clip")


def _colour(label: int | str) -> str:
    return (
        _PALETTE[hash(label) % len(_PALETTE)]
        if isinstance(label, str)
        else _PALETTE[int(label) % len(_PALETTE)]
    )


def _tint(frames: np.ndarray, mask: torch.Tensor) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 with the pixels of ``mask`` (T, H, W) tinted red, the rest dimmed."""
    m = mask.detach().cpu().bool().numpy()[..., None]
    red = np.array([255, 40, 40], dtype=np.float32)
    out = np.where(m, 0.45 * frames + 0.55 * red, 0.6 * frames)
    return out.astype(np.uint8)


def animate_overlays(
    clips: torch.Tensor,
    boxes: Sequence[Sequence[FrameBoxes]] | None = None,
    masks: torch.Tensor | None = None,
    texts: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    cols: int = 4,
    fps: int = 5,
    size: float = 2.2,
):
    """A matplotlib animation of clips (B, C, T, H, W) with, per clip: ``boxes`` (per frame a
    list of ``(label, box)``, the label drawn in its own colour), ``masks`` (B, T, H, W) tinted,
    ``texts`` written under the clip (wrapped), ``titles`` above it."""
    import matplotlib.pyplot as plt
    from matplotlib import animation

    if not isinstance(clips, torch.Tensor) or clips.ndim != 5:
        got = tuple(clips.shape) if isinstance(clips, torch.Tensor) else type(clips).__name__
        raise BadValueError(f"expected clips of shape (B, C, T, H, W), got {got}")
    n, t = clips.shape[0], clips.shape[2]
    for name, value in (("box lists", boxes), ("texts", texts), ("titles", titles)):
        _check_per_clip(name, value, n)
    if masks is not None and tuple(masks.shape) != (n, t, *clips.shape[-2:]):
        raise BadValueError(
            f"masks must be (B, T, H, W) = {(n, t, *clips.shape[-2:])}, got {tuple(masks.shape)}"
        )
    if boxes is not None and any(len(per_clip) != t for per_clip in boxes):
        raise BadValueError(f"every clip's boxes must list {t} frames")
    frames = [clip_to_frames(c) for c in clips]
    if masks is not None:
        frames = [_tint(f, m) for f, m in zip(frames, masks, strict=True)]
    cols = min(cols, n)
    rows = -(-n // cols)
    extra = 0.5 if texts is not None else 0.25
    fig, axes = plt.subplots(
        rows, cols, figsize=(size * cols, (size + extra) * rows), squeeze=False
    )
    images, patches = [], [[] for _ in range(n)]
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        images.append(ax.imshow(frames[i][0], interpolation="nearest"))
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
        if texts is not None:
            wrapped = textwrap.fill(texts[i], width=int(12 * size))
            ax.text(
                0.5, -0.03, wrapped, transform=ax.transAxes, ha="center", va="top", fontsize=6.5
            )
    label = fig.suptitle("frame 0", fontsize=8, y=0.01, va="bottom")
    fig.tight_layout()

    def draw(k: int):
        drawn = []
        for i, (img, f) in enumerate(zip(images, frames, strict=True)):
            img.set_data(f[k])
            for p in patches[i]:
                p.remove()
            patches[i] = []
            if boxes is not None:
                ax = axes.flat[i]
                for name, box in boxes[i][k]:
                    x1, y1, x2, y2 = (float(v) for v in box)
                    colour = _colour(name)
                    rect = plt.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                                         ec=colour, lw=1.2)  # fmt: skip
                    patches[i] += [ax.add_patch(rect),
                                   ax.text(x1, y1 - 1, str(name), color=colour, fontsize=7)]  # fmt: skip
            drawn += [img, *patches[i]]
        label.set_text(f"frame {k}")
        return [*drawn, label]

    anim = animation.FuncAnimation(fig, draw, frames=t, interval=1000 / fps, blit=False)
    plt.close(fig)
    return anim


def show_overlays(clips: torch.Tensor, **kwargs):
    """``animate_overlays`` as an HTML player (works on the static website)."""
    from IPython.display import HTML

    return HTML(jshtml(animate_overlays(clips, **kwargs)))
