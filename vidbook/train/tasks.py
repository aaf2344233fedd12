"""The book's tasks, one registry: what ``vidbook.train.run`` and ``vidbook train --task`` need to
train each and score it with the field's metric.

``classification`` trains a model of the zoo on SynthActions or a real data set (the runner's
own path). Every other task is a :class:`Task` (the applications of chapter 7 read SynthScenes,
``vidbook.data.SynthScenes``; masked pre-training and generation, chapter 8, read SynthActions):
its named models, the parts of a run (train and validation loaders, the model, a description of
the data), its objective for the Trainer, and its test on the test split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from vidbook.errors import BadValueError
from vidbook.train import (
    attributes,
    captioning,
    detection,
    generation_task,
    mae,
    multitask,
    qa,
    retrieval,
    segmentation,
)
from vidbook.train.objective import Objective

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec


@dataclass(frozen=True)
class Task:
    """A SynthScenes task.

    ``models``: its named models; ``parts(spec, device) -> (train_loader, val_loader, model,
    description)``; ``objective(spec) -> Objective``; ``test(model, spec, device) -> dict`` of
    field metrics on the test split; ``headline(test) -> (label, text)``: the line that
    ``RunResult.summary()`` shows for the test; ``clip_only``: the model reads a clip alone
    (its FLOPs per clip can be counted), not a clip and words.
    """

    name: str
    models: Mapping[str, Any]
    parts: Callable[[RunSpec, torch.device], tuple[Any, Any, torch.nn.Module, str]]
    objective: Callable[[RunSpec], Objective]
    test: Callable[[torch.nn.Module, RunSpec, torch.device], dict]
    headline: Callable[[dict], tuple[str, str]]
    clip_only: bool = True


def _segmentation_test(model: torch.nn.Module, spec: RunSpec, dev: torch.device) -> dict:
    target = segmentation.SEGMENTERS[spec.model]["target"]
    return segmentation.segmentation_test(model, spec, dev, target)


def _tracking_headline(test: dict) -> tuple[str, str]:
    crossing = test["tracking"]["crossing"]
    iou, seen = crossing["iou"], crossing["appearance"]
    return (
        "crossing clips: IDF1 / MOTA / switches",
        f"IoU only {iou['idf1']:.3f} / {iou['mota']:.3f} / {iou['num_switches']}, with appearance "
        f"{seen['idf1']:.3f} / {seen['mota']:.3f} / {seen['num_switches']} "
        f"({crossing['clips']} clips)",
    )


SCENE_TASKS: dict[str, Task] = {
    "detection": Task(
        "detection",
        detection.DETECTORS,
        detection.detection_parts,
        lambda spec: detection.Detection(),
        detection.detection_test,
        lambda t: ("test AP50 / AP", f"{t['ap50']:.3f} / {t['ap']:.3f} ({t['frames']} frames)"),
    ),
    "tracking": Task(
        "tracking",
        {name: c for name, c in detection.DETECTORS.items() if c["embedding"] > 0},
        detection.detection_parts,
        lambda spec: detection.Detection(),
        detection.detection_test,
        _tracking_headline,
    ),
    "segmentation": Task(
        "segmentation",
        segmentation.SEGMENTERS,
        segmentation.segmentation_parts,
        lambda spec: segmentation.segmenter(spec.model)[1],
        _segmentation_test,
        lambda t: (
            f"test J / F ({t['target']})",
            f"{t['J']:.3f} / {t['F']:.3f} ({t['objects']} clips)",
        ),  # fmt: skip
    ),
    "captioning": Task(
        "captioning",
        captioning.CAPTIONERS,
        captioning.captioning_parts,
        lambda spec: captioning.captioning_objective(spec.model),
        captioning.captioning_test,
        lambda t: (
            "test BLEU-4 / CIDEr / motion words (en, beam)",
            f"{t['en']['beam']['bleu4']:.3f} / {t['en']['beam']['cider']:.3f} / "
            f"{t['en']['beam']['motion_acc']:.3f} ({t['clips']} clips)",
        ),
        clip_only=False,
    ),
    "translation": Task(
        "translation",
        captioning.TRANSLATORS,
        captioning.translation_parts,
        lambda spec: captioning.Translation(),
        captioning.translation_test,
        lambda t: (
            "test BLEU-4 / exact (en -> zh)",
            f"{t['bleu4']:.3f} / {t['exact']:.3f} ({t['n']} captions)",
        ),  # fmt: skip
        clip_only=False,
    ),
    "qa": Task(
        "qa",
        qa.QA_MODELS,
        qa.qa_parts,
        lambda spec: qa.VideoQA(),
        qa.qa_test,
        lambda t: (
            "test accuracy: all / temporal (prior)",
            f"{t['acc']:.3f} / "
            f"{t['acc_temporal']:.3f} ({t['prior_acc']:.3f}, {t['scenes']} scenes)",
        ),  # fmt: skip
        clip_only=False,
    ),
    "retrieval": Task(
        "retrieval",
        retrieval.RETRIEVERS,
        retrieval.retrieval_parts,
        lambda spec: retrieval.Retrieval(),
        retrieval.retrieval_test,
        lambda t: (
            "test R@1 text->video / video->text",
            f"{t['t2v_r1']:.3f} / "
            f"{t['v2t_r1']:.3f} (gallery {t['n']}, chance {t['chance_r1']:.4f})",
        ),  # fmt: skip
        clip_only=False,
    ),
    "multitask": Task(
        "multitask",
        multitask.MULTITASK_MODELS,
        multitask.multitask_parts,
        multitask.multitask_objective,
        multitask.multitask_test,
        multitask.multitask_headline,
        clip_only=False,
    ),
    # Chapter 8: these two read SynthActions (the generator with the classes, the masked
    # autoencoder without them) rather than SynthScenes.
    "attributes": Task(
        "attributes",
        attributes.ATTRIBUTE_MODELS,
        attributes.attribute_parts,
        lambda spec: attributes.Attributes(),
        attributes.attribute_test,
        attributes.attribute_headline,
    ),
    "mae": Task(
        "mae",
        mae.MAE_MODELS,
        mae.mae_parts,
        lambda spec: mae.MaskedPretraining(mae.MAE_MODELS[spec.model]["tubelet"]),
        mae.mae_test,
        mae.mae_headline,
        clip_only=False,
    ),
    "generate": Task(
        "generate",
        generation_task.MODELS,
        generation_task.generation_parts,
        generation_task.generation_objective,
        generation_task.generation_test,
        generation_task.generation_headline,
        clip_only=False,
    ),
}
TASKS = ("classification", *SCENE_TASKS)


def scene_task(name: str) -> Task:
    """The SynthScenes task ``name``; BadValueError naming the tasks for any other."""
    if name not in SCENE_TASKS:
        raise BadValueError(
            f"unknown scene task {name!r}; the scene tasks are {tuple(SCENE_TASKS)}"
        )
    return SCENE_TASKS[name]


def task_models() -> tuple[str, ...]:
    """Every model name a scene task can train (for ``vidbook train --model``)."""
    return tuple(dict.fromkeys(name for task in SCENE_TASKS.values() for name in task.models))
