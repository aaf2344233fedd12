"""A video encoder taught every attribute the words will ask about: the task ``attributes``.

A video-language model reads a *pre-trained* video encoder, and the field's encoders were
trained to tell apart what language names (CLIP on captions, supervised encoders on labels).
Chapter 8's language model asks about an actor's colour, shape and motion, so its encoder is
chapter 1's C3D with one linear head per attribute: 10 motions, 8 colours and 5 shapes, the sum
of the three cross-entropies as the loss. ``vidbook train --task attributes --model c3d`` trains
it; :func:`attribute_features` is the encoder the language model then reads.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.data import ClipLoader
from vidbook.data.synth import CLASSES, COLOURS, SHAPES
from vidbook.errors import BadValueError
from vidbook.models import build
from vidbook.runtime import eval_mode
from vidbook.train.checkpoint import load_weights
from vidbook.train.mae import action_sets
from vidbook.train.objective import Objective

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec

ATTRIBUTES = {"action": len(CLASSES), "colour": len(COLOURS), "shape": len(SHAPES)}
ATTRIBUTE_MODELS: dict[str, dict] = {"c3d": {}}  # zoo models whose ``features`` are the encoder


def split_logits(logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Logits (B, 23) -> one (B, K) block per attribute, in the order of :data:`ATTRIBUTES`."""
    if logits.ndim != 2 or logits.shape[1] != sum(ATTRIBUTES.values()):
        raise BadValueError(f"attribute logits: expected (B, {sum(ATTRIBUTES.values())}), got "
                            f"{tuple(logits.shape)}")  # fmt: skip
    return dict(zip(ATTRIBUTES, logits.split(list(ATTRIBUTES.values()), dim=1), strict=True))


class Attributes(Objective):
    """Clips in, logits (B, 23) out; loss = the sum of the three attributes' cross-entropies;
    an item is right when all three are."""

    accuracy = True

    def unpack(self, batch: Any) -> tuple[torch.Tensor, dict]:
        missing = [k for k in ("clip", "label", "colour", "shape") if k not in batch]
        if missing:
            raise BadValueError(f"an attribute batch needs clip, label, colour and shape; "
                                f"missing {missing}")  # fmt: skip
        return batch["clip"], {"action": batch["label"], "colour": batch["colour"],
                               "shape": batch["shape"]}  # fmt: skip

    def loss(self, output: Any, targets: dict) -> torch.Tensor:
        parts = split_logits(output.float())
        return sum(F.cross_entropy(parts[k], targets[k]) for k in ATTRIBUTES)

    def correct(self, output: Any, targets: dict) -> torch.Tensor:
        parts = split_logits(output)
        right = torch.stack([parts[k].argmax(1) == targets[k] for k in ATTRIBUTES])
        return right.all(0).sum()


def attribute_parts(
    spec: RunSpec, dev: torch.device
) -> tuple[ClipLoader, ClipLoader, nn.Module, str]:
    """Labelled SynthActions train and validation batches, the model and a description."""
    train = ClipLoader(action_sets(spec, "train", spec.train_size), spec.batch_size,
                       seed=spec.seed, device=dev, drop_last=True)  # fmt: skip
    val = ClipLoader(action_sets(spec, "val", spec.val_size), max(spec.batch_size, 64),
                     shuffle=False, device=dev)  # fmt: skip
    model = build(spec.model, num_classes=sum(ATTRIBUTES.values()), **ATTRIBUTE_MODELS[spec.model])
    described = (f"synth {spec.train_size} train / {spec.val_size} val clips, {spec.clip_shape}, "
                 f"{spec.difficulty}; heads: {ATTRIBUTES}")  # fmt: skip
    return train, val, model, described


def attribute_accuracy(model: nn.Module, loader: ClipLoader) -> dict:
    """Accuracy of each attribute and of all three at once on ``loader``'s clips."""
    right = {k: 0 for k in (*ATTRIBUTES, "all")}
    n = 0
    with eval_mode(model), torch.no_grad():
        for batch in loader:
            clip, targets = Attributes().unpack(batch)
            parts = split_logits(model(clip))
            hits = {k: parts[k].argmax(1) == targets[k] for k in ATTRIBUTES}
            for k, hit in hits.items():
                right[k] += int(hit.sum())
            right["all"] += int(torch.stack(list(hits.values())).all(0).sum())
            n += len(clip)
    return {f"acc_{k}": v / n for k, v in right.items()} | {"clips": n}


def attribute_test(model: nn.Module, spec: RunSpec, dev: torch.device) -> dict:
    """Per-attribute accuracy on the test split."""
    test = action_sets(spec, "test", spec.test_size or spec.val_size)
    return attribute_accuracy(model, ClipLoader(test, 250, shuffle=False, device=dev))


def attribute_headline(test: dict) -> tuple[str, str]:
    """The line ``vidbook train --task attributes`` prints."""
    return ("test accuracy: motion / colour / shape / all three",
            f"{test['acc_action']:.3f} / {test['acc_colour']:.3f} / {test['acc_shape']:.3f} / "
            f"{test['acc_all']:.3f} ({test['clips']} clips)")  # fmt: skip


def attribute_features(model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """The encoder's last feature map, channels last: clips (B, C, T, H, W) -> (B, T', H', W', D)."""
    return model.features(clips).permute(0, 2, 3, 4, 1).contiguous()


def load_attribute_model(
    path: str | os.PathLike, clip_shape: tuple[int, int, int] = (16, 32, 32)
) -> tuple[nn.Module, dict]:
    """The C3D of ``vidbook train --task attributes --model c3d ... --weights-out path``, in eval
    mode, and what came with its weights (identity, history, record). CheckpointError if the
    file holds another run's weights."""
    model = build("c3d", num_classes=sum(ATTRIBUTES.values()))
    stored = load_weights(model, path, {"task": "attributes", "model": "c3d",
                                        "clip_shape": list(clip_shape)})  # fmt: skip
    return model.eval(), stored
