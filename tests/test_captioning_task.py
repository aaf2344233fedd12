"""The captioning task: its objective, loaders, parts for a run, test metrics; and translation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidbook.clip_shape import ClipShape
from vidbook.data import SynthScenes
from vidbook.errors import BadValueError
from vidbook.models.captioner import PAD, TOKENIZER, Captioner, CaptionerConfig, words_of
from vidbook.models.translator import Translator
from vidbook.train import Trainer
from vidbook.train.captioning import (
    CAPTIONERS,
    Captioning,
    CaptionLoader,
    Translation,
    TranslationLoader,
    captioning_objective,
    captioning_parts,
    captioning_test,
    scene_captions,
    translation_parts,
    translation_test,
)
from vidbook.train.runner import RunSpec
from vidbook.train.scene_cells import cell_loss, cell_targets

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


def test_the_cell_loss_is_added_to_the_caption_loss_with_its_weight() -> None:
    torch.manual_seed(0)
    scenes = SynthScenes("train", size=4, clip_shape=SHAPE)
    batch = next(iter(CaptionLoader(scenes, batch_size=4, shuffle=False)))
    model = captioning_parts(_spec(), torch.device("cpu"))[2]
    assert model.cell_head is not None  # "captioner" is built with a cell head
    objective = captioning_objective("captioner", cell_weight=0.5)
    inputs, targets = objective.unpack(batch)
    assert inputs[2] is True and torch.equal(targets["tokens"], batch["targets"])
    logits, cells = model(*inputs)
    grid = model.encoder.grid(batch["clip"])
    assert grid == (4, 4, 4) and cells.shape == (4, *grid, cells.shape[-1])
    words = F.cross_entropy(logits.flatten(0, 1), batch["targets"].flatten(), ignore_index=PAD)
    expected = words + 0.5 * cell_loss(cells, cell_targets(batch))
    torch.testing.assert_close(objective.loss((logits, cells), targets), expected)
    # Words only: the same logits give the caption loss alone.
    plain = captioning_objective("captioner_words")
    assert plain.cell_weight == 0.0 and len(plain.unpack(batch)[0]) == 2
    torch.testing.assert_close(plain.loss(logits, batch["targets"]), words)


def test_cells_bad_input() -> None:
    words_only = captioning_parts(_spec("captioner_words"), torch.device("cpu"))[2]
    clip, tokens = torch.rand(2, 3, 8, 32, 32), torch.ones(2, 4, dtype=torch.long)
    with pytest.raises(BadValueError, match="no cell head: build it with cells=True"):
        words_only(clip, tokens, cells=True)
    with pytest.raises(BadValueError, match="cells must be True or False"):
        CaptionerConfig(cells=1)
    with pytest.raises(BadValueError, match="cell_weight must be a number >= 0"):
        Captioning(cell_weight=-1)
    with pytest.raises(BadValueError, match="instances"):  # the cell loss needs the masks
        Captioning(cell_weight=1.0).unpack({"clip": clip, "tokens_in": tokens, "targets": tokens})
    with pytest.raises(BadValueError, match="captioner must be one of"):
        captioning_objective("c3d")
