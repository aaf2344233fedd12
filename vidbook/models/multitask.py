"""One backbone, several heads: detection, segmentation and captioning from one video network.

The backbone is the one the detector and the segmenter of chapter 7 each have on their own:
(2+1)D convolutions at full resolution (the *stem*), then a stride-2 stage and residual blocks
at half resolution (``vidbook.models.video_blocks``). Three heads read it:

- **detection**: a CenterNet head on the half-resolution features, with the output layout of
  :class:`~vidbook.models.detection.CenterDetector` (heatmap logit, box size, centre offset), so
  :func:`~vidbook.models.detection.decode` and the detection test read it unchanged;
- **segmentation**: the U-Net decoder of :class:`~vidbook.models.segmentation.VideoSegmenter`
  (the half-resolution features upsampled, joined to the stem's full-resolution ones, mixed
  per pixel, a 3 x 3 convolution to one logit per pixel and frame);
- **caption**: the half-resolution features average-pooled to a coarse space-time grid, one
  *memory token* per cell (projected to ``d_model``, time / row / column embeddings added,
  LayerNorm), read by the :class:`~vidbook.models.captioner.CaptionDecoder` of the captioner::

    model = MultiTaskModel(MultiTaskConfig())
    out = model(clip, tokens_in)   # {"detection": (B, 5, T, H/2, W/2),
                                   #  "segmentation": (B, T, H, W), "caption": (B·k, L, V)}
    model(clip)["caption"]         # None: no words were given
    words = model.beam_decode(clip, "en", k=3)

A head left out of ``heads=`` is not computed (its parameters get no gradient): that is how a
single-head control with the same architecture trains. :class:`DetectionView` and
:class:`SegmentationView` show one head as a model of its own, for the tasks' tests.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.checks import check_int
from vidbook.data.scene_text import LANGUAGES
from vidbook.errors import BadValueError
from vidbook.models._checks import check_even_clips
from vidbook.models.captioner import (
    LANG_TOKENS,
    MAX_CAPTION,
    TOKENIZER,
    CaptionDecoder,
    beam_search,
    greedy_search,
    words_of,
)
from vidbook.models.detection import HEAT, CenterDetectorConfig
from vidbook.models.video_blocks import ResidualBlock, factorised_conv

HEADS = ("detection", "segmentation", "caption")
_PRIOR = 0.1  # the detection heatmap starts out at probability 0.1 (CenterDetector's prior)
_MAX_GRID = 32  # memory tokens per side at most (the size of the position tables)


@dataclass
class MultiTaskConfig:
    """``width`` channels at full resolution (twice that at half), ``blocks`` residual blocks
    at half resolution, 3-frame kernels if ``temporal``; the caption decoder has ``d_model``
    wide tokens, ``heads`` attention heads and ``layers`` layers, and reads one memory token
    per cell of the clip's grid divided by ``time_stride`` (1, 2 or 4) in T and by
    ``space_stride`` (2, 4 or 8) in H and W (16 x 32 x 32 clips, strides 4 and 8: 4 x 4 x 4 =
    64 tokens)."""

    width: int = 16
    blocks: int = 1
    temporal: bool = True
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    time_stride: int = 4
    space_stride: int = 8

    def __post_init__(self) -> None:
        check_int("width", self.width, 4)
        check_int("blocks", self.blocks, 0)
        check_int("layers", self.layers, 1)
        if not isinstance(self.temporal, bool):
            raise BadValueError(f"temporal must be True or False, got {self.temporal!r}")
        if check_int("d_model", self.d_model, 8) % check_int("heads", self.heads, 1):
            raise BadValueError(
                f"d_model must be a multiple of heads, got d_model={self.d_model}, "
                f"heads={self.heads}"
            )
        if self.time_stride not in (1, 2, 4) or isinstance(self.time_stride, bool):
            raise BadValueError(f"time_stride must be 1, 2 or 4, got {self.time_stride!r}")
        if self.space_stride not in (2, 4, 8) or isinstance(self.space_stride, bool):
            raise BadValueError(f"space_stride must be 2, 4 or 8, got {self.space_stride!r}")


def check_heads(heads: Collection[str]) -> tuple[str, ...]:
    """``heads`` as a tuple in the order of :data:`HEADS`; BadValueError for an unknown one."""
    if isinstance(heads, str) or not all(isinstance(h, str) for h in heads):
        raise BadValueError(f"heads must be a collection of names from {HEADS}, got {heads!r}")
    unknown = sorted(set(heads) - set(HEADS))
    if unknown:
        raise BadValueError(f"unknown head(s) {unknown}; the heads are {HEADS}")
    return tuple(h for h in HEADS if h in heads)


class MemoryTokens(nn.Module):
    """Half-resolution features (B, C, T, H/2, W/2) -> memory tokens (B, S, d): average-pooled
    to (T / time_stride, H / space_stride, W / space_stride) cells (at least one a side), a
    1 x 1 projection to d, learned time, row and column embeddings, a LayerNorm; S the number
    of cells."""

    def __init__(self, channels: int, cfg: MultiTaskConfig) -> None:
        super().__init__()
        self.time_stride, self.space_stride = cfg.time_stride, cfg.space_stride
        self.project = nn.Conv3d(channels, cfg.d_model, 1)
        self.pos_t, self.pos_y, self.pos_x = (
            nn.Parameter(torch.randn(_MAX_GRID, cfg.d_model) * 0.02) for _ in range(3)
        )
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, half: torch.Tensor) -> torch.Tensor:
        _, _, t, h, w = half.shape
        cells = (max(1, t // self.time_stride), max(1, 2 * h // self.space_stride),
                 max(1, 2 * w // self.space_stride))  # fmt: skip
        if max(cells) > _MAX_GRID:
            raise BadValueError(f"the memory grid {cells} exceeds {_MAX_GRID} cells a side")
        x = self.project(F.adaptive_avg_pool3d(half, cells))  # (B, d, t', h', w')
        gt, gh, gw = cells
        pos = (
            self.pos_t[:gt, None, None] + self.pos_y[None, :gh, None] + self.pos_x[None, None, :gw]
        )
        return self.norm(x.flatten(2).transpose(1, 2) + pos.reshape(gt * gh * gw, -1))


class MultiTaskModel(nn.Module):
    """Clips (B, 3, T, H, W) (H and W even) and, optionally, caption tokens (B·k, L) -> a dict:

    - ``"detection"``: maps (B, 5, T, H/2, W/2) in CenterDetector's layout (stride 2);
    - ``"segmentation"``: mask logits (B, T, H, W);
    - ``"caption"``: next-token logits (B·k, L, V) (rows b·k .. b·k + k - 1 are clip b's, as in
      :class:`~vidbook.models.captioner.Captioner`), or None when no tokens are given.

    ``heads`` picks the heads computed (default all); the others are None."""

    stride = 2  # of the detection maps

    def __init__(self, config: MultiTaskConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MultiTaskConfig()
        w, temporal = cfg.width, cfg.temporal
        self.stem = factorised_conv(3, w, temporal)  # full resolution
        self.down = nn.Sequential(  # half resolution
            factorised_conv(w, 2 * w, temporal, stride=2),
            *(ResidualBlock(2 * w, temporal) for _ in range(cfg.blocks)),
        )
        self.detect_head = nn.Sequential(
            nn.Conv3d(2 * w, 2 * w, (1, 3, 3), padding=(0, 1, 1)),
            nn.ReLU(inplace=True),
            nn.Conv3d(2 * w, 5, 1),
        )
        with torch.no_grad():  # the focal loss's prior: few cells hold a centre
            self.detect_head[-1].bias.zero_()
            self.detect_head[-1].bias[HEAT] = -math.log((1 - _PRIOR) / _PRIOR)
        self.segment_head = nn.ModuleDict({
            "fuse": nn.Sequential(
                nn.Conv3d(3 * w, w, 1, bias=False), nn.BatchNorm3d(w), nn.ReLU(inplace=True)
            ),
            "out": nn.Conv3d(w, 1, (1, 3, 3), padding=(0, 1, 1)),
        })  # fmt: skip
        self.caption_head = nn.ModuleDict({
            "memory": MemoryTokens(2 * w, cfg),
            "decoder": CaptionDecoder(len(TOKENIZER), cfg.d_model, cfg.heads, cfg.layers),
        })  # fmt: skip

    def head_parameters(self) -> dict[str, list[nn.Parameter]]:
        """The parameters of each part: ``"backbone"`` and each of :data:`HEADS`."""
        return {
            "backbone": [*self.stem.parameters(), *self.down.parameters()],
            "detection": list(self.detect_head.parameters()),
            "segmentation": list(self.segment_head.parameters()),
            "caption": list(self.caption_head.parameters()),
        }

    # ----- the parts --------------------------------------------------------------------------
    def features(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The backbone: full (B, w, T, H, W) and half (B, 2w, T, H/2, W/2) resolution."""
        check_even_clips(clips, "MultiTaskModel")
        full = self.stem(clips)
        return full, self.down(full)

    def detect(self, half: torch.Tensor) -> torch.Tensor:
        """Half-resolution features -> detection maps (B, 5, T, H/2, W/2)."""
        return self.detect_head(half)

    def segment(self, full: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
        """Full- and half-resolution features -> mask logits (B, T, H, W)."""
        upsampled = F.interpolate(half, scale_factor=(1, 2, 2), mode="nearest")
        fused = self.segment_head["fuse"](torch.cat([full, upsampled], dim=1))
        return self.segment_head["out"](fused)[:, 0]

    def memory(self, half: torch.Tensor) -> torch.Tensor:
        """Half-resolution features -> memory tokens (B, S, d_model)."""
        return self.caption_head["memory"](half)

    def caption(self, half: torch.Tensor, tokens_in: torch.Tensor) -> torch.Tensor:
        """Half-resolution features (B, ...) and tokens (B·k, L) -> logits (B·k, L, V)."""
        memory = self.memory(half)
        if (
            not isinstance(tokens_in, torch.Tensor)
            or tokens_in.ndim != 2
            or (tokens_in.shape[0] % memory.shape[0])
        ):
            got = tuple(tokens_in.shape) if isinstance(tokens_in, torch.Tensor) else tokens_in
            raise BadValueError(
                f"tokens_in must be (B·k, L) ids for B={memory.shape[0]} clips, got {got}"
            )
        per_clip = tokens_in.shape[0] // memory.shape[0]
        if per_clip > 1:
            memory = memory.repeat_interleave(per_clip, dim=0)
        return self.caption_head["decoder"](tokens_in, memory)

    # ----- the model --------------------------------------------------------------------------
    def forward(self, clips: torch.Tensor, tokens_in: torch.Tensor | None = None,
                heads: Collection[str] = HEADS) -> dict[str, torch.Tensor | None]:  # fmt: skip
        """The outputs of ``heads`` (see the class); None for the others, and for the caption
        when ``tokens_in`` is None."""
        wanted = check_heads(heads)
        full, half = self.features(clips)
        out: dict[str, torch.Tensor | None] = dict.fromkeys(HEADS)
        if "detection" in wanted:
            out["detection"] = self.detect(half)
        if "segmentation" in wanted:
            out["segmentation"] = self.segment(full, half)
        if "caption" in wanted and tokens_in is not None:
            out["caption"] = self.caption(half, tokens_in)
        return out

    def _start(self, clip: torch.Tensor, lang: str) -> tuple[torch.Tensor, torch.Tensor]:
        if lang not in LANG_TOKENS:
            raise BadValueError(f"lang must be one of {LANGUAGES}, got {lang!r}")
        first = TOKENIZER.ids[LANG_TOKENS[lang]]
        memory = self.memory(self.features(clip)[1])
        return memory, torch.full((len(clip),), first, dtype=torch.long, device=clip.device)

    @torch.no_grad()
    def greedy_decode(self, clip: torch.Tensor, lang: str = "en",
                      max_len: int = MAX_CAPTION) -> list[list[str]]:  # fmt: skip
        """Captions of clip (B, 3, T, H, W) as token lists, the likeliest word at each step."""
        memory, first = self._start(clip, lang)
        return words_of(greedy_search(self.caption_head["decoder"], memory, first, max_len))

    @torch.no_grad()
    def beam_decode(self, clip: torch.Tensor, lang: str = "en", k: int = 3,
                    max_len: int = MAX_CAPTION) -> list[list[str]]:  # fmt: skip
        """Captions of clip (B, 3, T, H, W) by beam search of width ``k``."""
        memory, first = self._start(clip, lang)
        return words_of(beam_search(self.caption_head["decoder"], memory, first, k, max_len))


def _check_model(model: object, view: str) -> MultiTaskModel:
    if not isinstance(model, MultiTaskModel):
        raise BadValueError(f"{view} shows a MultiTaskModel, got {type(model).__name__}")
    return model


class DetectionView(nn.Module):
    """The detection head of a MultiTaskModel as a detector: clips (B, 3, T, H, W) -> maps
    (B, 5, T, H/2, W/2), with a ``config`` like CenterDetector's (no embedding channels), so
    ``vidbook.train.detection.detection_test`` scores it. The weights are the model's."""

    stride = 2

    def __init__(self, model: MultiTaskModel) -> None:
        super().__init__()
        self.model = _check_model(model, "DetectionView")
        cfg = model.config
        self.config = CenterDetectorConfig(cfg.width, cfg.blocks, cfg.temporal, embedding=0)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model.detect(self.model.features(clips)[1])


class SegmentationView(nn.Module):
    """The segmentation head of a MultiTaskModel as a segmenter: clips (B, 3, T, H, W) -> mask
    logits (B, T, H, W). The weights are the model's."""

    def __init__(self, model: MultiTaskModel) -> None:
        super().__init__()
        self.model = _check_model(model, "SegmentationView")
        self.config = model.config

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model.segment(*self.model.features(clips))
