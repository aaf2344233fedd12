"""Video-text retrieval with two towers, trained like CLIP (Radford et al., 2021).

A *video tower* maps a clip to a unit vector, a *text tower* maps a caption to a unit vector in
the same space, and a clip and its caption should point the same way. Training pulls the true
pairs of a batch together and pushes the B² - B false ones apart with the symmetric InfoNCE
loss: the cosine similarities times a learned scale (the inverse temperature) are logits, and
each video must pick its caption among the batch's captions, and each caption its video.

The captions of SynthScenes name up to four actors by colour, shape and motion, so an embedding
must *bind* each colour to its shape and motion ("a red square moves left while a blue cross
grows" is not "a blue square moves left while a red cross grows"). The video tower is built for
that: a per-frame CNN turns each frame into a grid of tokens; ``queries`` learned queries attend
over each frame's tokens (the same queries in every frame, so each can follow one actor through
the clip: colours are unique within a clip, so "the red one" is a query that works); an MLP
reads every query's frames in order, so that where, how big and how turned an actor is from
frame to frame becomes what it does; the queries' summaries are concatenated and projected to
the embedding.
The text tower is a small transformer over the caption's words, pooled by learned queries too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.checks import check_int
from vidbook.errors import BadValueError
from vidbook.models._checks import check_clips

# Channel mean and std of SynthScenes clips (measured on 256 train clips), for standardising.
_INPUT_MEAN, _INPUT_STD = (0.32, 0.32, 0.31), (0.16, 0.15, 0.15)


@dataclass
class RetrievalConfig:
    """Both towers. ``vocab_size`` and ``max_len`` (ids per caption, <bos>/<eos> included) for
    the text; ``dim`` the shared embedding size; ``width`` CNN channels (doubled after the
    second stride-2 convolution) and ``frame_stride`` (read every k-th frame) for the video;
    ``model_dim``, ``heads`` and ``text_layers`` for the attention and the text transformer;
    ``queries`` pooling queries per tower; ``temperature`` the starting temperature
    (scale = 1 / temperature), ``max_scale`` the scale's clamp (CLIP's 100)."""

    vocab_size: int
    max_len: int = 48
    dim: int = 128
    width: int = 32
    frame_stride: int = 2
    model_dim: int = 64
    heads: int = 4
    text_layers: int = 2
    queries: int = 8
    temperature: float = 0.07
    max_scale: float = 100.0

    def __post_init__(self) -> None:
        check_int("vocab_size", self.vocab_size, 4)
        for name, least in (("max_len", 3), ("dim", 1), ("width", 4), ("frame_stride", 1),
                            ("model_dim", 4), ("heads", 1),
                            ("text_layers", 0), ("queries", 1)):  # fmt: skip
            check_int(name, getattr(self, name), least)
        if self.model_dim % self.heads:
            raise BadValueError(
                f"model_dim ({self.model_dim}) must be divisible by heads ({self.heads})"
            )
        if not (isinstance(self.temperature, (int, float)) and 0 < self.temperature <= 1):
            raise BadValueError(f"temperature must be in (0, 1], got {self.temperature!r}")
        if not (
            isinstance(self.max_scale, (int, float)) and self.max_scale >= 1 / self.temperature
        ):
            raise BadValueError(
                f"max_scale must be at least 1 / temperature = {1 / self.temperature:g}, "
                f"got {self.max_scale!r}"
            )


def _block(dim: int, heads: int) -> nn.TransformerEncoderLayer:
    """A pre-norm transformer layer (GELU, MLP 4 x dim, no dropout), tokens (B, L, dim)."""
    return nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu",
                                      batch_first=True, norm_first=True)  # fmt: skip


class QueryPool(nn.Module):
    """``queries`` learned queries attend over tokens (N, L, dim) -> (N, queries, dim); keys
    flagged True in ``padding`` (N, L) are ignored."""

    def __init__(self, dim: int, heads: int, queries: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, queries, dim) * 0.02)
        self.norm = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        keys = self.norm(tokens)
        query = self.query.expand(len(tokens), -1, -1)
        return self.attention(query, keys, keys, key_padding_mask=padding, need_weights=False)[0]


class SlotPool(nn.Module):
    """``queries`` learned queries pick tokens by their keys and average their values, per head:
    keys, values (N, L, dim) -> (N, queries, dim). No projections (the tokens' producer makes
    keys and values), so it costs little on many tokens."""

    def __init__(self, dim: int, heads: int, queries: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Parameter(torch.randn(queries, heads, dim // heads) * dim**-0.5)

    def forward(self, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        n, length, dim = keys.shape
        k = keys.view(n, length, self.heads, -1)
        v = values.view(n, length, self.heads, -1)
        weights = torch.einsum("nlhc,qhc->nqhl", k, self.query).softmax(dim=-1)
        return torch.einsum("nqhl,nlhc->nqhc", weights, v).reshape(n, -1, dim)


class VideoTower(nn.Module):
    """Clips (B, 3, T, H, W) in [0, 1] -> unit vectors (B, dim); H and W divisible by 4.

    Frame CNN on every ``frame_stride``-th frame (T' of them; two stride-2 stages, channels
    last): keys and values (B T', H/4 W/4, model_dim) with learned positions; per frame the
    ``queries`` queries pool the grid (:class:`SlotPool`) -> (B, T', Q, model_dim); per query,
    its T' frames (where the actor is, how big, which way it points) flattened -> MLP ->
    (B, Q, model_dim), what the actor did; concatenated (B, Q model_dim) -> linear -> (B, dim).
    """

    def __init__(self, cfg: RetrievalConfig, frames: int = 16, size: tuple[int, int] = (32, 32)
                 ) -> None:  # fmt: skip
        super().__init__()
        self.cfg, w, d = cfg, cfg.width, cfg.model_dim
        self.frames, self.size = frames, tuple(size)
        if size[0] % 4 or size[1] % 4:
            raise BadValueError(f"VideoTower needs frame sizes divisible by 4, got {tuple(size)}")
        self.register_buffer("mean", torch.tensor(_INPUT_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(_INPUT_STD).view(1, 3, 1, 1), False)

        def conv(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True)]  # fmt: skip

        self.cnn = nn.Sequential(
            *conv(3, w, 2), *conv(w, 2 * w, 2), *conv(2 * w, 2 * w, 1), nn.Conv2d(2 * w, 2 * d, 1)
        ).to(memory_format=torch.channels_last)
        self.steps = len(range(0, frames, cfg.frame_stride))  # T'
        cells = (size[0] // 4) * (size[1] // 4)
        self.place = nn.Parameter(torch.randn(1, cells, 2 * d) * 0.02)
        self.pool = SlotPool(d, cfg.heads, cfg.queries)
        self.track = nn.Sequential(
            nn.LayerNorm(self.steps * d), nn.Linear(self.steps * d, 4 * d), nn.GELU(),
            nn.Linear(4 * d, d), nn.LayerNorm(d),
        )  # fmt: skip
        self.project = nn.Linear(cfg.queries * d, cfg.dim)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        check_clips(clips, 3, "VideoTower")
        if tuple(clips.shape[2:]) != (self.frames, *self.size):
            raise BadValueError(
                f"VideoTower was built for clips (B, 3, {self.frames}, {self.size[0]}, "
                f"{self.size[1]}), got {tuple(clips.shape)}"
            )
        frames = clips[:, :, :: self.cfg.frame_stride]  # (B, 3, T', H, W)
        b, _, t, h, w = frames.shape
        x = frames.transpose(1, 2).reshape(b * t, 3, h, w)
        x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        x = self.cnn(x).flatten(2).transpose(1, 2) + self.place  # (B T', N, 2 d)
        keys, values = x.chunk(2, dim=-1)
        slots = self.pool(keys.contiguous(), values.contiguous())  # (B T', Q, d)
        q, d = slots.shape[1], slots.shape[2]
        tracks = slots.view(b, t, q, d).transpose(1, 2).reshape(b, q, t * d)
        return F.normalize(self.project(self.track(tracks).flatten(1)).float(), dim=-1)


class TextTower(nn.Module):
    """Caption ids (B, L) (0 = padding, L <= max_len) -> unit vectors (B, dim): embeddings +
    positions, ``text_layers`` transformer layers, ``queries`` pooling queries, concatenated and
    projected."""

    def __init__(self, cfg: RetrievalConfig) -> None:
        super().__init__()
        self.cfg, d = cfg, cfg.model_dim
        self.embed = nn.Embedding(cfg.vocab_size, d, padding_idx=0)
        self.position = nn.Parameter(torch.randn(1, cfg.max_len, d) * 0.02)
        self.layers = nn.ModuleList(_block(d, cfg.heads) for _ in range(cfg.text_layers))
        self.pool = QueryPool(d, cfg.heads, cfg.queries)
        self.project = nn.Linear(cfg.queries * d, cfg.dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_ids(ids, self.cfg.vocab_size, self.cfg.max_len)
        padding = ids == 0  # (B, L), True = padding
        with torch.autocast("cpu", enabled=False):  # on a CPU, bf16 only slows small attention
            x = self.embed(ids) + self.position[:, : ids.shape[1]]
            for layer in self.layers:
                x = layer(x, src_key_padding_mask=padding)
            pooled = self.pool(x, padding)  # (B, Q, d)
            return F.normalize(self.project(pooled.flatten(1)).float(), dim=-1)


def check_ids(ids: object, vocab_size: int, max_len: int) -> None:
    """BadValueError unless ``ids`` is an integer (B, L) tensor, L <= max_len, ids in the
    vocabulary, and every row has a word (a non-zero id)."""
    if not isinstance(ids, torch.Tensor) or ids.ndim != 2 or ids.is_floating_point():
        got = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise BadValueError(f"caption ids must be an integer tensor (B, L), got {got}")
    if ids.shape[1] > max_len or not ids.numel():
        raise BadValueError(
            f"caption ids need 1 <= L <= max_len = {max_len}, got {tuple(ids.shape)}"
        )
    if int(ids.min()) < 0 or int(ids.max()) >= vocab_size:
        raise BadValueError(
            f"caption ids must lie in 0..{vocab_size - 1}, got {int(ids.min())}..{int(ids.max())}"
        )
    if bool((ids == 0).all(dim=1).any()):
        raise BadValueError("every caption needs at least one id other than padding (0)")


class RetrievalModel(nn.Module):
    """``model(clips, ids) -> (video (B, dim), text (B, dim), scale ())``: both towers' unit
    vectors and the clamped logit scale, what :func:`info_nce` takes. ``similarity(v, t)``
    gives the (texts, videos) matrix that ``vidbook.eval.retrieval_metrics`` reads."""

    def __init__(self, cfg: RetrievalConfig, frames: int = 16, size: tuple[int, int] = (32, 32)
                 ) -> None:  # fmt: skip
        super().__init__()
        self.config = cfg
        self.video = VideoTower(cfg, frames, size)
        self.text = TextTower(cfg)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.temperature)))

    def scale(self) -> torch.Tensor:
        """exp(log_scale), clamped to ``max_scale`` (CLIP clamps at 100)."""
        return self.log_scale.clamp(max=math.log(self.config.max_scale)).exp()

    def forward(self, clips: torch.Tensor, ids: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        video, text = self.video(clips), self.text(ids)
        if len(video) != len(text):
            raise BadValueError(f"{len(video)} clips but {len(text)} captions")
        return video, text, self.scale()

    @staticmethod
    def similarity(video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Cosine similarities (N texts, N videos) of unit vectors: row i = text i."""
        return text @ video.T


def info_nce(video: torch.Tensor, text: torch.Tensor, scale: torch.Tensor | float
             ) -> torch.Tensor:  # fmt: skip
    """Symmetric InfoNCE of B matching pairs: video (B, D), text (B, D) (unit vectors; pair i is
    row i of both), ``scale`` > 0 the inverse temperature. Logits ``scale * video @ text.T``
    (B, B); the mean of the cross-entropy of each video over the texts (its own is the right
    class) and of each text over the videos. Returns a scalar."""
    for name, x in (("video", video), ("text", text)):
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise BadValueError(f"info_nce: {name} must be a float tensor (B, D), got {got}")
    if video.shape != text.shape:
        raise BadValueError(
            f"info_nce: video and text must have the same shape (B, D), got "
            f"{tuple(video.shape)} and {tuple(text.shape)}"
        )
    scale = torch.as_tensor(scale, dtype=video.dtype, device=video.device)
    if scale.numel() != 1 or not bool(scale > 0) or not bool(torch.isfinite(scale)):
        raise BadValueError(f"info_nce: scale must be one finite number > 0, got {scale}")
    logits = scale * video @ text.T  # (B, B): row i = video i against every text
    log_p_text = logits.log_softmax(dim=1).diagonal()  # video i picks text i
    log_p_video = logits.log_softmax(dim=0).diagonal()  # text i picks video i
    return -(log_p_text.mean() + log_p_video.mean()) / 2
