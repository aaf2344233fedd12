"""Video question answering: a clip and a question in, one answer out of a fixed list.

``model(clip, question_ids) -> logits``: clips (B, 3, T, H, W), question token ids (B, Lq) from a
``WordTokenizer`` over ``scene_text.VOCAB``, logits (B, len(ANSWERS)) — answering is
classification over ``vidbook.data.scene_text.ANSWERS``. Several questions about each clip may
come at once, ids (B, Q, Lq) -> logits (B, Q, len(ANSWERS)): the video is then encoded once and
read by all its Q questions (a question that is all padding gives logits nobody should read).

Three parts, as in the VideoQA models of the field (e.g. ClipBERT, Lei et al. 2021, in
miniature):

- video encoder: a small CNN to a coarse space-time grid. The stem — one patch convolution
  (``patch`` x ``patch`` pixels x 3 frames, ``stem="patch"``) or two 3 x 3 x 3 convolutions
  (``stem="conv"``) — gives (T / time_stride, H/patch, W/patch) cells of ``d_model`` channels;
  residual blocks shift some channels by one cell and one frame and mix them per cell with an
  MLP (``ShiftMLP``), so a cell knows what moved near it and when. With position embeddings for
  t, y and x the cells (averaged ``pool`` x ``pool``) become space-time tokens (B, N, d_model).
- question encoder: word embeddings + positions, pre-norm Transformer layers over each question.
- fusion: pre-norm layers in which each question's tokens attend to one another, then to the
  video tokens (cross-attention: queries from the question, keys and values from the video),
  then a feed-forward. The <bos> token's final state goes to a linear answer head.

``single_frame=True`` is the baseline: the encoder sees the middle frame only (and its kernels
span no time), so whatever it gets right needs no motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vidbook.checks import check_int
from vidbook.data.scene_text import ANSWERS, VOCAB
from vidbook.data.tokenizer import WordTokenizer
from vidbook.errors import BadValueError
from vidbook.models._checks import check_clips
from vidbook.models.video_blocks import CELL_CLASSES

MAX_QUESTION_LENGTH = 16  # tokens, <bos> and <eos> included (the templates need at most 13)


def question_tokenizer() -> WordTokenizer:
    """The tokenizer the QA models read: SynthScenes' words, ids 0/1/2 = <pad>/<bos>/<eos>."""
    return WordTokenizer(VOCAB)


@dataclass
class VideoQAConfig:
    """``d_model`` channels everywhere, ``heads`` attention heads; ``patch`` pixels per cell side;
    ``stem`` "patch" or "conv" (``stem_width`` channels after its first convolution);
    ``time_stride`` frames per cell; ``video_blocks`` residual ShiftMLP blocks; ``pool`` cells averaged per side before fusion (1:
    none); ``question_layers`` and ``fusion_layers`` Transformer layers; ``registers`` learned
    extra video tokens a question may attend to when nothing in the clip fits (0: none);
    ``single_frame``: the encoder sees the middle frame only. ``frames``, ``height``, ``width``:
    the clip size the position embeddings are made for."""

    d_model: int = 64
    heads: int = 4
    patch: int = 4
    stem: str = "patch"
    stem_width: int = 32
    time_stride: int = 2
    video_blocks: int = 1
    pool: int = 1
    question_layers: int = 1
    fusion_layers: int = 2
    registers: int = 1
    single_frame: bool = False
    frames: int = 16
    height: int = 32
    width: int = 32

    def __post_init__(self) -> None:
        check_int("d_model", self.d_model, 8)
        check_int("heads", self.heads)
        if self.d_model % self.heads:
            raise BadValueError(
                f"d_model must be a multiple of heads, got d_model={self.d_model}, "
                f"heads={self.heads}"
            )
        for name, least in (("patch", 1), ("time_stride", 1), ("video_blocks", 0), ("pool", 1),
                            ("question_layers", 0), ("fusion_layers", 1), ("registers", 0),
                            ("frames", 1), ("height", 1), ("width", 1)):  # fmt: skip
            check_int(name, getattr(self, name), least)
        if self.stem not in ("patch", "conv"):
            raise BadValueError(f"stem must be 'patch' or 'conv', got {self.stem!r}")
        if self.stem == "conv" and self.patch not in (2, 4, 6, 8):
            raise BadValueError(f"the conv stem needs an even patch of 2 to 8, got {self.patch}")
        check_int("stem_width", self.stem_width)
        if not isinstance(self.single_frame, bool):
            raise BadValueError(f"single_frame must be True or False, got {self.single_frame!r}")
        cell = self.patch * self.pool
        if self.height % cell or self.width % cell:
            raise BadValueError(
                f"height and width must be multiples of patch * pool = {cell}, got "
                f"{self.height} x {self.width}"
            )


class ShiftMLP(nn.Module):
    """x + MLP(LN(shift(x))) on channels-last cells (B, T, h, w, C). The shift moves an eighth of
    the channels one frame forward, one back, and one cell up, down, left and right (TSM, Lin et
    al. 2019, in space and time): a cell's MLP then mixes what its neighbours and the frames
    around it saw, at the cost of a copy. ``temporal=False`` shifts in space only."""

    def __init__(self, channels: int, temporal: bool) -> None:
        super().__init__()
        self.temporal = temporal
        self.norm = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels)
        )

    def shift(self, x: torch.Tensor) -> torch.Tensor:
        g = x.shape[-1] // 8
        out = x.clone()
        moves = [(2, 1), (2, -1), (3, 1), (3, -1)] + ([(1, 1), (1, -1)] if self.temporal else [])
        for i, (dim, step) in enumerate(moves):
            part = slice(i * g, (i + 1) * g)
            n = x.shape[dim]
            src = x[..., part].narrow(dim, 0 if step > 0 else 1, n - 1)
            dst = out[..., part]
            dst.narrow(dim, 1 if step > 0 else 0, n - 1).copy_(src)
            dst.narrow(dim, 0 if step > 0 else n - 1, 1).zero_()
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm(self.shift(x)))


class QAVideoEncoder(nn.Module):
    """Clips (B, 3, T, H, W) -> space-time tokens (B, T' h w, d_model) with positions added;
    T' = T / time_stride, or 1 for the single-frame encoder."""

    def __init__(self, cfg: VideoQAConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, p = cfg.d_model, cfg.patch
        kt, st = (1, 1) if cfg.single_frame else (3, cfg.time_stride)
        if cfg.stem == "patch":  # one linear map of each patch x patch x 3-frame block
            self.stem = nn.Sequential(
                nn.Conv3d(3, d, (kt, p, p), stride=(st, p, p), padding=(kt // 2, 0, 0)),
                nn.BatchNorm3d(d),
                nn.GELU(),
            )
        else:  # "conv": two 3 x 3 x 3 convolutions (stride 2 in space, then in space and time)
            w = cfg.stem_width
            self.stem = nn.Sequential(
                nn.Conv3d(3, w, (kt, 3, 3), stride=(1, 2, 2), padding=(kt // 2, 1, 1), bias=False),
                nn.BatchNorm3d(w),
                nn.ReLU(inplace=True),
                nn.Conv3d(w, d, (kt, 3, 3), stride=(st, p // 2, p // 2), padding=(kt // 2, 1, 1),
                          bias=False),
                nn.BatchNorm3d(d),
                nn.ReLU(inplace=True),
            )  # fmt: skip
        temporal = not cfg.single_frame
        self.blocks = nn.Sequential(*(ShiftMLP(d, temporal) for _ in range(cfg.video_blocks)))
        self.pool = nn.AvgPool3d((1, cfg.pool, cfg.pool)) if cfg.pool > 1 else nn.Identity()
        cell = p * cfg.pool
        frames = 1 if cfg.single_frame else -(-cfg.frames // st)
        self.pos_t = nn.Parameter(torch.randn(frames, 1, 1, d) * 0.02)
        self.pos_y = nn.Parameter(torch.randn(1, cfg.height // cell, 1, d) * 0.02)
        self.pos_x = nn.Parameter(torch.randn(1, 1, cfg.width // cell, d) * 0.02)
        self.norm = nn.LayerNorm(d)

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens (B, N, d), cells (B, T', H/patch, W/patch, d): the features before pooling)."""
        if self.cfg.single_frame:
            middle = clip.shape[2] // 2
            clip = clip[:, :, middle : middle + 1]  # (B, 3, 1, H, W): one frame, no motion
        cells = self.blocks(self.stem(clip).permute(0, 2, 3, 4, 1))  # (B, T', h, w, d)
        x = cells
        if self.cfg.pool > 1:
            x = self.pool(x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
        x = x + self.pos_t + self.pos_y + self.pos_x
        return self.norm(x.flatten(1, 3)), cells


class FusionLayer(nn.Module):
    """Pre-norm: each question's tokens (B, Q, L, d) attend to one another (``pad`` (B, Q, L),
    True = padding), then to the video tokens (B, N, d), then a feed-forward."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.self_attn = nn.MultiheadAttention(d_model, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d_model, heads, batch_first=True)
        self.ff = nn.Sequential(
            nn.Linear(d_model, 2 * d_model), nn.GELU(), nn.Linear(2 * d_model, d_model)
        )

    def forward(self, x: torch.Tensor, video: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        b, q, n, d = x.shape
        y = self.norm1(x).reshape(b * q, n, d)
        mask = pad.reshape(b * q, n)
        x = x + self.self_attn(y, y, y, key_padding_mask=mask, need_weights=False)[0].view_as(x)
        # Cross-attention reads each query token on its own: all Q questions of a clip share one
        # call (and one key/value projection of its video tokens).
        y = self.norm2(x).reshape(b, q * n, d)
        x = x + self.cross_attn(y, video, video, need_weights=False)[0].view_as(x)
        return x + self.ff(self.norm3(x))


class VideoQAModel(nn.Module):
    """``model(clip (B, 3, T, H, W), question_ids (B, Lq) or (B, Q, Lq)) -> logits (B, A) or
    (B, Q, A)``, A = len(ANSWERS). Ids come from :func:`question_tokenizer`; row ``i`` of the
    questions is about clip ``i``."""

    def __init__(self, config: VideoQAConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or VideoQAConfig()
        d = cfg.d_model
        self.vocab_size = len(question_tokenizer())
        self.video = QAVideoEncoder(cfg)
        self.registers = nn.Parameter(torch.randn(1, cfg.registers, d) * 0.02)
        self.embed = nn.Embedding(self.vocab_size, d, padding_idx=0)
        self.pos_q = nn.Parameter(torch.randn(MAX_QUESTION_LENGTH, d) * 0.02)
        self.question = nn.ModuleList(
            nn.TransformerEncoderLayer(d, cfg.heads, 2 * d, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(cfg.question_layers)
        )  # fmt: skip
        self.fusion = nn.ModuleList(FusionLayer(d, cfg.heads) for _ in range(cfg.fusion_layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, len(ANSWERS))
        self.cell_head = nn.Linear(d, sum(CELL_CLASSES))

    def _check(self, clip: torch.Tensor, question_ids: torch.Tensor) -> None:
        check_clips(clip, 3, "VideoQAModel")
        cfg = self.config
        if tuple(clip.shape[2:]) != (cfg.frames, cfg.height, cfg.width):
            raise BadValueError(
                f"VideoQAModel was made for clips of {cfg.frames} x {cfg.height} x {cfg.width} "
                f"(T x H x W), got {tuple(clip.shape[2:])}"
            )
        ids = question_ids
        if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.is_complex():
            raise BadValueError(
                "question_ids must be an integer tensor (B, Lq) or (B, Q, Lq) of token ids, got "
                + (f"dtype {ids.dtype}" if isinstance(ids, torch.Tensor) else type(ids).__name__)
            )
        if ids.ndim not in (2, 3) or ids.shape[0] != clip.shape[0] or ids.shape[-1] < 1:
            raise BadValueError(
                f"question_ids must be (B, Lq) or (B, Q, Lq) with B = {clip.shape[0]} clips, "
                f"got shape {tuple(ids.shape)}"
            )
        if ids.shape[-1] > MAX_QUESTION_LENGTH:
            raise BadValueError(
                f"questions may be at most {MAX_QUESTION_LENGTH} tokens long, got {ids.shape[-1]}"
            )
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise BadValueError(
                f"question_ids must lie in [0, {self.vocab_size}) (question_tokenizer()), got "
                f"values in [{int(ids.min())}, {int(ids.max())}]"
            )

    def forward(
        self, clip: torch.Tensor, question_ids: torch.Tensor, cells: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, A) or (B, Q, A); with ``cells``, also the cell logits (B, T', h, w,
        sum(CELL_CLASSES)) that an auxiliary loss may train (what is where, and moving)."""
        self._check(clip, question_ids)
        one = question_ids.ndim == 2
        ids = question_ids[:, None] if one else question_ids  # (B, Q, L)
        b, q, n = ids.shape
        video, features = self.video(clip)  # (B, N, d), (B, T', h, w, d)
        video = torch.cat([video, self.registers.expand(b, -1, -1)], dim=1)
        pad = ids == 0
        pad[..., 0] = False  # never an all-masked row (an all-padding question reads <pad>)
        x = self.embed(ids) + self.pos_q[:n]  # (B, Q, L, d)
        for layer in self.question:
            x = layer(x.flatten(0, 1), src_key_padding_mask=pad.flatten(0, 1)).view_as(x)
        for layer in self.fusion:
            x = layer(x, video, pad)
        logits = self.head(self.norm(x[:, :, 0]))  # (B, Q, A): from each question's first token
        logits = logits[:, 0] if one else logits
        return (logits, self.cell_head(features)) if cells else logits


def video_qa(**config) -> VideoQAModel:
    """A VideoQA model from VideoQAConfig fields (BadValueError for an unknown field)."""
    fields = set(VideoQAConfig.__dataclass_fields__)
    unknown = sorted(set(config) - fields)
    if unknown:
        raise BadValueError(f"unknown VideoQAConfig field(s) {unknown}; known: {sorted(fields)}")
    return VideoQAModel(VideoQAConfig(**config))
