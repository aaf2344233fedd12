"""The captioning task: its objective, loaders, parts for a run, test metrics; and translation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidbook.clip_shape import ClipShape
from vidbook.data import SynthScenes
from vidbook.errors import BadValueError
from vidbook.models.captioner import PAD, TOKENIZER, Captioner, words_of
from vidbook.models.translator import Translator
from vidbook.train import Trainer
from vidbook.train.captioning import (
    CAPTIONERS,
    Captioning,
    CaptionLoader,
    Translation,
    TranslationLoader,
    captioning_parts,
    captioning_test,
    scene_captions,
    translation_parts,
    translation_test,
)
from vidbook.train.runner import RunSpec

pytestmark = pytest.mark.usefixtures("one_thread")
SHAPE = ClipShape(8, 32, 32)


def _spec(model: str = "captioner", **kw) -> RunSpec:
    sizes = {"train_size": 8, "val_size": 4, "test_size": 3, "batch_size": 4, "epochs": 1}
    return RunSpec(model=model, clip_shape=SHAPE, **{**sizes, **kw})


def test_loss_is_cross_entropy_over_real_tokens_only() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 5, len(TOKENIZER))
    targets = torch.tensor([[5, 6, 2, 0, 0], [7, 8, 9, 10, 2]])
    real = targets != PAD
    expected = F.cross_entropy(logits[real], targets[real])
    torch.testing.assert_close(Captioning().loss(logits, targets), expected)
    changed = logits.clone()
    changed[0, 3:] += 100  # logits at padded positions do not count
    torch.testing.assert_close(Captioning().loss(changed, targets), expected)


def test_objective_bad_input() -> None:
    with pytest.raises(BadValueError, match="tokens_in"):
        Captioning().unpack({"clip": torch.zeros(1)})
    with pytest.raises(BadValueError, match="source"):
        Translation().unpack({"clip": torch.zeros(1)})
    with pytest.raises(BadValueError, match="logits"):
        Captioning().loss(torch.zeros(2, 5), torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(BadValueError, match="targets"):
        Captioning().loss(torch.zeros(2, 5, 9), torch.zeros(2, 4, dtype=torch.long))


def test_caption_loader_rows_are_each_clips_captions_in_both_languages() -> None:
    scenes = SynthScenes("train", size=6, clip_shape=SHAPE)
    loader = CaptionLoader(scenes, batch_size=4, seed=1)
    batches = list(loader)
    assert len(loader) == len(batches) == 2
    batch = batches[0]
    assert batch["clip"].shape == (4, 3, 8, 32, 32)
    assert batch["tokens_in"].shape == batch["targets"].shape
    assert batch["tokens_in"].shape[0] == 8
    en, zh = (scene_captions(scenes, batch["index"], lang) for lang in ("en", "zh"))
    assert words_of(batch["targets"][0::2]) == en and words_of(batch["targets"][1::2]) == zh
    assert [TOKENIZER.words[i] for i in batch["tokens_in"][:2, 0]] == ["<en>", "<zh>"]
    with pytest.raises(BadValueError):
        CaptionLoader(scenes, 4, langs=("en", "de"))


def test_parts_train_with_the_trainer_and_test_reports_both_languages() -> None:
    torch.manual_seed(0)
    spec = _spec()
    train, val, model, described = captioning_parts(spec, torch.device("cpu"))
    assert isinstance(model, Captioner) and "8 train" in described
    history = Trainer(model, objective=Captioning(), epochs=1, progress=False).fit(train, val)
    assert history[-1]["val_loss"] > 0 and history[-1]["val_acc"] is None
    report = captioning_test(model, spec, torch.device("cpu"), beam=2, examples=2)
    assert report["clips"] == 3 and report["beam_width"] == 2
    for lang in ("en", "zh"):
        for way in ("greedy", "beam"):
            scores = report[lang][way]
            assert scores["n"] == 3
            assert 0 <= scores["bleu4"] <= 1 and 0 <= scores["motion_acc"] <= 1
            assert scores["cider"] >= 0
        assert len(report[lang]["examples"]) == 2


def test_named_captioners() -> None:
    assert {"captioner", "captioner_1frame"} <= set(CAPTIONERS)
    one = captioning_parts(_spec("captioner_1frame"), torch.device("cpu"))[2]
    assert one.encoder.single_frame and not captioning_parts(_spec(), "cpu")[2].encoder.single_frame
    with pytest.raises(BadValueError, match="captioner must be one of"):
        captioning_parts(_spec("c3d"), torch.device("cpu"))


def test_translation_parts_loader_and_test() -> None:
    torch.manual_seed(0)
    spec = _spec("translator")
    train, val, model, _ = translation_parts(spec, torch.device("cpu"))
    assert isinstance(model, Translator)
    batch = next(iter(train))
    assert batch["source"].shape[0] == batch["tokens_in"].shape[0] == 4
    assert TOKENIZER.words[batch["tokens_in"][0, 0]] == "<zh>"
    scenes = SynthScenes("val", size=4, clip_shape=SHAPE)
    first = next(iter(TranslationLoader(scenes, 4, shuffle=False)))
    assert words_of(first["targets"]) == scene_captions(scenes, range(4), "zh")
    Trainer(model, objective=Translation(), epochs=1, progress=False).fit(train, val)
    report = translation_test(model, spec, torch.device("cpu"), examples=1)
    assert report["n"] == 3 and 0 <= report["bleu4"] <= 1 and 0 <= report["exact"] <= 1
    with pytest.raises(BadValueError, match="translator must be one of"):
        translation_parts(_spec("captioner"), torch.device("cpu"))
