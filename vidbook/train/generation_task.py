"""Video generation as a task: ``vidbook train --task generate``.

The parts of a run (SynthActions clips with their classes, a :class:`~vidbook.models.dit.VideoDiT`
of :data:`~vidbook.train.generation.GENERATORS`), its objective (flow matching) and its test:
the flow-matching loss at fixed timesteps, then clips generated for every class, judged by a
recogniser trained on *real* clips only (chapter 1's C3D with chapter 1's recipe,
:func:`train_judge`): class accuracy and an FVD-style Fréchet distance on its features
(``vidbook.eval.generation``), for a few samplers and step counts.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.clip_shape import ClipShape
from vidbook.data import CLASSES, ClipLoader, SynthActions
from vidbook.errors import BadValueError
from vidbook.eval.generation import judge
from vidbook.models import build
from vidbook.models.dit import DiTConfig, VideoDiT
from vidbook.models.latent_dit import LatentDiT
from vidbook.models.video_autoencoder import AutoencoderConfig, VideoAutoencoder
from vidbook.runtime import seed_everything
from vidbook.train.checkpoint import CheckpointError, load_checkpoint, load_weights
from vidbook.train.generation import (
    GENERATORS,
    FlowMatching,
    build_generator,
    fixed_timestep_losses,
    nfe,
    sample,
)
from vidbook.train.mae import action_sets
from vidbook.train.objective import Objective, unpack_labelled
from vidbook.train.trainer import Trainer

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec

# How the test samples: (method, steps, guidance), each judged on CLIPS_PER_CLASS clips a class.
SAMPLERS = (("euler", 8, 3.0), ("euler", 32, 3.0), ("heun", 4, 3.0), ("heun", 16, 1.0),
            ("heun", 16, 3.0), ("heun", 16, 5.0))  # fmt: skip
CLIPS_PER_CLASS = 20
REAL_CLIPS = 400  # real test clips: half the reference set, half the "real" reference
JUDGE_RECIPE = {"model": "c3d", "train_size": 4000, "epochs": 3, "lr": 3e-3, "batch_size": 32}
# Latent generators: a 3D autoencoder (trained first, then frozen) and a DiT over its latents.
LATENT_GENERATORS: dict[str, dict] = {
    "latent_dit": {
        "autoencoder": {"width": 32, "latent_channels": 8, "time_factor": 4, "space_factor": 4},
        "dit": {"patch": (1, 2, 2), "dim": 128, "depth": 4, "heads": 4, "mlp_ratio": 4,
                "class_dropout": 0.1},
    },
}  # fmt: skip
MODELS = {**GENERATORS, **LATENT_GENERATORS}
AUTOENCODER_RECIPE = {"train_size": 32000, "batch_size": 32, "lr": 2e-3, "epochs": 1}


def generation_objective(spec: RunSpec) -> FlowMatching:
    """Flow matching with the model's class dropout and uniform timesteps (in short runs the
    logit-normal draw leaves the ends of the path, where sampling starts, under-trained)."""
    config = LATENT_GENERATORS[spec.model]["dit"] if spec.model in LATENT_GENERATORS else (
        GENERATORS[spec.model])  # fmt: skip
    return FlowMatching(class_dropout=config["class_dropout"], timesteps="uniform")


class Reconstruction(Objective):
    """Clips in, the autoencoder's reconstruction out, mean squared error."""

    def unpack(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        clip, _ = unpack_labelled(batch)
        return clip, clip

    def loss(self, output: Any, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output.float(), targets.float())


class LatentLoader(ClipLoader):
    """A ClipLoader whose batches also hold ``latent``: the clips encoded by ``model``."""

    def __init__(self, dataset: SynthActions, batch_size: int, model: LatentDiT, **kwargs) -> None:
        super().__init__(dataset, batch_size, **kwargs)
        self.model = model

    def load(self, indices: torch.Tensor) -> dict:
        batch = super().load(indices)
        batch["latent"] = self.model.to_model_space(batch["clip"])
        return batch


def train_autoencoder(
    spec: RunSpec, dev: torch.device, cfg: AutoencoderConfig
) -> tuple[VideoAutoencoder, dict]:
    """The autoencoder of a latent generator, trained on its own (:data:`AUTOENCODER_RECIPE`,
    SynthActions clips of a split of their own, ``"train"`` with seed + 1), its latent scale
    set on 256 clips; and its record (loss, seconds, compression)."""
    recipe = AUTOENCODER_RECIPE
    seed_everything(spec.seed)
    autoencoder = VideoAutoencoder(cfg)
    clips = SynthActions("train", size=recipe["train_size"], difficulty=spec.difficulty,
                         seed=spec.seed + 1, **spec.clip_shape.as_dict())  # fmt: skip
    trainer = Trainer(autoencoder, objective=Reconstruction(), device=dev, epochs=recipe["epochs"],
                      lr=recipe["lr"], weight_decay=0.0, progress=False, seed=spec.seed)  # fmt: skip
    history = trainer.fit(ClipLoader(clips, recipe["batch_size"], seed=spec.seed, device=dev,
                                     drop_last=True))  # fmt: skip
    autoencoder.eval()
    scale = autoencoder.set_latent_scale(
        clips.batch(range(min(256, len(clips))), device=dev)["clip"]
    )
    shape = spec.clip_shape
    return autoencoder, {**recipe, "train_loss": history[-1]["train_loss"], "latent_scale": scale,
                         "seconds": sum(r["seconds"] for r in history),
                         **autoencoder.compression((shape.frames, shape.height, shape.width))}  # fmt: skip


def build_latent_generator(
    name: str,
    clip_shape: ClipShape,
    autoencoder: VideoAutoencoder | None = None,
    record: dict | None = None,
) -> LatentDiT:
    """The latent generator ``name`` of :data:`LATENT_GENERATORS` for square clips of
    ``clip_shape``: ``autoencoder`` (a new, untrained one when None, e.g. to load weights
    into) and a new DiT sized to its latents."""
    if name not in LATENT_GENERATORS:
        raise BadValueError(f"the latent generator must be one of {tuple(LATENT_GENERATORS)}, "
                            f"got {name!r}")  # fmt: skip
    if not clip_shape.is_square:
        raise BadValueError(f"{name} generates square frames, got {clip_shape}")
    config = LATENT_GENERATORS[name]
    autoencoder = autoencoder or VideoAutoencoder(AutoencoderConfig(**config["autoencoder"]))
    ae = autoencoder.cfg
    dit = DiTConfig(**config["dit"], in_channels=ae.latent_channels,
                    frames=clip_shape.frames // ae.time_factor,
                    size=clip_shape.height // ae.space_factor)  # fmt: skip
    return LatentDiT(autoencoder, VideoDiT(dit), record)


def load_generator(path: str | os.PathLike) -> tuple[VideoDiT | LatentDiT, dict]:
    """A generator and what came with its weights (identity, step, history, record), from a
    file that ``vidbook train --task generate ... --weights-out`` wrote; in eval mode.
    CheckpointError if the file holds another task's weights."""
    identity = load_checkpoint(path).get("identity") or {}
    if identity.get("task") != "generate" or identity.get("model") not in MODELS:
        raise CheckpointError(f"{path} does not hold a generator of {tuple(MODELS)}; its run "
                              f"was {identity or 'not recorded'}")  # fmt: skip
    name, shape = identity["model"], ClipShape(*identity["clip_shape"])
    model = (build_latent_generator(name, shape) if name in LATENT_GENERATORS
             else build_generator(name, shape))  # fmt: skip
    stored = load_weights(model, path, identity)
    return model.eval(), stored


def generation_parts(
    spec: RunSpec, dev: torch.device
) -> tuple[ClipLoader, ClipLoader, VideoDiT | LatentDiT, str]:
    """Train and validation batches of SynthActions clips with their classes, the generator
    ``spec.model`` and a description. A latent generator first trains its autoencoder
    (:func:`train_autoencoder`), and its batches carry the clips' latents."""
    train_set = action_sets(spec, "train", spec.train_size)
    val_set = action_sets(spec, "val", spec.val_size)
    described = (
        f"synth {spec.train_size} train / {spec.val_size} val clips with their classes, "
        f"{spec.clip_shape}, {spec.difficulty}"
    )
    if spec.model not in LATENT_GENERATORS:
        train = ClipLoader(train_set, spec.batch_size, seed=spec.seed, device=dev, drop_last=True)
        val = ClipLoader(val_set, max(spec.batch_size, 64), shuffle=False, device=dev)
        return train, val, build_generator(spec.model, spec.clip_shape), described
    if not spec.clip_shape.is_square:  # before the autoencoder's training, not after it
        raise BadValueError(f"{spec.model} generates square frames, got {spec.clip_shape}")
    autoencoder, record = train_autoencoder(
        spec, dev, AutoencoderConfig(**LATENT_GENERATORS[spec.model]["autoencoder"])
    )
    model = build_latent_generator(spec.model, spec.clip_shape, autoencoder, record).to(dev)
    ae, dit = autoencoder.cfg, model.cfg
    train = LatentLoader(train_set, spec.batch_size, model, seed=spec.seed, device=dev,
                         drop_last=True)  # fmt: skip
    val = LatentLoader(val_set, max(spec.batch_size, 64), model, shuffle=False, device=dev)
    described += (
        f"; latents {ae.latent_channels}x{dit.frames}x{dit.size}x{dit.size} "
        f"({record['ratio']:.0f}x fewer numbers)"
    )
    return train, val, model, described


def train_judge(spec: RunSpec, dev: torch.device) -> tuple[nn.Module, dict]:
    """Chapter 1's recogniser (C3D, 4,000 real clips, 3 epochs) at the spec's clip shape and
    difficulty, and its record (validation accuracy on 1,000 real clips, seconds)."""
    seed_everything(spec.seed)
    recipe = JUDGE_RECIPE
    model = build(recipe["model"], num_classes=len(CLASSES))
    trainer = Trainer(model, device=dev, epochs=recipe["epochs"], lr=recipe["lr"], progress=False)
    loader = ClipLoader(action_sets(spec, "train", recipe["train_size"]), recipe["batch_size"],
                        seed=spec.seed, device=dev)  # fmt: skip
    history = trainer.fit(loader, ClipLoader(action_sets(spec, "val", 1000), 250, shuffle=False,
                                             device=dev))  # fmt: skip
    return model, {**recipe, "val_acc": history[-1]["val_acc"],
                   "seconds": sum(r["seconds"] for r in history)}  # fmt: skip


def judge_samplers(
    generator: VideoDiT,
    judge_model: nn.Module,
    real: torch.Tensor,
    samplers: tuple[tuple[str, int, float], ...] | None = None,
    per_class: int | None = None,
    seed: int = 0,
) -> list[dict]:
    """For each (method, steps, guidance) of ``samplers`` (default :data:`SAMPLERS`):
    ``per_class`` (default :data:`CLIPS_PER_CLASS`) clips of every class, judged against
    ``real`` clips (:func:`vidbook.eval.generation.judge`), with the NFE and seconds."""
    samplers, per_class = samplers or SAMPLERS, per_class or CLIPS_PER_CLASS
    labels = torch.arange(generator.cfg.num_classes).repeat_interleave(per_class)
    rows = []
    for method, steps, guidance in samplers:
        start = time.perf_counter()
        clips = sample(generator, labels, steps=steps, method=method, guidance=guidance, seed=seed)
        seconds = time.perf_counter() - start
        verdict = judge(judge_model, clips, labels, real.to(clips.device), seed=seed)
        rows.append({"method": method, "steps": steps, "guidance": guidance,
                     "nfe": nfe(method, steps), "seconds": seconds, **verdict})  # fmt: skip
    return rows


def generation_test(model: VideoDiT, spec: RunSpec, dev: torch.device) -> dict:
    """Fixed-timestep losses on 64 test clips; the judge; every sampler of :data:`SAMPLERS`."""
    test = action_sets(spec, "test", REAL_CLIPS)
    fixed = test.batch(range(min(64, len(test))), device=dev)
    judge_model, judge_record = train_judge(spec, dev)
    real = test.batch(range(len(test)), device=dev)["clip"]
    out = {
        "fixed_timestep_losses": fixed_timestep_losses(model, fixed["clip"], fixed["label"]),
        "judge": judge_record,
        "samplers": judge_samplers(model, judge_model, real, seed=spec.seed),
    }
    if isinstance(model, LatentDiT):
        out["autoencoder"] = model.autoencoder_record
        with torch.no_grad():
            decoded = model.to_clips(model.to_model_space(real))
        out["judge_on_reconstructions"] = judge(
            judge_model,
            decoded,
            test.batch(range(len(test)), device=dev)["label"],
            real,
            references=(),
            seed=spec.seed,
        )["accuracy"]
    return out


def generation_headline(test: dict) -> tuple[str, str]:
    """The line ``vidbook train --task generate`` prints: the best sampler's verdict."""
    best = max(test["samplers"], key=lambda row: row["accuracy"])
    frechet = best["frechet"]
    return (
        "generated clips: class accuracy / Fréchet (shuffled real, noise)",
        f"{best['accuracy']:.3f} / {frechet['generated']:.2f} ({frechet['shuffled']:.2f}, "
        f"{frechet['noise']:.2f}) with {best['method']} {best['steps']} steps, "
        f"guidance {best['guidance']:g}",
    )
