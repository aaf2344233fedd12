"""Video captioning: a (2+1)D video encoder and a causal transformer decoder that writes words.

The encoder turns a clip (B, 3, T, H, W) into a coarse space-time grid of features, one *video
token* per cell (B, S, d), with learned position embeddings for time, row and column. The
decoder (``vidbook.scratch.transformer.TransformerDecoderLayer``) reads the words written so far
(causal self-attention) and looks at the video tokens (cross-attention) to score the next word.

One model writes both languages: a caption starts with a *language token* (``<en>`` or ``<zh>``)
in place of <bos>, so the same decoder says "a red square moves left" or "红色正方形向左移动。"::

    model = Captioner(CaptionerConfig())
    logits = model(clip, tokens_in)             # teacher forcing: (B, L, V)
    words = model.greedy_decode(clip, "en")     # [["a", "red", "square", "moves", "left"], ...]
    words = model.beam_decode(clip, "zh", k=3)

``single_frame=True`` gives the baseline with the same decoder whose encoder sees the middle
frame only: it can tell colours and shapes but not which way anything moves.
The decoding (greedy and beam search) works on any memory, so the translator
(``vidbook.models.translator``) reuses the decoder and the searches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.checks import check_int
from vidbook.data.scene_text import LANGUAGES, VOCAB
from vidbook.data.tokenizer import WordTokenizer
from vidbook.errors import BadValueError
from vidbook.models._checks import check_clips
from vidbook.models.video_blocks import CELL_CLASSES
from vidbook.scratch.transformer import TransformerDecoderLayer

LANG_TOKENS = {lang: f"<{lang}>" for lang in LANGUAGES}  # the first token of a caption
TOKENIZER = WordTokenizer((*VOCAB, *LANG_TOKENS.values()))  # ids 0/1/2: <pad> <bos> <eos>
PAD, EOS = TOKENIZER.pad_id, TOKENIZER.eos_id
MAX_CAPTION = 40  # tokens, the language token and <eos> included


def _check_lang(lang: str) -> int:
    if lang not in LANG_TOKENS:
        raise BadValueError(f"lang must be one of {LANGUAGES}, got {lang!r}")
    return TOKENIZER.ids[LANG_TOKENS[lang]]


def caption_ids(
    captions: Sequence[Sequence[str]], lang: str, length: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forcing pairs of token lists: ``tokens_in`` (B, length - 1) = <lang> w1 .. wn
    and ``targets`` (B, length - 1) = w1 .. wn <eos>, both padded with <pad> (0); ``length``
    counts <lang> and <eos> (default: the longest caption's, at most MAX_CAPTION)."""
    first = _check_lang(lang)
    if not captions:
        raise BadValueError("caption_ids needs at least one caption, got none")
    if length is None:
        length = max(len(words) for words in captions) + 2
    check_int("length", length, 2)
    if length > MAX_CAPTION:
        raise BadValueError(f"length must be at most MAX_CAPTION={MAX_CAPTION}, got {length}")
    rows = []
    for words in captions:
        if isinstance(words, str):
            raise BadValueError(f"a caption must be a list of tokens, got the string {words!r}")
        ids = TOKENIZER.encode(words, specials=False).tolist()
        if len(ids) + 2 > length:
            raise BadValueError(
                f"a caption of {len(ids)} tokens does not fit length {length} (with <lang>, <eos>)"
            )
        rows.append([first, *ids, EOS] + [PAD] * (length - len(ids) - 2))
    ids = torch.tensor(rows, dtype=torch.long)
    return ids[:, :-1], ids[:, 1:]


def words_of(ids: torch.Tensor) -> list[list[str]]:
    """Token lists of generated ids (B, L): up to the first <eos>, language tokens dropped."""
    drop = set(LANG_TOKENS.values())
    return [[w for w in TOKENIZER.decode(row) if w not in drop] for row in ids]


# --------------------------------------------------------------------------------------------
# The decoder and its searches (shared with the translator)
# --------------------------------------------------------------------------------------------
class CaptionDecoder(nn.Module):
    """Causal transformer decoder: tokens (B, L) and memory (B, S, d) -> logits (B, L, V).

    Token embedding + learned positions, ``layers`` pre-norm decoder layers (causal
    self-attention, cross-attention to the memory, feed-forward), a final LayerNorm and a
    linear layer to the vocabulary whose weights are the embedding's (tied)."""

    def __init__(self, vocab_size: int, d_model: int, heads: int, layers: int,
                 max_len: int = MAX_CAPTION) -> None:  # fmt: skip
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.position = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        self.layers = nn.ModuleList(
            TransformerDecoderLayer(d_model, heads, 4 * d_model) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.max_len = max_len

    def forward(self, tokens: torch.Tensor, memory: torch.Tensor,
                memory_padding: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """tokens (B, L) ids, memory (B, S, d), memory_padding (B, S) True = ignore."""
        if tokens.ndim != 2 or tokens.shape[1] > self.max_len:
            raise BadValueError(
                f"tokens must be (B, L) ids with L <= {self.max_len}, got {tuple(tokens.shape)}"
            )
        if memory.ndim != 3 or memory.shape[0] != tokens.shape[0]:
            raise BadValueError(
                f"memory must be (B={tokens.shape[0]}, S, d), got {tuple(memory.shape)}"
            )
        x = self.embed(tokens) + self.position[: tokens.shape[1]]
        for layer in self.layers:
            x = layer(x, memory, memory_key_padding_mask=memory_padding, tgt_is_causal=True)
        return self.norm(x) @ self.embed.weight.T  # (B, L, V)


def greedy_search(decoder: CaptionDecoder, memory: torch.Tensor, first: torch.Tensor,
                  max_len: int, memory_padding: torch.Tensor | None = None
                  ) -> torch.Tensor:  # fmt: skip
    """Ids (B, <= max_len) that take the most likely next token at each step, starting from
    ``first`` (B,); every row ends at <eos> (then <pad>) or at ``max_len``."""
    ids = first[:, None]
    done = torch.zeros(len(first), dtype=torch.bool, device=first.device)
    for _ in range(max_len - 1):
        nxt = decoder(ids, memory, memory_padding)[:, -1].argmax(-1)
        nxt = nxt.masked_fill(done, PAD)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        done |= nxt == EOS
        if done.all():
            break
    return ids


def beam_search(decoder: CaptionDecoder, memory: torch.Tensor, first: torch.Tensor, k: int,
                max_len: int, memory_padding: torch.Tensor | None = None
                ) -> torch.Tensor:  # fmt: skip
    """Ids (B, <= max_len) of the best of ``k`` hypotheses per row by *length-normalised*
    log-probability (the sum of the log-probabilities of its tokens, <eos> included, divided by
    their number). The beam keeps the k best hypotheses by that score at every step; a finished
    one (ended by <eos>) stays as it is. With k = 1 this is :func:`greedy_search`."""
    k = check_int("k", k, 1)
    b, dev = len(first), first.device
    ids = first.repeat_interleave(k)[:, None]  # (B·k, 1)
    memory = memory.repeat_interleave(k, dim=0)
    if memory_padding is not None:
        memory_padding = memory_padding.repeat_interleave(k, dim=0)
    total = torch.full((b, k), float("-inf"), device=dev)
    total[:, 0] = 0.0  # one live hypothesis at first: the k copies would repeat each other
    length = torch.zeros(b, k, device=dev)
    done = torch.zeros(b, k, dtype=torch.bool, device=dev)
    for _ in range(max_len - 1):
        logp = F.log_softmax(decoder(ids, memory, memory_padding)[:, -1].float(), -1)
        v = logp.shape[-1]
        logp = logp.view(b, k, v)
        # A finished hypothesis has one way on: <pad>, adding nothing to its score or length.
        stay = torch.full((v,), float("-inf"), device=dev)
        stay[PAD] = 0.0
        logp = torch.where(done[..., None], stay, logp)
        new_total = total[..., None] + logp  # (B, k, V)
        new_length = length[..., None] + (~done[..., None]).float()
        score = (new_total / new_length.clamp_min(1)).view(b, k * v)
        best = score.topk(k, dim=1).indices  # (B, k): each a (hypothesis, token) pair
        source, token = best // v, best % v
        total = new_total.view(b, k * v).gather(1, best)
        length = new_length.expand(b, k, v).reshape(b, k * v).gather(1, best)
        rows = (torch.arange(b, device=dev)[:, None] * k + source).view(-1)
        ids = torch.cat([ids[rows], token.view(-1, 1)], dim=1)
        done = done.gather(1, source) | (token == EOS)
        if done.all():
            break
    pick = (total / length.clamp_min(1)).argmax(dim=1)  # (B,)
    return ids.view(b, k, -1)[torch.arange(b, device=dev), pick]


# --------------------------------------------------------------------------------------------
# The video encoder and the captioner
# --------------------------------------------------------------------------------------------
@dataclass
class CaptionerConfig:
    """``width`` CNN channels (twice that after the second stage), ``d_model`` token width,
    ``heads`` attention heads, ``layers`` decoder layers; the encoder's grid is the clip
    downsampled by ``space_stride`` (4 or 8) in H and W and by ``time_stride`` (1, 2, 4) in T;
    ``single_frame``: the encoder sees the middle frame only (the baseline without motion);
    ``cells``: a cell head reads every video token (what is where, and moving: see
    ``vidbook.train.scene_cells``) for an auxiliary loss."""

    width: int = 16
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    space_stride: int = 8
    time_stride: int = 4
    single_frame: bool = False
    cells: bool = False

    def __post_init__(self) -> None:
        check_int("width", self.width, 4)
        check_int("layers", self.layers, 1)
        if check_int("d_model", self.d_model, 8) % check_int("heads", self.heads, 1):
            raise BadValueError(
                f"d_model must be a multiple of heads, got d_model={self.d_model}, "
                f"heads={self.heads}"
            )
        if self.time_stride not in (1, 2, 4):
            raise BadValueError(f"time_stride must be 1, 2 or 4, got {self.time_stride!r}")
        if self.space_stride not in (4, 8):
            raise BadValueError(f"space_stride must be 4 or 8, got {self.space_stride!r}")
        for name in ("single_frame", "cells"):
            if not isinstance(getattr(self, name), bool):
                raise BadValueError(f"{name} must be True or False, got {getattr(self, name)!r}")


def _conv_bn(cin: int, cout: int, kernel: tuple, stride: tuple) -> list[nn.Module]:
    padding = tuple(k // 2 for k in kernel)
    return [nn.Conv3d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm3d(cout),
            nn.ReLU(inplace=True)]  # fmt: skip


class VideoEncoder(nn.Module):
    """Clip (B, 3, T, H, W) -> video tokens (B, S, d): (2+1)D convolutions (3 x 3 in space, then
    3 frames in time) down to a (T', H', W') grid, a 1 x 1 projection to d, learned time, row
    and column embeddings added, and a LayerNorm; S = T' H' W' (64 for 16 x 32 x 32 clips). The single-frame encoder keeps the middle
    frame and the same layers (its temporal kernels see that frame alone)."""

    MAX_GRID = 32

    def __init__(self, cfg: CaptionerConfig) -> None:
        super().__init__()
        w, ts = cfg.width, cfg.time_stride
        layers = _conv_bn(3, w, (1, 3, 3), (1, 2, 2))
        layers += _conv_bn(w, w, (3, 1, 1), (2 if ts == 4 else 1, 1, 1))
        layers += _conv_bn(w, 2 * w, (1, 3, 3), (1, 2, 2))
        layers += _conv_bn(2 * w, 2 * w, (3, 1, 1), (1 if ts == 1 else 2, 1, 1))
        if cfg.space_stride == 8:
            layers += _conv_bn(2 * w, 2 * w, (1, 3, 3), (1, 2, 2))
        self.cnn = nn.Sequential(*layers)
        self.project = nn.Conv3d(2 * w, cfg.d_model, 1)
        self.pos_t, self.pos_y, self.pos_x = (
            nn.Parameter(torch.randn(self.MAX_GRID, cfg.d_model) * 0.02) for _ in range(3)
        )
        self.norm = nn.LayerNorm(cfg.d_model)
        self.single_frame = cfg.single_frame
        self.strides = (cfg.time_stride, cfg.space_stride)

    def grid(self, clip: torch.Tensor) -> tuple[int, int, int]:
        """(T', H', W'): the grid of video tokens of ``clip`` (B, 3, T, H, W)."""
        frames = 1 if self.single_frame else -(-clip.shape[2] // self.strides[0])
        return frames, -(-clip.shape[3] // self.strides[1]), -(-clip.shape[4] // self.strides[1])

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        check_clips(clip, 3, "VideoEncoder")
        if self.single_frame:
            middle = clip.shape[2] // 2
            clip = clip[:, :, middle : middle + 1]
        x = self.project(self.cnn(clip))  # (B, d, T', H', W')
        _, _, t, h, w = x.shape
        if max(t, h, w) > self.MAX_GRID:
            raise BadValueError(f"the encoder's grid {(t, h, w)} exceeds {self.MAX_GRID} a side")
        pos = self.pos_t[:t, None, None] + self.pos_y[None, :h, None] + self.pos_x[None, None, :w]
        return self.norm(x.flatten(2).transpose(1, 2) + pos.reshape(t * h * w, -1))  # (B, S, d)


class Captioner(nn.Module):
    """``model(clip, tokens_in) -> logits``: a VideoEncoder and a CaptionDecoder.

    clip (B, 3, T, H, W); tokens_in (B·k, L) ids starting with a language token (see
    :func:`caption_ids`): k captions per clip share one encoding (rows b·k .. b·k + k - 1 are
    clip b's), so English and Chinese can be trained from one pass of the encoder."""

    def __init__(self, config: CaptionerConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or CaptionerConfig()
        self.encoder = VideoEncoder(cfg)
        self.decoder = CaptionDecoder(len(TOKENIZER), cfg.d_model, cfg.heads, cfg.layers)
        self.cell_head = nn.Linear(cfg.d_model, sum(CELL_CLASSES)) if cfg.cells else None

    def forward(self, clip: torch.Tensor, tokens_in: torch.Tensor, cells: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Logits (B·k, L, V); with ``cells`` (a captioner built with ``cells=True``), also the
        cell logits (B, T', H', W', sum(CELL_CLASSES)) of the encoder's grid."""
        memory = self.encoder(clip)  # (B, S, d)
        if tokens_in.ndim != 2 or tokens_in.shape[0] % memory.shape[0]:
            raise BadValueError(
                f"tokens_in must be (B·k, L) ids for B={memory.shape[0]} clips, got "
                f"{tuple(tokens_in.shape)}"
            )
        per_clip = tokens_in.shape[0] // memory.shape[0]
        logits = self.decoder(tokens_in, memory.repeat_interleave(per_clip, dim=0))
        if not cells:
            return logits
        if self.cell_head is None:
            raise BadValueError("this captioner has no cell head: build it with cells=True")
        return logits, self.cell_head(memory).view(len(clip), *self.encoder.grid(clip), -1)

    def _start(self, clip: torch.Tensor, lang: str) -> tuple[torch.Tensor, torch.Tensor]:
        first = _check_lang(lang)
        memory = self.encoder(clip)
        return memory, torch.full((len(clip),), first, dtype=torch.long, device=clip.device)

    @torch.no_grad()
    def greedy_decode(self, clip: torch.Tensor, lang: str = "en",
                      max_len: int = MAX_CAPTION) -> list[list[str]]:  # fmt: skip
        """Captions of clip (B, 3, T, H, W) as token lists, the likeliest word at each step."""
        memory, first = self._start(clip, lang)
        return words_of(greedy_search(self.decoder, memory, first, max_len))

    @torch.no_grad()
    def beam_decode(self, clip: torch.Tensor, lang: str = "en", k: int = 3,
                    max_len: int = MAX_CAPTION) -> list[list[str]]:  # fmt: skip
        """Captions of clip (B, 3, T, H, W) by beam search of width ``k``, ranked by
        length-normalised log-probability (see :func:`beam_search`)."""
        memory, first = self._start(clip, lang)
        return words_of(beam_search(self.decoder, memory, first, k, max_len))
