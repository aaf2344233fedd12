"""A small video-language model: video tokens as a prefix to a decoder-only language model.

The pattern of LLaVA and Video-ChatGPT at a small size. A (frozen) video encoder turns a clip
into a grid of feature vectors (B, T', H', W', D_v); a **projector** pools them to a few tokens
and maps each into the language model's embedding space with a two-layer MLP (LLaVA-1.5's
projector); the **language model** — pre-norm Transformer blocks with a causal mask, learned
positions, and an output layer tied to the word embeddings — reads the video tokens and then the
text, and predicts each next word. Pooling follows one of two designs:

- ``"pooled"`` (Video-ChatGPT): the mean over time of every place (H' W' tokens) and the mean over
  space of every time step (T' tokens);
- ``"frames"``: every time step's H' x W' grid average-pooled to ``tokens_per_frame`` tokens
  (a square number), T' x tokens_per_frame tokens: a token budget per frame.

Shapes: video features (B, T', H', W', D_v); text ids (B, L); logits (B, L, vocab).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.errors import BadValueError
from vidbook.models.attention import EncoderBlock

PROJECTIONS = ("pooled", "frames")


@dataclass(frozen=True)
class VLMConfig:
    """The language model (``dim``, ``depth``, ``heads``, ``max_text`` text positions) over a
    ``vocab_size`` vocabulary, and the projector from ``video_dim`` features on a
    ``video_grid`` (T', H', W')."""

    vocab_size: int
    video_dim: int
    video_grid: tuple[int, int, int]
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 4
    max_text: int = 48
    projection: str = "pooled"
    tokens_per_frame: int = 4

    def __post_init__(self) -> None:
        if self.projection not in PROJECTIONS:
            raise BadValueError(f"projection must be one of {PROJECTIONS}, got {self.projection!r}")
        side = math.isqrt(self.tokens_per_frame)
        _, rows, cols = self.video_grid
        if side * side != self.tokens_per_frame or side < 1 or side > min(rows, cols):
            raise BadValueError(
                f"tokens_per_frame must be a square number of at most {min(rows, cols) ** 2} "
                f"for a {rows} x {cols} grid, got {self.tokens_per_frame}"
            )

    @property
    def video_tokens(self) -> int:
        """How many tokens the projector gives the language model per clip."""
        slices, rows, cols = self.video_grid
        if self.projection == "pooled":
            return slices + rows * cols
        return slices * self.tokens_per_frame


def pool_video(features: torch.Tensor, projection: str, tokens_per_frame: int = 4) -> torch.Tensor:
    """Video features (B, T', H', W', D) -> tokens (B, M, D) by ``projection`` (see module)."""
    b, t, h, w, d = features.shape
    if projection == "pooled":
        over_space = features.mean(dim=(2, 3))  # (B, T', D): what happens when
        over_time = features.mean(dim=1).reshape(b, h * w, d)  # (B, H'W', D): what is where
        return torch.cat([over_space, over_time], dim=1)
    side = math.isqrt(tokens_per_frame)
    grid = features.reshape(b * t, h, w, d).permute(0, 3, 1, 2)  # (B T', D, H', W')
    pooled = F.adaptive_avg_pool2d(grid, side)  # (B T', D, side, side)
    return pooled.flatten(2).transpose(1, 2).reshape(b, t * tokens_per_frame, d)


class Projector(nn.Module):
    """Pooling, then Linear -> GELU -> Linear into the language model's width, plus a learned
    position per video token: (B, T', H', W', D_v) -> (B, M, dim)."""

    def __init__(self, cfg: VLMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mlp = nn.Sequential(
            nn.Linear(cfg.video_dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, cfg.dim)
        )
        self.position = nn.Parameter(torch.zeros(1, cfg.video_tokens, cfg.dim))
        nn.init.trunc_normal_(self.position, std=0.02)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        expected = (*self.cfg.video_grid, self.cfg.video_dim)
        if features.ndim != 5 or tuple(features.shape[1:]) != expected:
            raise BadValueError(f"video features: expected (B, {', '.join(map(str, expected))}), "
                                f"got {tuple(features.shape)}")  # fmt: skip
        tokens = pool_video(features, self.cfg.projection, self.cfg.tokens_per_frame)
        return self.mlp(tokens) + self.position


class VideoLanguageModel(nn.Module):
    """``forward(features, text)``: logits (B, L, vocab) for each text position (the logits at
    position i predict word i + 1). The video tokens come first and every position sees only
    what precedes it."""

    def __init__(self, cfg: VLMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.projector = Projector(cfg)
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.text_position = nn.Parameter(torch.zeros(1, cfg.max_text, cfg.dim))
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.trunc_normal_(self.text_position, std=0.02)
        self.blocks = nn.ModuleList(
            EncoderBlock(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, features: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.hidden(features, text) @ self.embed.weight.T  # tied output layer

    def hidden(self, features: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """The last block's normalised states at the text positions: (B, L, dim)."""
        if text.ndim != 2 or text.shape[1] > self.cfg.max_text:
            raise BadValueError(f"text: expected ids (B, L) with L <= {self.cfg.max_text}, got "
                                f"{tuple(text.shape)}")  # fmt: skip
        prefix = self.projector(features)  # (B, M, dim)
        words = self.embed(text) + self.text_position[:, : text.shape[1]]
        x = torch.cat([prefix, words], dim=1)
        for block in self.blocks:
            x = block(x, causal=True)
        return self.norm(x[:, prefix.shape[1] :])

    @torch.no_grad()
    def generate(
        self, features: torch.Tensor, prompt: torch.Tensor, max_new: int, stop: int
    ) -> torch.Tensor:
        """Greedy decoding: the ids that follow ``prompt`` (B, P), up to ``max_new`` of them,
        each sequence padded with ``stop`` once it has produced it: (B, max_new)."""
        text, done = prompt, torch.zeros(len(prompt), dtype=torch.bool, device=prompt.device)
        out = []
        for _ in range(max_new):
            if text.shape[1] >= self.cfg.max_text:
                break
            nxt = self(features, text)[:, -1].argmax(dim=-1)
            nxt = torch.where(done, torch.full_like(nxt, stop), nxt)
            done |= nxt == stop
            out.append(nxt)
            text = torch.cat([text, nxt[:, None]], dim=1)
            if bool(done.all()):
                break
        return torch.stack(out, dim=1) if out else prompt.new_zeros(len(prompt), 0)


class VideoQuestionClassifier(VideoLanguageModel):
    """Chapter 7's video QA on the same body: the state at the prompt's last word (the "?",
    which sees the video and the whole question through the causal mask) -> one of
    ``num_answers`` answer classes. ``forward(features, text, prompt_length)``: (B, num_answers)."""

    def __init__(self, cfg: VLMConfig, num_answers: int) -> None:
        super().__init__(cfg)
        self.answer_head = nn.Linear(cfg.dim, num_answers)

    def forward(  # type: ignore[override]
        self, features: torch.Tensor, text: torch.Tensor, prompt_length: torch.Tensor
    ) -> torch.Tensor:
        states = self.hidden(features, text)  # (B, L, dim)
        last = states[torch.arange(len(text), device=text.device), prompt_length - 1]
        return self.answer_head(last)
