"""A word-level tokenizer over a fixed vocabulary: words to ids and back, with clear errors.

The SynthScenes captions and questions are made of the words in
``vidbook.data.scene_text.VOCAB``, so a tokenizer built from that list covers them exactly; a
word outside it is an error that names the word, never a silent "unknown" token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vidbook.checks import check_int
from vidbook.errors import BadValueError

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


class WordTokenizer:
    """``ids = tok.encode(["a", "red", "square"])``: <bos> a red square <eos> as a LongTensor.

    Ids 0, 1, 2 are <pad>, <bos>, <eos>; the words follow in the order given (duplicates once).
    """

    def __init__(self, words: Sequence[str]) -> None:
        words = list(dict.fromkeys(words))
        clash = [w for w in (PAD, BOS, EOS) if w in words]
        if clash or not words or not all(isinstance(w, str) and w for w in words):
            raise BadValueError(
                "a tokenizer needs non-empty string words, none of them <pad>, <bos> or <eos>; "
                f"got {len(words)} words" + (f", including {clash}" if clash else "")
            )
        self.words = (PAD, BOS, EOS, *words)
        self.ids = {w: i for i, w in enumerate(self.words)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2

    def __len__(self) -> int:
        return len(self.words)

    def encode(
        self, tokens: Sequence[str], length: int | None = None, specials: bool = True
    ) -> torch.Tensor:
        """Ids (L,) of ``tokens``, with <bos>/<eos> around them if ``specials``, padded with
        <pad> to ``length`` if given (a sequence longer than ``length`` is an error)."""
        unknown = [t for t in tokens if t not in self.ids]
        if unknown:
            raise BadValueError(
                f"unknown word(s) {unknown[:5]}: not in this tokenizer's {len(self.words)}-word "
                "vocabulary (SynthScenes' words are vidbook.data.scene_text.VOCAB)"
            )
        ids = [self.ids[t] for t in tokens]
        if specials:
            ids = [self.bos_id, *ids, self.eos_id]
        if length is not None:
            length = check_int("length", length)
            if len(ids) > length:
                raise BadValueError(f"a sequence of {len(ids)} ids does not fit length {length}")
            ids += [self.pad_id] * (length - len(ids))
        return torch.tensor(ids, dtype=torch.long)

    def encode_batch(self, batch: Sequence[Sequence[str]], length: int | None = None
                     ) -> torch.Tensor:  # fmt: skip
        """(B, L) ids of several token lists, padded to ``length`` (default: the longest)."""
        if not batch:
            raise BadValueError("encode_batch needs at least one sequence, got none")
        longest = max(len(tokens) for tokens in batch) + 2
        return torch.stack([self.encode(t, length or longest) for t in batch])

    def decode(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        """Words of ``ids`` (L,): <bos> and <pad> skipped, stopping at the first <eos>."""
        words = []
        for i in torch.as_tensor(ids).tolist():
            if not 0 <= i < len(self.words):
                raise BadValueError(f"id {i} is outside the vocabulary 0..{len(self.words) - 1}")
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                words.append(self.words[i])
        return words
