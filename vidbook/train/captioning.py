"""Captioning SynthScenes (chapter 7.2): the objective, the named captioners, a run's parts and
its test metrics; and the small English -> Chinese translator of the world's captions.

A captioner learns by *teacher forcing*: it reads the true caption shifted by one token
(<lang> w1 .. wn) and is scored by cross-entropy on the next token at every position
(w1 .. wn <eos>), padding ignored. Each clip carries its caption in every language of the run,
so one pass of the video encoder teaches both. The test decodes greedily and by beam search and
scores the captions with BLEU-4 and CIDEr (``vidbook.eval.language``) and with the share of
clips whose motion words are all right — the number the single-frame captioner cannot reach,
because one frame does not say which way anything moves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from vidbook.data import ClipLoader, SynthScenes
from vidbook.data.scene_text import LANGUAGES, caption_text, caption_tokens
from vidbook.errors import BadValueError
from vidbook.eval.language import bleu4, caption_metrics, motion_word_accuracy
from vidbook.models.captioner import PAD, Captioner, CaptionerConfig, caption_ids
from vidbook.models.translator import Translator, TranslatorConfig, source_ids
from vidbook.runtime import eval_mode
from vidbook.train.objective import Objective
from vidbook.train.scene_cells import CELL_KEYS, cell_loss, cell_targets, check_cell_weight
from vidbook.train.scene_sets import scene_set

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec

# Captioners by name, with the settings measured in chapter 7.2 (for 8 x 32 x 32 clips: a grid of
# 4 x 4 x 4 video tokens; 8 frames show every motion and cost half of 16).
_SMALL = {"width": 16, "d_model": 64, "heads": 4, "layers": 2, "space_stride": 8, "time_stride": 2}
CAPTIONERS = {
    "captioner": {**_SMALL, "single_frame": False, "cells": True},
    "captioner_words": {**_SMALL, "single_frame": False, "cells": False},  # taught by words only
    "captioner_1frame": {**_SMALL, "single_frame": True, "cells": True},  # the middle frame only
}
TRANSLATORS = {"translator": {"d_model": 64, "heads": 4, "layers": 2}}


def _check_lm_batch(output: Any, targets: Any) -> None:
    if not isinstance(output, torch.Tensor) or output.ndim != 3:
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise BadValueError(f"a language model's output must be logits (B, L, V), got {got}")
    if not isinstance(targets, torch.Tensor) or targets.shape != output.shape[:2]:
        got = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        raise BadValueError(
            f"targets must be ids (B, L) = {tuple(output.shape[:2])} like the logits, got {got}"
        )


class Captioning(Objective):
    """Teacher forcing: inputs ``(clip, tokens_in)``, targets the next tokens (B·k, L);
    cross-entropy over the vocabulary with <pad> ignored (a mean over the real tokens).

    ``cell_weight`` > 0 (for a captioner with a cell head) adds the auxiliary cell loss,
    weighted so: what is where in each cell of the encoder's grid, and whether it is moving
    (``vidbook.train.scene_cells``)."""

    source = "clip"  # the batch key of what the decoder attends to

    def __init__(self, cell_weight: float = 0.0) -> None:
        self.cell_weight = check_cell_weight(cell_weight)

    def unpack(self, batch: Any) -> tuple[tuple, Any]:
        keys = (self.source, "tokens_in", "targets")
        keys += CELL_KEYS if self.cell_weight else ()
        if not isinstance(batch, dict) or any(k not in batch for k in keys):
            got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise BadValueError(
                f"a {type(self).__name__.lower()} batch is a dict with {list(keys)}, got {got}"
            )
        if not self.cell_weight:
            return (batch[self.source], batch["tokens_in"]), batch["targets"]
        targets = {"tokens": batch["targets"], "cells": cell_targets(batch)}
        return (batch[self.source], batch["tokens_in"], True), targets

    def loss(self, output: Any, targets: Any) -> torch.Tensor:
        logits, cells = output if isinstance(output, tuple) else (output, None)
        tokens = targets["tokens"] if isinstance(targets, dict) else targets
        _check_lm_batch(logits, tokens)
        loss = F.cross_entropy(logits.float().flatten(0, 1), tokens.flatten(), ignore_index=PAD)
        if self.cell_weight and cells is not None:
            loss = loss + self.cell_weight * cell_loss(cells, targets["cells"])
        return loss


class Translation(Captioning):
    """The same next-token cross-entropy, inputs ``(source ids, tokens_in)``."""

    source = "source"


def scene_captions(scenes: SynthScenes, indices: Any, lang: str) -> list[list[str]]:
    """The caption tokens of scenes ``indices`` in ``lang``."""
    params = scenes.params(indices)
    return [caption_tokens(params.actors(i), lang) for i in range(len(params.index))]


class CaptionLoader(ClipLoader):
    """A ClipLoader of SynthScenes clips with their captions as teacher-forcing ids.

    Each batch: the SynthScenes batch (``clip`` (B, 3, T, H, W), boxes, masks, actors ...),
    ``tokens_in`` and ``targets`` (B·k, L) for the k languages of ``langs`` (rows
    b·k .. b·k + k - 1 are clip b's), and ``index`` (B,); the order, epochs and sharding are
    ClipLoader's."""

    def __init__(self, scenes: SynthScenes, batch_size: int, langs: tuple[str, ...] = LANGUAGES,
                 **kwargs: Any) -> None:  # fmt: skip
        if not langs or any(lang not in LANGUAGES for lang in langs):
            raise BadValueError(f"langs must be a non-empty tuple of {LANGUAGES}, got {langs!r}")
        super().__init__(scenes, batch_size, **kwargs)
        self.langs = tuple(langs)

    def load(self, indices: torch.Tensor) -> dict:
        batch = self.dataset.batch(indices, device=self.device, captions=False)
        captions = [scene_captions(self.dataset, indices, lang) for lang in self.langs]
        length = max(len(words) for each in captions for words in each) + 2
        pairs = [caption_ids(each, lang, length)
                 for each, lang in zip(captions, self.langs, strict=True)]  # fmt: skip
        tokens_in = torch.stack([p[0] for p in pairs], dim=1).flatten(0, 1)  # (B·k, L)
        targets = torch.stack([p[1] for p in pairs], dim=1).flatten(0, 1)
        dev = batch["clip"].device
        return {**batch, "tokens_in": tokens_in.to(dev), "targets": targets.to(dev),
                "index": indices}  # fmt: skip


def captioning_objective(name: str, cell_weight: float = 1.0) -> Captioning:
    """The objective of captioner ``name``: with the cell loss (weight ``cell_weight``) if it
    has a cell head."""
    build_captioner(name)  # checks the name
    return Captioning(cell_weight if CAPTIONERS[name]["cells"] else 0.0)


def build_captioner(name: str) -> Captioner:
    """The captioner ``name`` of :data:`CAPTIONERS`."""
    if name not in CAPTIONERS:
        raise BadValueError(f"captioner must be one of {tuple(CAPTIONERS)}, got {name!r}")
    return Captioner(CaptionerConfig(**CAPTIONERS[name]))


def captioning_parts(spec: RunSpec, dev: torch.device
                     ) -> tuple[CaptionLoader, CaptionLoader, Captioner, str]:  # fmt: skip
    """Train and validation CaptionLoaders (both languages), the captioner ``spec.model``, and
    a description of the data."""
    model = build_captioner(spec.model)
    train = CaptionLoader(scene_set(spec, "train"), spec.batch_size,
                          seed=spec.seed, device=dev)  # fmt: skip
    val = CaptionLoader(scene_set(spec, "val"), max(spec.batch_size, 64),
                        shuffle=False, device=dev)  # fmt: skip
    described = (
        f"SynthScenes {spec.train_size} train / {spec.val_size} val clips, {spec.clip_shape}, "
        f"1-4 actors, {spec.difficulty}, captions in {' and '.join(LANGUAGES)}"
    )
    return train, val, model, described


def caption_scores(references: list[list[str]], candidates: list[list[str]], lang: str
                   ) -> dict:  # fmt: skip
    """BLEU-4, CIDEr, the motion-word accuracy and the number of clips of one set of captions."""
    refs = [[r] for r in references]
    return {**caption_metrics(refs, candidates),
            "motion_acc": motion_word_accuracy(refs, candidates, lang)}  # fmt: skip


def captioning_test(model: Captioner, spec: RunSpec, dev: torch.device, beam: int = 3,
                    examples: int = 3) -> dict:  # fmt: skip
    """Scores of ``model`` on the SynthScenes test split (``spec.test_size`` clips, default the
    validation size): per language, greedy and beam search (width ``beam``) each with
    ``bleu4``, ``cider``, ``motion_acc`` and ``n`` (the number of clips), and ``examples``
    captions (truth, greedy, beam) of the first clips."""
    scenes = scene_set(spec, "test")
    found: dict[str, dict[str, list]] = {
        lang: {"truth": [], "greedy": [], "beam": []} for lang in LANGUAGES
    }
    with eval_mode(model):
        for batch in CaptionLoader(scenes, 250, shuffle=False, device=dev):
            clip = batch["clip"]
            for lang in LANGUAGES:
                found[lang]["truth"] += scene_captions(scenes, batch["index"], lang)
                found[lang]["greedy"] += model.greedy_decode(clip, lang)
                found[lang]["beam"] += model.beam_decode(clip, lang, k=beam)
    report: dict[str, Any] = {"clips": len(scenes), "beam_width": beam}
    for lang, lists in found.items():
        report[lang] = {
            way: caption_scores(lists["truth"], lists[way], lang) for way in ("greedy", "beam")
        }
        report[lang]["examples"] = [
            {way: caption_text(lists[way][i], lang) for way in ("truth", "greedy", "beam")}
            for i in range(min(examples, len(scenes)))
        ]
    return report


# --------------------------------------------------------------------------------------------
# English -> Chinese
# --------------------------------------------------------------------------------------------
class TranslationLoader(ClipLoader):
    """A ClipLoader of the English captions of SynthScenes (no clips are rendered) with their
    Chinese ones: ``source`` (B, Ls) English ids, ``tokens_in`` and ``targets`` (B, L) Chinese."""

    def load(self, indices: torch.Tensor) -> dict:
        english = scene_captions(self.dataset, indices, "en")
        tokens_in, targets = caption_ids(scene_captions(self.dataset, indices, "zh"), "zh")
        return {"source": source_ids(english).to(self.device),
                "tokens_in": tokens_in.to(self.device), "targets": targets.to(self.device)}  # fmt: skip


def translation_parts(spec: RunSpec, dev: torch.device
                      ) -> tuple[TranslationLoader, TranslationLoader, Translator, str]:  # fmt: skip
    """Train and validation loaders of caption pairs, the translator ``spec.model`` (one of
    :data:`TRANSLATORS`) and a description of the data."""
    if spec.model not in TRANSLATORS:
        raise BadValueError(f"translator must be one of {tuple(TRANSLATORS)}, got {spec.model!r}")
    model = Translator(TranslatorConfig(**TRANSLATORS[spec.model]))
    train = TranslationLoader(scene_set(spec, "train"), spec.batch_size,
                              seed=spec.seed, device=dev)  # fmt: skip
    val = TranslationLoader(scene_set(spec, "val"), max(spec.batch_size, 64),
                            shuffle=False, device=dev)  # fmt: skip
    described = (f"SynthScenes captions, {spec.train_size} train / {spec.val_size} val pairs, "
                 "English -> Chinese")  # fmt: skip
    return train, val, model, described


def translation_test(model: Translator, spec: RunSpec, dev: torch.device, examples: int = 3
                     ) -> dict:  # fmt: skip
    """BLEU-4 of greedy English -> Chinese translations of the test split's captions
    (``spec.test_size`` scenes, default the validation size), the share translated exactly,
    the number of captions and a few examples."""
    scenes = scene_set(spec, "test")
    english, truth, found = [], [], []
    with eval_mode(model):
        for start in range(0, len(scenes), 500):
            indices = torch.arange(start, min(start + 500, len(scenes)))
            english += scene_captions(scenes, indices, "en")
            truth += scene_captions(scenes, indices, "zh")
            found += model.greedy_decode(english[start:])
    return {
        "bleu4": bleu4([[t] for t in truth], found),
        "exact": sum(f == t for f, t in zip(found, truth, strict=True)) / len(truth),
        "n": len(truth),
        "examples": [{"en": caption_text(english[i], "en"), "truth": caption_text(truth[i], "zh"),
                      "found": caption_text(found[i], "zh")} for i in range(min(examples, len(truth)))],
    }  # fmt: skip
