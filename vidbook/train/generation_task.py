"""Video generation as a task: ``vidbook train --task generate``.

The parts of a run (SynthActions clips with their classes, a :class:`~vidbook.models.dit.VideoDiT`
of :data:`~vidbook.train.generation.GENERATORS`), its objective (flow matching) and its test:
the flow-matching loss at fixed timesteps, then clips generated for every class, judged by a
recogniser trained on *real* clips only (chapter 1's C3D with chapter 1's recipe,
:func:`train_judge`): class accuracy and an FVD-style Fréchet distance on its features
(``vidbook.eval.generation``), for a few samplers and step counts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch
from torch import nn

from vidbook.data import CLASSES, ClipLoader, SynthActions
from vidbook.eval.generation import judge
from vidbook.models import build
from vidbook.models.dit import VideoDiT
from vidbook.runtime import seed_everything
from vidbook.train.generation import (
    build_generator,
    fixed_timestep_losses,
    nfe,
    sample,
)
from vidbook.train.trainer import Trainer

if TYPE_CHECKING:
    from vidbook.train.runner import RunSpec

# How the test samples: (method, steps, guidance), each judged on CLIPS_PER_CLASS clips a class.
SAMPLERS = (("euler", 8, 2.0), ("euler", 32, 2.0), ("heun", 8, 2.0), ("heun", 16, 1.0),
            ("heun", 16, 2.0), ("heun", 16, 4.0))  # fmt: skip
CLIPS_PER_CLASS = 20
REAL_CLIPS = 400  # real test clips: half the reference set, half the "real" reference
JUDGE_RECIPE = {"model": "c3d", "train_size": 4000, "epochs": 3, "lr": 3e-3, "batch_size": 32}


def action_set(spec: RunSpec, split: str, size: int) -> SynthActions:
    """SynthActions ``split`` of ``size`` clips at the spec's shape, difficulty and seed."""
    return SynthActions(
        split, size=size, difficulty=spec.difficulty, seed=spec.seed, **spec.clip_shape.as_dict()
    )


def generation_parts(
    spec: RunSpec, dev: torch.device
) -> tuple[ClipLoader, ClipLoader, VideoDiT, str]:
    """Train and validation batches of SynthActions clips with their classes, the generator
    ``spec.model`` and a description."""
    train = ClipLoader(action_set(spec, "train", spec.train_size), spec.batch_size,
                       seed=spec.seed, device=dev, drop_last=True)  # fmt: skip
    val = ClipLoader(action_set(spec, "val", spec.val_size), max(spec.batch_size, 64),
                     shuffle=False, device=dev)  # fmt: skip
    model = build_generator(spec.model, spec.clip_shape)
    described = (
        f"synth {spec.train_size} train / {spec.val_size} val clips with their classes, "
        f"{spec.clip_shape}, {spec.difficulty}"
    )
    return train, val, model, described


def train_judge(spec: RunSpec, dev: torch.device) -> tuple[nn.Module, dict]:
    """Chapter 1's recogniser (C3D, 4,000 real clips, 3 epochs) at the spec's clip shape and
    difficulty, and its record (validation accuracy on 1,000 real clips, seconds)."""
    seed_everything(spec.seed)
    recipe = JUDGE_RECIPE
    model = build(recipe["model"], num_classes=len(CLASSES))
    trainer = Trainer(model, device=dev, epochs=recipe["epochs"], lr=recipe["lr"], progress=False)
    loader = ClipLoader(action_set(spec, "train", recipe["train_size"]), recipe["batch_size"],
                        seed=spec.seed, device=dev)  # fmt: skip
    history = trainer.fit(loader, ClipLoader(action_set(spec, "val", 1000), 250, shuffle=False,
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
    test = action_set(spec, "test", REAL_CLIPS)
    fixed = test.batch(range(min(64, len(test))), device=dev)
    judge_model, judge_record = train_judge(spec, dev)
    real = test.batch(range(len(test)), device=dev)["clip"]
    return {
        "fixed_timestep_losses": fixed_timestep_losses(model, fixed["clip"], fixed["label"]),
        "judge": judge_record,
        "samplers": judge_samplers(model, judge_model, real, seed=spec.seed),
    }


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
