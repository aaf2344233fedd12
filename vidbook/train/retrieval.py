"""Video-text retrieval as a task: the Retrieval objective (symmetric InfoNCE), the named
two-tower models, their data and their test (recall at K over a gallery of distinct captions).

``retrieval_parts(spec, dev)`` and ``retrieval_test(model, spec, dev)`` follow the detection
task's pattern (``vidbook.train.tasks``): the first gives the train and validation batches of
SynthScenes clips with their English captions as word ids, the model ``spec.model`` of
:data:`RETRIEVERS` and a description; the second ranks a gallery of test clips by every test
caption and back (R@1, R@5, R@10, median rank, both ways; chance R@1 is 1 / gallery size).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from vidbook.checks import check_int
from vidbook.clip_shape import ClipShape
from vidbook.data import ClipLoader, SynthScenes, scene_text
from vidbook.data.tokenizer import WordTokenizer
from vidbook.errors import BadValueError
from vidbook.eval.retrieval import retrieval_metrics
from vidbook.models.retrieval import RetrievalConfig, RetrievalModel, info_nce
from vidbook.runtime import eval_mode
from vidbook.train.objective import Objective
from vidbook.train.scene_sets import scene_set

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec

# Two-tower models by name, with the settings measured in chapter 7.
RETRIEVERS: dict[str, dict] = {
    "clip_towers": {
        "width": 32,
        "model_dim": 64,
        "queries": 8,
        "text_layers": 2,
        "frame_stride": 2,
        "dim": 128,
    },  # fmt: skip
}
# The quick-profile recipe measured for chapter 7 (16x32x32 clips, one pass over fresh clips;
# bf16 autocast speeds the frame CNN on CPUs with AVX512-BF16 and GPUs alike).
QUICK_RECIPE = {"train_size": 28000, "val_size": 256, "batch_size": 32, "epochs": 1,
                "lr": 1e-3, "weight_decay": 0.05, "amp": "bf16"}  # fmt: skip
GALLERY_SIZE = 500  # test clips with distinct captions that every caption is ranked against
LANGUAGE = "en"


def caption_tokenizer() -> WordTokenizer:
    """The word tokenizer of SynthScenes' captions (``scene_text.VOCAB``; 0 = padding)."""
    return WordTokenizer(scene_text.VOCAB)


def caption_ids(scenes: SynthScenes, indices: Any, tokenizer: WordTokenizer) -> torch.Tensor:
    """The English captions of scenes ``indices`` as ids (B, L), <bos> ... <eos>, padded."""
    params = scenes.params(indices)
    tokens = [scene_text.caption_tokens(params.actors(i), LANGUAGE)
              for i in range(len(params.index))]  # fmt: skip
    return tokenizer.encode_batch(tokens)


class CaptionIdLoader(ClipLoader):
    """A ClipLoader whose batches also hold ``ids`` (B, L): each clip's caption as word ids."""

    def __init__(self, dataset: SynthScenes, batch_size: int = 64, **kwargs: Any) -> None:
        super().__init__(dataset, batch_size, **kwargs)
        self.tokenizer = caption_tokenizer()

    def load(self, indices: torch.Tensor) -> dict:
        batch = self.dataset.batch(indices, device=self.device, captions=False)
        batch["ids"] = caption_ids(self.dataset, indices, self.tokenizer).to(batch["clip"].device)
        return batch


class Retrieval(Objective):
    """Clips and their captions' ids in, the symmetric InfoNCE of the batch's pairs out: the
    model returns ``(video, text, scale)`` and every other item of the batch is a negative."""

    def unpack(self, batch: Any) -> tuple[tuple[torch.Tensor, torch.Tensor], None]:
        if not isinstance(batch, dict) or "clip" not in batch or "ids" not in batch:
            got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise BadValueError(
                f"a retrieval batch is a dict with 'clip' and 'ids' (CaptionIdLoader), got {got}"
            )
        return (batch["clip"], batch["ids"]), None

    def loss(self, output: Any, targets: None) -> torch.Tensor:
        if not (isinstance(output, tuple) and len(output) == 3):
            raise BadValueError(
                "a retrieval model returns (video (B, D), text (B, D), scale), got "
                f"{type(output).__name__}"
            )
        return info_nce(*output)


def build_retriever(name: str, clip_shape: ClipShape) -> RetrievalModel:
    """The model ``name`` of :data:`RETRIEVERS` for clips of ``clip_shape``."""
    if name not in RETRIEVERS:
        raise BadValueError(f"the retrieval task trains one of {tuple(RETRIEVERS)}, got {name!r}")
    cfg = RetrievalConfig(vocab_size=len(caption_tokenizer()), **RETRIEVERS[name])
    return RetrievalModel(cfg, clip_shape.frames, (clip_shape.height, clip_shape.width))


def retrieval_parts(
    spec: RunSpec, dev: torch.device
) -> tuple[CaptionIdLoader, CaptionIdLoader, RetrievalModel, str]:
    """Train and validation batches of SynthScenes clips with caption ids, the two-tower model
    ``spec.model`` and a description. With a train split of 20,000 and one or two epochs,
    nearly every step sees fresh clips (rendering is fast enough to draw them as it goes)."""
    scenes = [scene_set(spec, "train"), scene_set(spec, "val")]
    train = CaptionIdLoader(scenes[0], spec.batch_size, seed=spec.seed, device=dev, drop_last=True)
    val = CaptionIdLoader(scenes[1], spec.batch_size, shuffle=False, device=dev, drop_last=True)
    model = build_retriever(spec.model, spec.clip_shape)
    described = (
        f"SynthScenes {spec.train_size} train / {spec.val_size} val clips with English captions, "
        f"{spec.clip_shape}, 1-4 actors, {spec.difficulty}"
    )
    return train, val, model, described


def retrieval_gallery(scenes: SynthScenes, size: int) -> list[int]:
    """Indices of the first ``size`` scenes of ``scenes`` whose English captions are all
    distinct (a scene whose caption appeared before is skipped): with two equal captions, which
    video is "the" right one would be a coin toss, and R@1 would be ill-defined."""
    size = check_int("size", size)
    if not isinstance(scenes, SynthScenes):
        raise BadValueError(f"scenes must be a SynthScenes, got {type(scenes).__name__}")
    seen: set[tuple[str, ...]] = set()
    chosen: list[int] = []
    for start in range(0, len(scenes), 1024):
        params = scenes.params(range(start, min(start + 1024, len(scenes))))
        for i in range(len(params.index)):
            caption = tuple(scene_text.caption_tokens(params.actors(i), LANGUAGE))
            if caption not in seen:
                seen.add(caption)
                chosen.append(start + i)
                if len(chosen) == size:
                    return chosen
    raise BadValueError(
        f"a gallery of {size} distinct captions needs more scenes: {len(scenes)} scenes hold "
        f"only {len(chosen)} distinct captions"
    )


@torch.no_grad()
def embed_gallery(model: RetrievalModel, scenes: SynthScenes, indices: list[int],
                  dev: torch.device, batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Video and text unit vectors (N, D) of scenes ``indices`` (in eval mode), on the CPU."""
    tokenizer, videos, texts = caption_tokenizer(), [], []
    with eval_mode(model):
        for start in range(0, len(indices), batch_size):
            part = indices[start : start + batch_size]
            clips = scenes.batch(part, device=dev, captions=False)["clip"]
            video, text, _ = model(clips, caption_ids(scenes, part, tokenizer).to(dev))
            videos.append(video.float().cpu())
            texts.append(text.float().cpu())
    return torch.cat(videos), torch.cat(texts)


def retrieval_test(model: RetrievalModel, spec: RunSpec, dev: torch.device,
                   size: int | None = None) -> dict:  # fmt: skip
    """Text-to-video and video-to-text R@1, R@5, R@10, median and mean rank
    (``vidbook.eval.retrieval_metrics``) of ``model`` on a gallery of ``size`` SynthScenes
    test clips whose captions are all distinct (:func:`retrieval_gallery`; default
    ``spec.test_size``, else :data:`GALLERY_SIZE`), plus ``n`` and ``chance_r1`` (1 / size)."""
    size = size or spec.test_size or GALLERY_SIZE
    scenes = scene_set(spec, "test", size=max(4 * size, 2000))
    gallery = retrieval_gallery(scenes, size)
    video, text = embed_gallery(model, scenes, gallery, dev)
    return {**retrieval_metrics(RetrievalModel.similarity(video, text)), "chance_r1": 1 / size}
