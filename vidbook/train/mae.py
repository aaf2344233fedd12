"""Masked video pre-training as a task, and what it is worth with few labels.

``vidbook train --task mae`` pre-trains a :class:`~vidbook.models.mae.VideoMAE` on SynthActions
clips *without their labels* (the Trainer's :class:`MaskedPretraining` objective: tube masking,
loss on the hidden tubelets' normalised pixels). Its test then asks the question that justifies
pre-training: with only a share of the labels (1 % and 10 % of the pre-training clips, the same
clips now labelled), how well does a classifier on the pre-trained encoder do, fine-tuned or as
a linear probe, against the same classifier trained from scratch on the same clips with the same
recipe? :func:`label_efficiency` answers it; the notebook of chapter 8 calls the same functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from vidbook.clip_shape import ClipShape
from vidbook.data import ClipLoader, SynthActions
from vidbook.errors import BadValueError
from vidbook.models.mae import MAEClassifier, MAEConfig, VideoMAE, mae_loss, tube_mask
from vidbook.runtime import eval_mode
from vidbook.train.objective import Objective, unpack_labelled
from vidbook.train.trainer import Trainer

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec

# Named masked autoencoders (MAEConfig fields; frames and size come from the clip shape).
MAE_MODELS: dict[str, dict] = {
    "videomae_tiny": {"tubelet": (2, 8, 8), "dim": 128, "depth": 4, "heads": 4,
                      "decoder_dim": 64, "decoder_depth": 2, "decoder_heads": 4},
}  # fmt: skip
LABEL_SHARES = (0.01, 0.1)  # shares of the pre-training clips whose labels the classifiers get


class MaskedPretraining(Objective):
    """Clips in (labels ignored), the model's ``(prediction, mask)`` out, loss = MSE on the
    hidden tubelets' normalised pixels. The mask is drawn inside the model from torch's global
    random numbers, so a resumed run draws the same masks as an uninterrupted one."""

    def __init__(self, tubelet: tuple[int, int, int]) -> None:
        self.tubelet = tuple(tubelet)

    def unpack(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        clip, _ = unpack_labelled(batch)
        return clip, clip

    def loss(self, output: Any, targets: torch.Tensor) -> torch.Tensor:
        if not (isinstance(output, tuple) and len(output) == 2):
            raise BadValueError(
                "a masked autoencoder returns (prediction, mask), got " + type(output).__name__
            )
        prediction, mask = output
        return mae_loss(prediction, targets, mask, self.tubelet)


def mae_config(name: str, clip_shape: ClipShape, mask_ratio: float = 0.9) -> MAEConfig:
    """The config of the named model :data:`MAE_MODELS` ``name`` for square clips of
    ``clip_shape``."""
    if name not in MAE_MODELS:
        raise BadValueError(f"the mae task trains one of {tuple(MAE_MODELS)}, got {name!r}")
    if clip_shape.height != clip_shape.width:
        raise BadValueError(f"the masked autoencoder needs square frames, got {clip_shape}")
    return MAEConfig(
        frames=clip_shape.frames, size=clip_shape.height, mask_ratio=mask_ratio, **MAE_MODELS[name]
    )


def action_sets(spec: RunSpec, split: str, size: int) -> SynthActions:
    """SynthActions ``split`` of ``size`` clips, at the spec's shape, difficulty and seed."""
    return SynthActions(
        split, size=size, difficulty=spec.difficulty, seed=spec.seed, **spec.clip_shape.as_dict()
    )


def mae_parts(spec: RunSpec, dev: torch.device) -> tuple[ClipLoader, ClipLoader, VideoMAE, str]:
    """Train and validation batches of unlabelled SynthActions clips, the masked autoencoder
    ``spec.model`` and a description."""
    train = ClipLoader(action_sets(spec, "train", spec.train_size), spec.batch_size,
                       seed=spec.seed, device=dev, drop_last=True)  # fmt: skip
    val = ClipLoader(action_sets(spec, "val", spec.val_size), max(spec.batch_size, 64),
                     shuffle=False, device=dev)  # fmt: skip
    model = VideoMAE(mae_config(spec.model, spec.clip_shape))
    described = (
        f"synth {spec.train_size} train / {spec.val_size} val clips without labels, "
        f"{spec.clip_shape}, {spec.difficulty}; tube masking {model.cfg.mask_ratio:.0%}"
    )
    return train, val, model, described


def reconstruction_loss(model: VideoMAE, clips: torch.Tensor, seed: int = 0) -> float:
    """The masked autoencoder's loss on ``clips`` (B, C, T, H, W) with masks drawn from
    ``seed``: the same masks every time, so two models (or two moments) compare fairly."""
    generator = torch.Generator().manual_seed(seed)
    mask = tube_mask(len(clips), model.cfg.grid, model.cfg.mask_ratio, generator, clips.device)
    with eval_mode(model), torch.no_grad():
        return float(model.loss(clips, mask))


@dataclass(frozen=True)
class FinetuneRecipe:
    """How every classifier of :func:`label_efficiency` is trained: AdamW, cosine schedule,
    ``steps`` optimizer steps whatever the number of labelled clips (so each arm gets the same
    compute), batches of ``batch_size``. ``probe_lr`` is the linear probe's learning rate."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    probe_lr: float = 1e-2
    weight_decay: float = 0.05


FINETUNE_RECIPE = FinetuneRecipe()


def train_classifier(
    cfg: MAEConfig,
    labelled: SynthActions,
    test: SynthActions,
    pretrained: dict | None,
    probe: bool,
    recipe: FinetuneRecipe,
    device: torch.device,
    seed: int = 0,
) -> dict:
    """Train :class:`MAEClassifier` on ``labelled`` (from ``pretrained`` encoder weights, or
    from scratch when None) and return ``{"acc", "clips", "seconds", "history"}`` on ``test``."""
    if probe and pretrained is None:
        raise BadValueError("a linear probe needs pre-trained weights (pretrained=None)")
    torch.manual_seed(seed)
    model = MAEClassifier(cfg, labelled.num_classes, probe=probe)
    if pretrained is not None:
        model.load_pretrained(pretrained)
    batch = min(recipe.batch_size, len(labelled))
    epochs = max(1, math.ceil(recipe.steps / max(1, len(labelled) // batch)))
    loader = ClipLoader(labelled, batch, seed=seed, device=device, drop_last=True)
    trainer = Trainer(model, device=device, epochs=epochs, weight_decay=recipe.weight_decay,
                      lr=recipe.probe_lr if probe else recipe.lr, progress=False, seed=seed)  # fmt: skip
    history = trainer.fit(loader)
    result = trainer.evaluate(ClipLoader(test, 250, shuffle=False, device=device))
    return {
        "acc": result["acc"],
        "clips": len(labelled),
        "epochs": epochs,
        "seconds": sum(row["seconds"] for row in history),
        "history": [{"epoch": r["epoch"], "train_loss": r["train_loss"]} for r in history],
    }


def label_efficiency(
    mae: VideoMAE,
    spec: RunSpec,
    device: torch.device,
    shares: tuple[float, ...] = LABEL_SHARES,
    recipe: FinetuneRecipe | None = None,
) -> dict:
    """For each share of labels: test accuracy of the classifier fine-tuned from ``mae``'s
    encoder, of its linear probe, and of the same classifier from scratch (same clips, same
    steps). The labelled clips are the first ``share x train_size`` of the pre-training clips."""
    recipe = recipe or FINETUNE_RECIPE
    state = {k: v.detach().cpu() for k, v in mae.state_dict().items()}
    test = action_sets(spec, "test", spec.test_size or spec.val_size)
    out: dict[str, Any] = {"test_clips": len(test), "recipe": recipe.__dict__, "shares": {}}
    for share in shares:
        n = round(share * spec.train_size)
        if n < 10:
            raise BadValueError(
                f"{share:.0%} of {spec.train_size} clips is {n} labelled clips; at least 10 "
                "are needed (raise train_size)"
            )
        labelled = action_sets(spec, "train", n)
        arms = {"finetuned": (state, False), "probe": (state, True), "scratch": (None, False)}
        out["shares"][str(share)] = {
            arm: train_classifier(
                mae.cfg, labelled, test, weights, probe, recipe, device, spec.seed
            )
            for arm, (weights, probe) in arms.items()
        }
    return out


def mae_test(model: VideoMAE, spec: RunSpec, dev: torch.device) -> dict:
    """Reconstruction loss on test clips (fixed masks), then :func:`label_efficiency`."""
    test = action_sets(spec, "test", min(256, spec.test_size or spec.val_size))
    clips = test.batch(range(len(test)), device=dev)["clip"]
    return {
        "reconstruction_loss": reconstruction_loss(model, clips, spec.seed),
        "mask_ratio": model.cfg.mask_ratio,
        **label_efficiency(model, spec, dev),
    }


def mae_headline(test: dict) -> tuple[str, str]:
    """The line ``vidbook train --task mae`` prints: accuracies at 1 % of the labels."""
    share = test["shares"][str(LABEL_SHARES[0])]
    return (
        f"test accuracy with {LABEL_SHARES[0]:.0%} of labels: fine-tuned / probe / scratch",
        f"{share['finetuned']['acc']:.3f} / {share['probe']['acc']:.3f} / "
        f"{share['scratch']['acc']:.3f} ({share['finetuned']['clips']} labelled clips)",
    )
