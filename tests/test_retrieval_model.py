"""Video-text retrieval: the two towers, the symmetric InfoNCE loss, the gallery and the task."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vidbook.clip_shape import ClipShape
from vidbook.data import SynthScenes, scene_text
from vidbook.errors import BadValueError
from vidbook.models.retrieval import RetrievalConfig, RetrievalModel, info_nce
from vidbook.train.retrieval import (
    RETRIEVERS,
    CaptionIdLoader,
    Retrieval,
    build_retriever,
    caption_ids,
    caption_tokenizer,
    retrieval_gallery,
    retrieval_test,
)
from vidbook.train.runner import RunSpec
from vidbook.train.trainer import Trainer

SHAPE = ClipShape(16, 32, 32)
TINY = {"dim": 16, "width": 8, "model_dim": 16, "heads": 2, "queries": 2, "text_layers": 1}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: a second thread only waits


def tiny_model(seed: int = 0, **cfg) -> RetrievalModel:
    torch.manual_seed(seed)
    config = RetrievalConfig(vocab_size=len(caption_tokenizer()), **{**TINY, **cfg})
    return RetrievalModel(config)


def scene_batch(n: int = 4, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    scenes = SynthScenes(split, size=max(n, 8))
    clips = scenes.batch(range(n), captions=False)["clip"]
    return clips, caption_ids(scenes, range(n), caption_tokenizer())


def info_nce_by_cross_entropy(video, text, scale):
    """The textbook form: cross-entropy over rows of the logits and over their columns."""
    logits = scale * video @ text.T
    target = torch.arange(len(video))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


# --- the towers ---------------------------------------------------------------------------
def test_towers_give_unit_vectors_of_the_embedding_size():
    model = tiny_model()
    clips, ids = scene_batch(3)
    video, text, scale = model(clips, ids)
    assert video.shape == text.shape == (3, 16)
    torch.testing.assert_close(video.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(text.norm(dim=1), torch.ones(3))
    assert scale.shape == () and math.isclose(float(scale.detach()), 1 / 0.07, rel_tol=1e-5)
    assert model.similarity(video, text).shape == (3, 3)


def test_text_tower_ignores_padding_and_reads_the_words():
    model = tiny_model().eval()
    _, ids = scene_batch(2)
    padded = torch.cat([ids, torch.zeros(2, 5, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model.text(padded), model.text(ids), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(model.text(ids[:1]), model.text(ids[1:2]))


def test_video_tower_sees_the_clip():
    model = tiny_model().eval()
    clips, _ = scene_batch(2)
    one, other = model.video(clips[:1]), model.video(clips[1:])
    assert (one - other).abs().max() > 1e-4
    # a clip's embedding does not depend on the rest of the batch (eval mode)
    torch.testing.assert_close(model.video(clips)[:1], one, atol=1e-5, rtol=1e-5)


def test_logit_scale_is_clamped():
    model = tiny_model()
    with torch.no_grad():
        model.log_scale.fill_(10.0)
    assert float(model.scale().detach()) == pytest.approx(100.0)


# --- the loss -----------------------------------------------------------------------------
def test_info_nce_on_a_hand_checked_case():
    # Two orthogonal pairs, scale 1: every row and column of the logits is (1, 0), so both
    # directions lose -log(e / (e + 1)) = log(1 + 1/e).
    eye = torch.eye(2)
    assert float(info_nce(eye, eye, 1.0)) == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)
    # Swapped texts: the true pair now scores 0 against 1, the loss is log(1 + e).
    swapped = eye.flip(0)
    assert float(info_nce(eye, swapped, 1.0)) == pytest.approx(math.log(1 + math.e), abs=1e-6)
    # Asymmetric: video 0 = text 0 = (1, 0), video 1 = (0, 1), text 1 = (0.6, 0.8), scale 2.
    video, text = eye, torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    # logits 2 * video @ text.T = [[2, 1.2], [0, 1.6]]
    v2t = (math.log(1 + math.exp(-0.8)) + math.log(1 + math.exp(-1.6))) / 2
    t2v = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-0.4))) / 2
    assert float(info_nce(video, text, 2.0)) == pytest.approx((v2t + t2v) / 2, abs=1e-6)


def test_info_nce_equals_cross_entropy_form_in_value_and_gradient():
    torch.manual_seed(0)
    video = F.normalize(torch.randn(7, 5, dtype=torch.float64), dim=1).requires_grad_()
    text = F.normalize(torch.randn(7, 5, dtype=torch.float64), dim=1).requires_grad_()
    scale = torch.tensor(9.0, dtype=torch.float64, requires_grad=True)
    ours = info_nce(video, text, scale)
    grads = torch.autograd.grad(ours, (video, text, scale))
    reference = info_nce_by_cross_entropy(video, text, scale)
    expected = torch.autograd.grad(reference, (video, text, scale))
    torch.testing.assert_close(ours, reference)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(info_nce, (video, text, scale))


def test_info_nce_is_low_for_matching_pairs_and_chance_for_equal_scores():
    torch.manual_seed(1)
    pairs = F.normalize(torch.randn(8, 16), dim=1)
    assert float(info_nce(pairs, pairs, 100.0)) < 0.05
    same = F.normalize(torch.ones(8, 16), dim=1)
    assert float(info_nce(same, same, 10.0)) == pytest.approx(math.log(8), abs=1e-5)


@pytest.mark.parametrize(
    "video, text, scale, message",
    [
        (torch.ones(3, 4), torch.ones(2, 4), 1.0, "same shape"),
        (torch.ones(3), torch.ones(3), 1.0, r"\(B, D\)"),
        (torch.ones(3, 4, dtype=torch.long), torch.ones(3, 4), 1.0, "float tensor"),
        (torch.ones(3, 4), torch.ones(3, 4), 0.0, "scale"),
        (torch.ones(3, 4), torch.ones(3, 4), float("nan"), "scale"),
        (torch.ones(3, 4), torch.ones(3, 4), torch.ones(2), "scale"),
    ],
)
def test_info_nce_rejects_bad_inputs(video, text, scale, message):
    with pytest.raises(BadValueError, match=message):
        info_nce(video, text, scale)


# --- bad inputs to the model --------------------------------------------------------------
def test_model_rejects_bad_inputs():
    model = tiny_model()
    clips, ids = scene_batch(2)
    with pytest.raises(BadValueError, match="built for clips"):
        model(clips[:, :, :8], ids)
    with pytest.raises(BadValueError, match="time axis"):
        model(clips.transpose(1, 2), ids)
    with pytest.raises(BadValueError, match="2 clips but 1 captions"):
        model(clips, ids[:1])
    with pytest.raises(BadValueError, match="integer tensor"):
        model.text(ids.float())
    with pytest.raises(BadValueError, match="must lie in"):
        model.text(ids + 1000)
    with pytest.raises(BadValueError, match="other than padding"):
        model.text(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(BadValueError, match="max_len"):
        model.text(torch.ones(2, 100, dtype=torch.long))


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"model_dim": 30, "heads": 4}, "divisible"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": 0.01, "max_scale": 50.0}, "max_scale"),
        ({"queries": 0}, "queries"),
    ],
)
def test_config_rejects_bad_values(cfg, message):
    with pytest.raises(BadValueError, match=message):
        RetrievalConfig(vocab_size=90, **cfg)


def test_objective_rejects_batches_without_captions():
    with pytest.raises(BadValueError, match="'ids'"):
        Retrieval().unpack({"clip": torch.zeros(1, 3, 16, 32, 32)})
    with pytest.raises(BadValueError, match="video"):
        Retrieval().loss(torch.zeros(2, 2), None)
    with pytest.raises(BadValueError, match="clip_towers"):
        build_retriever("no_such_model", SHAPE)


# --- the gallery --------------------------------------------------------------------------
def test_gallery_holds_the_first_scenes_with_distinct_captions():
    scenes = SynthScenes("test", size=600)
    gallery = retrieval_gallery(scenes, 400)
    params = scenes.params(range(600))
    captions = [tuple(scene_text.caption_tokens(params.actors(i))) for i in range(600)]
    chosen = [captions[i] for i in gallery]
    assert len(gallery) == 400 and len(set(chosen)) == 400
    assert gallery == sorted(gallery)
    skipped = set(range(gallery[-1] + 1)) - set(gallery)
    assert skipped, "600 scenes of 1-4 actors repeat some captions; the gallery must skip them"
    for i in skipped:  # every scene left out repeats a caption of an earlier chosen scene
        assert captions[i] in {captions[j] for j in gallery if j < i}


def test_gallery_rejects_impossible_sizes():
    scenes = SynthScenes("test", size=50)
    with pytest.raises(BadValueError, match="more scenes"):
        retrieval_gallery(scenes, 60)
    with pytest.raises(BadValueError, match="size"):
        retrieval_gallery(scenes, 0)
    with pytest.raises(BadValueError, match="SynthScenes"):
        retrieval_gallery(list(range(10)), 5)


# --- training -----------------------------------------------------------------------------
def test_tiny_overfit_retrieves_every_training_pair():
    torch.manual_seed(0)
    model = tiny_model(seed=0)
    clips, ids = scene_batch(8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    first = None
    for _ in range(80):
        loss = info_nce(*model(clips, ids))
        first = float(loss.detach()) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        video, text, _ = model(clips, ids)
    similarity = model.similarity(video, text)
    assert float(loss.detach()) < 0.2 * first
    assert torch.equal(similarity.argmax(dim=1), torch.arange(8))  # text -> video
    assert torch.equal(similarity.argmax(dim=0), torch.arange(8))  # video -> text


def test_task_trains_through_the_trainer_and_reports_recall(tmp_path):
    spec = RunSpec(model="clip_towers", clip_shape=SHAPE, train_size=32, val_size=16,
                   batch_size=16, epochs=1, seed=0)  # fmt: skip
    assert "clip_towers" in RETRIEVERS
    scenes = SynthScenes("train", size=32)
    loader = CaptionIdLoader(scenes, 16, seed=0, drop_last=True)
    batch = next(iter(loader))
    assert batch["ids"].shape[0] == 16 and batch["ids"][:, 0].eq(1).all()  # <bos> first
    model = tiny_model()
    trainer = Trainer(model, objective=Retrieval(), epochs=1, progress=False, device="cpu")
    history = trainer.fit(loader)
    assert math.isfinite(history[-1]["train_loss"])
    metrics = retrieval_test(model, spec, torch.device("cpu"), size=20)
    assert metrics["n"] == 20 and metrics["chance_r1"] == pytest.approx(0.05)
    for key in ("t2v_r1", "t2v_r5", "v2t_r1", "v2t_r5"):
        assert 0.0 <= metrics[key] <= 1.0
    assert 1 <= metrics["t2v_median_rank"] <= 20
