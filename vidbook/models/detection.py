"""Detection per frame with a video backbone: a CenterNet-style head (Zhou et al., 2019).

Every actor is a point — the centre of its box — plus the box's size. For each frame the head
predicts, on a grid ``stride`` (2) times coarser than the frame:

- a *heatmap* of centres: the probability that an actor's centre falls in each cell, trained
  with a penalty-reduced focal loss against Gaussian bumps around the true centres;
- the box's width and height (in grid cells), and the centre's sub-cell offset, trained with an
  L1 loss at the true centre cells only.

Decoding keeps the cells that are the largest in their 3 x 3 neighbourhood (a max-pool instead of
non-maximum suppression) and reads a box at each. The backbone is (2+1)D, as in R(2+1)D: every
3 x 3 convolution in space is followed by one over 3 frames (``temporal=True``), so a frame's
boxes can use its neighbours (an actor half hidden now was whole a frame ago);
``temporal=False`` drops those and gives the per-frame 2D baseline with the same widths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.checks import check_int
from vidbook.errors import BadValueError
from vidbook.models._checks import check_even_clips
from vidbook.models.video_blocks import ResidualBlock, factorised_conv

HEAT, SIZE, OFFSET, EMBED = slice(0, 1), slice(1, 3), slice(3, 5), slice(5, None)  # channels
_PRIOR = 0.1  # the heatmap starts out saying "an actor here" with probability 0.1


@dataclass
class CenterDetectorConfig:
    """``width`` channels after the stem (twice that after the stride-2 stage), ``blocks``
    residual blocks at stride 2, kernels spanning 3 frames if ``temporal``; ``embedding``
    extra output channels: an appearance vector per cell, for tracking (0: none)."""

    width: int = 24
    blocks: int = 2
    temporal: bool = True
    embedding: int = 0

    def __post_init__(self) -> None:
        check_int("width", self.width, 4)
        check_int("blocks", self.blocks, 0)
        check_int("embedding", self.embedding, 0)
        if not isinstance(self.temporal, bool):
            raise BadValueError(f"temporal must be True or False, got {self.temporal!r}")


class CenterDetector(nn.Module):
    """Clips (B, 3, T, H, W) -> maps (B, 5 + E, T, H/2, W/2): heatmap logit, box width and
    height (grid cells), centre offset (x, y) within its cell, and E = ``config.embedding``
    appearance channels. ``stride`` is 2."""

    stride = 2

    def __init__(self, config: CenterDetectorConfig | None = None) -> None:
        super().__init__()
        cfg = config or CenterDetectorConfig()
        self.config = cfg
        w, temporal = cfg.width, cfg.temporal
        self.backbone = nn.Sequential(
            factorised_conv(3, w, temporal),
            factorised_conv(w, 2 * w, temporal, stride=2),
            *(ResidualBlock(2 * w, temporal) for _ in range(cfg.blocks)),
        )
        self.head = nn.Sequential(
            nn.Conv3d(2 * w, 2 * w, (1, 3, 3), padding=(0, 1, 1)),
            nn.ReLU(inplace=True),
            nn.Conv3d(2 * w, 5 + cfg.embedding, 1),
        )
        with torch.no_grad():  # the focal loss's prior: few cells hold a centre
            self.head[-1].bias.zero_()
            self.head[-1].bias[HEAT] = -math.log((1 - _PRIOR) / _PRIOR)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        check_even_clips(clips, "CenterDetector")
        return self.head(self.backbone(clips))


# --------------------------------------------------------------------------------------------
# Targets, loss and decoding
# --------------------------------------------------------------------------------------------
def _check_boxes(boxes: torch.Tensor, visible: torch.Tensor) -> None:
    if not isinstance(boxes, torch.Tensor) or boxes.ndim != 4 or boxes.shape[-1] != 4:
        got = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise BadValueError(f"boxes must be a tensor (B, A, T, 4), got {got}")
    if not isinstance(visible, torch.Tensor) or visible.shape != boxes.shape[:-1]:
        got = tuple(visible.shape) if isinstance(visible, torch.Tensor) else type(visible).__name__
        raise BadValueError(f"visible must be (B, A, T) = {tuple(boxes.shape[:-1])}, got {got}")
    if ((boxes[..., 2:] < boxes[..., :2]) & visible[..., None]).any():
        raise BadValueError("every visible box needs x2 >= x1 and y2 >= y1")


def center_targets(
    boxes: torch.Tensor, visible: torch.Tensor, grid: tuple[int, int], stride: int = 2
) -> dict[str, torch.Tensor]:
    """Training targets on the output grid (Hs, Ws) from boxes (B, A, T, 4) pixels and
    ``visible`` (B, A, T): ``heat`` (B, T, Hs, Ws) Gaussian bumps (1 at each centre cell),
    ``size`` and ``offset`` (B, A, T, 2) and ``cell`` (B, A, T, 2) long (x, y) of each centre,
    ``mask`` (B, A, T) bool (the actor-frames that count)."""
    _check_boxes(boxes, visible)
    hs, ws = grid
    centre = (boxes[..., :2] + boxes[..., 2:]) / (2 * stride)  # (B, A, T, 2) grid units
    size = (boxes[..., 2:] - boxes[..., :2]) / stride
    cell = centre.floor().long()
    cell[..., 0].clamp_(0, ws - 1)
    cell[..., 1].clamp_(0, hs - 1)
    sigma = (size.min(-1).values / 3).clamp_min(0.5)  # (B, A, T), grid cells
    ys = torch.arange(hs, device=boxes.device, dtype=boxes.dtype).view(1, 1, 1, hs, 1)
    xs = torch.arange(ws, device=boxes.device, dtype=boxes.dtype).view(1, 1, 1, 1, ws)
    cx, cy = cell[..., 0, None, None].to(boxes.dtype), cell[..., 1, None, None].to(boxes.dtype)
    bump = torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma[..., None, None] ** 2))
    heat = (bump * visible[..., None, None]).amax(1)  # (B, T, Hs, Ws)
    return {"heat": heat, "size": size, "offset": centre - cell, "cell": cell, "mask": visible}


def focal_loss(logits: torch.Tensor, heat: torch.Tensor, alpha: float = 2, beta: float = 4
               ) -> torch.Tensor:  # fmt: skip
    """CenterNet's penalty-reduced focal loss of heatmap logits against Gaussian targets (same
    shape), summed and divided by the number of centres (cells where the target is 1)."""
    p = torch.sigmoid(logits.float()).clamp(1e-4, 1 - 1e-4)
    centre = heat >= 1 - 1e-6
    pos = -((1 - p) ** alpha * torch.log(p))[centre].sum()
    neg = -((1 - heat) ** beta * p**alpha * torch.log(1 - p))[~centre].sum()
    return (pos + neg) / centre.sum().clamp_min(1)


def box_giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of matching boxes (..., 4) and (..., 4), (x1, y1, x2, y2): IoU minus the
    share of the smallest enclosing box that neither covers (Rezatofighi et al., 2019)."""
    lo, hi = torch.maximum(a[..., :2], b[..., :2]), torch.minimum(a[..., 2:], b[..., 2:])
    inter = (hi - lo).clamp_min(0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp_min(0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp_min(0).prod(-1)
    union = area_a + area_b - inter
    hull = (torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])).prod(-1)
    return inter / union.clamp_min(1e-6) - (hull - union) / hull.clamp_min(1e-6)


def embedding_loss(embeddings: torch.Tensor, identity: torch.Tensor, temperature: float = 0.1
                   ) -> torch.Tensor:  # fmt: skip
    """Supervised contrastive loss (Khosla et al., 2020) of embeddings (P, E) with identities
    (P,): each one's nearest should be the others of its identity (the same actor on other
    frames), not another actor. Anchors without a partner are skipped; 0 if none has one."""
    unit = F.normalize(embeddings.float(), dim=-1)
    sim = unit @ unit.T / temperature
    self_pair = torch.eye(len(unit), dtype=torch.bool, device=unit.device)
    sim = sim.masked_fill(self_pair, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    partner = (identity[:, None] == identity[None, :]) & ~self_pair
    count = partner.sum(1)
    has = count > 0
    if not has.any():
        return embeddings.sum() * 0
    mean_log = (log_prob.masked_fill(~partner, 0).sum(1)[has]) / count[has]
    return -mean_log.mean()


def detection_loss(output: torch.Tensor, boxes: torch.Tensor, visible: torch.Tensor,
                   size_weight: float = 0.1, giou_weight: float = 1.0,
                   track_id: torch.Tensor | None = None, embed_weight: float = 0.5
                   ) -> torch.Tensor:  # fmt: skip
    """Focal loss on the heatmap, plus at the true centre cells: L1 on offsets, ``size_weight``
    x L1 on sizes and ``giou_weight`` x (1 - GIoU) of the box they make with the true box (IoU
    is what the metric asks of small boxes; L1 alone treats a pixel off a 5-pixel box like a
    pixel off a 50-pixel one). With appearance channels and ``track_id`` (B, A), plus
    ``embed_weight`` x :func:`embedding_loss` of the embeddings at the centres.
    ``output`` (B, 5 + E, T, Hs, Ws) from :class:`CenterDetector`."""
    b, _, t, hs, ws = output.shape
    target = center_targets(boxes, visible, (hs, ws))
    loss = focal_loss(output[:, 0], target["heat"])
    mask = target["mask"]
    if mask.any():
        bi, ai, ti = mask.nonzero(as_tuple=True)
        cell = target["cell"][bi, ai, ti]
        x, y = cell.unbind(-1)
        at = output.float()[bi, :, ti, y, x]  # (P, 5)
        loss = loss + F.l1_loss(at[:, OFFSET], target["offset"][bi, ai, ti])
        loss = loss + size_weight * F.l1_loss(at[:, SIZE], target["size"][bi, ai, ti])
        if giou_weight:
            centre, half = cell + at[:, OFFSET], at[:, SIZE].clamp_min(0) / 2
            guess = torch.cat([centre - half, centre + half], dim=-1)
            truth = boxes[bi, ai, ti].float() / CenterDetector.stride
            loss = loss + giou_weight * (1 - box_giou(guess, truth)).mean()
        if track_id is not None and at.shape[1] > 5 and embed_weight:
            loss = loss + embed_weight * embedding_loss(at[:, EMBED], track_id[bi, ai])
    return loss


def decode(output: torch.Tensor, top: int = 8, threshold: float = 0.05, stride: int = 2
           ) -> list[list[dict[str, torch.Tensor]]]:  # fmt: skip
    """Boxes from maps (B, 5 + E, T, Hs, Ws): for each clip and frame a dict with ``boxes``
    (K, 4) pixels (x1, y1, x2, y2), ``scores`` (K,) and, if E > 0, unit ``embeddings`` (K, E),
    at the ``top`` local maxima of the heatmap above ``threshold``."""
    b, _, t, hs, ws = output.shape
    heat = torch.sigmoid(output[:, 0].float())  # (B, T, Hs, Ws)
    peaks = heat == F.max_pool2d(heat.view(b * t, 1, hs, ws), 3, 1, 1).view_as(heat)
    scores, where = (heat * peaks).view(b, t, -1).topk(min(top, hs * ws), dim=-1)
    y, x = where // ws, where % ws
    maps = output.float().permute(0, 2, 3, 4, 1)  # (B, T, Hs, Ws, 5 + E)
    picked = maps[torch.arange(b)[:, None, None], torch.arange(t)[None, :, None], y, x]
    cx = (x + picked[..., 3]) * stride
    cy = (y + picked[..., 4]) * stride
    w, h = picked[..., 1].clamp_min(0) * stride, picked[..., 2].clamp_min(0) * stride
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
    keep = scores > threshold
    found = []
    for i in range(b):
        frames = []
        for f in range(t):
            kept = keep[i, f]
            frame = {"boxes": boxes[i, f][kept].cpu(), "scores": scores[i, f][kept].cpu()}
            if picked.shape[-1] > 5:
                frame["embeddings"] = F.normalize(picked[i, f][kept][:, EMBED], dim=-1).cpu()
            frames.append(frame)
        found.append(frames)
    return found
