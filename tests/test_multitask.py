"""One backbone, three heads: shapes, views, the weighted loss, the single-head controls, a run."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidbook.clip_shape import ClipShape
from vidbook.data import SynthScenes
from vidbook.errors import BadValueError
from vidbook.models.captioner import PAD, TOKENIZER, words_of
from vidbook.models.detection import decode, detection_loss
from vidbook.models.multitask import (
    HEADS,
    DetectionView,
    MultiTaskConfig,
    MultiTaskModel,
    SegmentationView,
)
from vidbook.models.segmentation import segmentation_loss
from vidbook.train.captioning import CaptionLoader, scene_captions
from vidbook.train.multitask import (
    MULTITASK_MODELS,
    MultiTask,
    build_multitask,
    multitask_test,
)
from vidbook.train.runner import RunSpec, run

pytestmark = pytest.mark.usefixtures("one_thread")
SHAPE = ClipShape(8, 16, 16)
SMALL = {"width": 4, "blocks": 1, "d_model": 16, "heads": 2, "layers": 1}


@pytest.fixture(scope="module")
def batch() -> dict:
    scenes = SynthScenes("train", size=4, clip_shape=SHAPE, seed=1)
    return next(iter(CaptionLoader(scenes, batch_size=3, shuffle=False)))


def _model(**kw) -> MultiTaskModel:
    torch.manual_seed(0)
    return MultiTaskModel(MultiTaskConfig(**{**SMALL, **kw}))


def test_shapes_of_every_head(batch):
    model = _model()
    clip, tokens = batch["clip"], batch["tokens_in"]
    out = model(clip, tokens)
    assert set(out) == set(HEADS)
    assert out["detection"].shape == (3, 5, 8, 8, 8)
    assert out["segmentation"].shape == (3, 8, 16, 16)
    assert out["caption"].shape == (6, tokens.shape[1], len(TOKENIZER))  # 2 languages per clip
    assert model.memory(model.features(clip)[1]).shape == (3, 2 * 2 * 2, 16)  # T/4, H/8, W/8
    assert model(clip)["caption"] is None  # no words, no caption
    only = model(clip, tokens, heads=("segmentation",))
    assert only["detection"] is None and only["caption"] is None
    assert only["segmentation"].shape == (3, 8, 16, 16)
    with pytest.raises(BadValueError, match="even frame sizes"):
        model(torch.randn(1, 3, 4, 15, 16))
    with pytest.raises(BadValueError, match=r"unknown head\(s\) \['pose'\]"):
        model(clip, heads=("detection", "pose"))
    with pytest.raises(BadValueError, match="tokens_in must be"):
        model(clip, tokens[:5])


def test_views_show_one_head_with_the_models_weights(batch):
    model = _model().eval()
    clip = batch["clip"]
    with torch.no_grad():
        out = model(clip)
        torch.testing.assert_close(DetectionView(model)(clip), out["detection"])
        torch.testing.assert_close(SegmentationView(model)(clip), out["segmentation"])
    view = DetectionView(model)
    assert view.config.embedding == 0 and view.stride == 2
    found = decode(view(clip).detach())
    assert len(found) == 3 and len(found[0]) == 8
    assert {id(p) for p in view.parameters()} == {id(p) for p in model.parameters()}
    with pytest.raises(BadValueError, match="shows a MultiTaskModel"):
        SegmentationView(torch.nn.Linear(2, 2))


def test_decoding_captions(batch):
    model = _model().eval()
    greedy = model.greedy_decode(batch["clip"], "en", max_len=6)
    beam = model.beam_decode(batch["clip"], "zh", k=2, max_len=6)
    assert len(greedy) == len(beam) == 3 and all(len(words) <= 5 for words in greedy)
    with pytest.raises(BadValueError, match="lang must be one of"):
        model.greedy_decode(batch["clip"], "fr")


def test_the_loader_carries_boxes_masks_and_captions():
    scenes = SynthScenes("val", size=3, clip_shape=SHAPE)
    batch = next(iter(CaptionLoader(scenes, batch_size=3, shuffle=False)))
    rendered = scenes.batch(range(3), captions=False)
    for key in ("clip", "boxes", "visible", "track_id", "instances", "motion", "start", "end"):
        assert torch.equal(batch[key], rendered[key]), key
    assert batch["tokens_in"].shape == batch["targets"].shape and len(batch["targets"]) == 6
    assert words_of(batch["targets"][0::2]) == scene_captions(scenes, range(3), "en")
    assert words_of(batch["targets"][1::2]) == scene_captions(scenes, range(3), "zh")
    with pytest.raises(BadValueError, match="langs must be"):
        CaptionLoader(scenes, 3, langs=("de",))


def test_the_loss_is_the_weighted_sum_of_the_three_losses(batch):
    model = _model()
    weights = {"detection": 0.5, "segmentation": 2.0, "caption": 0.25}
    objective = MultiTask(weights)
    inputs, targets = objective.unpack(batch)
    out = model(*inputs)
    det = detection_loss(out["detection"], batch["boxes"], batch["visible"], 0.1)
    seg = segmentation_loss(out["segmentation"], batch["instances"] > 0)
    logits, ids = out["caption"], batch["targets"]
    real = ids != PAD
    cap = F.cross_entropy(logits[real], ids[real])
    assert min(det.item(), seg.item(), cap.item()) > 0.1
    torch.testing.assert_close(objective.loss(out, targets), 0.5 * det + 2.0 * seg + 0.25 * cap)
    parts = objective.head_losses(out, targets)
    torch.testing.assert_close(torch.stack(list(parts.values())), torch.stack([det, seg, cap]))
    for name, alone in (("detection", det), ("segmentation", seg), ("caption", cap)):
        control = MultiTask({h: float(h == name) for h in HEADS})
        assert control.heads == (name,)
        inputs, targets = control.unpack(batch)
        torch.testing.assert_close(control.loss(model(*inputs), targets), alone)


@pytest.mark.parametrize(
    ("name", "trained"),
    [
        ("multitask", set(HEADS)),
        ("multitask_detection_only", {"detection"}),
        ("multitask_segmentation_only", {"segmentation"}),
        ("multitask_captioning_only", {"caption"}),
    ],
)
def test_a_control_trains_only_its_head_and_the_backbone(name, trained, batch):
    objective = build_multitask(name)[1]
    assert set(objective.heads) == trained
    assert MULTITASK_MODELS[name]["config"] == MULTITASK_MODELS["multitask"]["config"]
    model = _model()
    inputs, targets = objective.unpack(batch)
    objective.loss(model(*inputs), targets).backward()
    parts = model.head_parameters()
    assert sum(map(len, parts.values())) == len(list(model.parameters()))
    for part, params in parts.items():
        if part == "backbone" or part in trained:
            assert all(p.grad is not None for p in params), part
            assert sum(p.grad.abs().sum() for p in params) > 0, part
        else:
            assert all(p.grad is None for p in params), part
    for stage in (model.stem, model.down):  # every head reads the deep half-resolution features
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in stage.parameters())


def test_the_joint_model_learns_every_head(batch):
    torch.manual_seed(0)
    model, objective = _model(width=8), MultiTask({h: 1.0 for h in HEADS})
    inputs, targets = objective.unpack(batch)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        losses = objective.head_losses(model(*inputs), targets)
        first = first or {h: v.item() for h, v in losses.items()}
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    for head, value in losses.items():
        assert value.item() < 0.6 * first[head], head


def test_bad_inputs_are_clear_errors(batch):
    joint = MultiTask({h: 1.0 for h in HEADS})
    with pytest.raises(BadValueError, match=r"lacks \['tokens_in', 'targets'\]"):
        joint.unpack({k: v for k, v in batch.items() if k not in ("tokens_in", "targets")})
    with pytest.raises(BadValueError, match=r"lacks \['clip'"):
        joint.unpack({"boxes": batch["boxes"]})
    with pytest.raises(BadValueError, match="is a dict with"):
        joint.unpack([batch["clip"]])
    detection_only = MultiTask({"detection": 1.0, "segmentation": 0.0, "caption": 0.0})
    inputs, targets = detection_only.unpack({k: batch[k] for k in ("clip", "boxes", "visible")})
    assert (
        inputs[1] is None and inputs[2] == ("detection",) and set(targets) == {"boxes", "visible"}
    )
    out = _model()(batch["clip"])  # no tokens: no caption
    with pytest.raises(BadValueError, match="with the heads"):
        joint.loss(out, joint.unpack(batch)[1])
    with pytest.raises(BadValueError, match=r"output must be logits \(B, L, V\)"):
        joint.loss({**out, "caption": torch.zeros(6, 3)}, joint.unpack(batch)[1])
    with pytest.raises(BadValueError, match="weights must be a dict with the keys"):
        MultiTask({"detection": 1.0})
    with pytest.raises(BadValueError, match="weight of caption must be a finite number >= 0"):
        MultiTask({"detection": 1.0, "segmentation": 1.0, "caption": -1.0})
    with pytest.raises(BadValueError, match="at least one head"):
        MultiTask(dict.fromkeys(HEADS, 0.0))
    with pytest.raises(BadValueError, match="multi-task model must be one of"):
        build_multitask("center_detector")
    with pytest.raises(BadValueError, match="the multitask task trains one of"):
        RunSpec(model="center_detector", task="multitask")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"width": 2}, "width must be an int >= 4"),
        ({"blocks": -1}, "blocks must be an int >= 0"),
        ({"d_model": 30, "heads": 4}, "d_model must be a multiple of heads"),
        ({"time_stride": 3}, "time_stride must be 1, 2 or 4"),
        ({"space_stride": 16}, "space_stride must be 2, 4 or 8"),
        ({"temporal": 1}, "temporal must be True or False"),
        ({"layers": 0}, "layers must be an int >= 1"),
    ],
)
def test_bad_configs(fields, message):
    with pytest.raises(BadValueError, match=message):
        MultiTaskConfig(**fields)


def test_a_tiny_run_scores_every_head(tmp_path):
    spec = RunSpec(model="multitask_segmentation_only", task="multitask", clip_shape=SHAPE,
                   train_size=8, val_size=4, test_size=3, epochs=1, batch_size=4,
                   checkpoint_dir=tmp_path, progress=False, report=True)  # fmt: skip
    result = run(spec)
    test = result.report["test"]
    assert test["weights"] == {"detection": 0.0, "segmentation": 1.0, "caption": 0.0}
    assert test["detection"]["frames"] == 3 * 8 and 0 <= test["detection"]["ap50"] <= 1
    assert test["segmentation"]["target"] == "actors" and 0 <= test["segmentation"]["J"] <= 1
    assert test["captioning"]["clips"] == 3 and 0 <= test["captioning"]["en"]["beam"]["bleu4"] <= 1
    assert result.history[0]["val_loss"] > 0 and result.report["flops_per_clip_train"] is None
    assert "test AP50 / J / motion words (en, beam)" in result.summary()
    with pytest.raises(BadValueError, match="scores a MultiTaskModel"):
        multitask_test(torch.nn.Linear(2, 2), spec, torch.device("cpu"))
