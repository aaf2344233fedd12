"""The ``vidbook`` command: ``info``, ``train``, ``bench`` and ``prepare-demo``."""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from vidbook import runtime
from vidbook.clip_shape import ClipShape
from vidbook.errors import BadValueError, VidbookError, error_line

if TYPE_CHECKING:
    from vidbook.train import RunSpec


def _print_table(rows: dict, title: str | None = None) -> None:
    if title:
        print(title)
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"  {key:<{width}}  {value}")


def _parser() -> argparse.ArgumentParser:
    from vidbook.models import available
    from vidbook.train.runner import DATA_SETS
    from vidbook.train.tasks import TASKS, task_models

    parser = argparse.ArgumentParser(prog="vidbook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("info", help="print versions, device and profile")

    train = sub.add_parser("train", help="train a model and print its metrics")
    train.add_argument("--model", choices=(*available(), *task_models()), help="model name")
    train.add_argument(
        "--task",
        default="classification",
        choices=TASKS,
        help="what to train (default: %(default)s)",
    )
    train.add_argument("--data", default="synth", choices=DATA_SETS, help="data set")
    train.add_argument("--root", help="folder of a real data set (ucf101, hmdb51, kinetics)")
    train.add_argument("--split", type=int, default=1, help="official split 1, 2 or 3 (UCF/HMDB)")
    train.add_argument("--stride", type=int, default=2, help="frame stride of real-video clips")
    train.add_argument("--workers", type=int, default=0, help="decoding processes for real video")
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=3e-3)
    train.add_argument("--weight-decay", type=float, default=0.05)
    train.add_argument("--schedule", default="cosine", help="cosine, constant, step, one_cycle")
    train.add_argument("--accumulate", type=int, default=1, help="batches per optimizer step")
    train.add_argument("--amp", default="auto", help="auto (bf16 on CUDA), bf16, fp16, off")
    train.add_argument("--frames", type=int, help="frames per clip (default: by profile)")
    train.add_argument("--height", type=int, help="frame height (default: by profile)")
    train.add_argument("--width", type=int, help="frame width (default: by profile)")
    train.add_argument("--difficulty", default="medium", help="easy, medium or hard")
    train.add_argument("--train-size", type=int, help="training clips (default: by profile)")
    train.add_argument("--val-size", type=int, help="validation clips (default: by profile)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    train.add_argument("--checkpoint-dir", help="default: runs/<model>-<data>")
    train.add_argument("--resume", action="store_true", help="continue from checkpoint-dir")
    train.add_argument("--time-limit", type=float, help="stop after the epoch that passes it (s)")
    train.add_argument("--progress", choices=("auto", "on", "off"), default="auto")
    train.add_argument("--json", action="store_true", help="print the history as JSON too")
    train.add_argument(
        "--variant", choices=("tiny", "small", "base"), help="model size (default: the model's)"
    )
    train.add_argument("--compile", action="store_true", help="train through torch.compile")
    train.add_argument("--check-every", type=int, default=1, help="steps between nan checks")
    train.add_argument("--out", help="write the results (test metrics, provenance) as JSON here")
    train.add_argument(
        "--weights-out",
        help="also write the trained weights (float16, no optimizer state) with the run's "
        "identity and command here, to load with vidbook.train.load_weights",
    )
    train.add_argument(
        "--target", type=float, default=0.95, help="validation accuracy timed to (default: 0.95)"
    )
    train.add_argument(
        "--test-size", type=int, help="synth test clips for --out (default: the val size)"
    )
    _add_bench_parser(sub, available())
    _add_demo_parser(sub)
    return parser


def _add_demo_parser(sub: argparse._SubParsersAction) -> None:
    from vidbook.data.demo import LAYOUTS

    demo = sub.add_parser(
        "prepare-demo",
        help="write a small data set in the official layout of UCF101, HMDB51 or Kinetics",
        description="Render SynthActions clips and write them as video files with the split files "
        "of a real data set's official layout, so that the real-data path can be followed "
        "without downloading anything.",
    )
    demo.add_argument("path", help="folder to write (new, empty, or an earlier demo of the layout)")
    demo.add_argument("--layout", required=True, choices=LAYOUTS)
    demo.add_argument("--classes", type=int, help="number of classes (default: all ten)")
    demo.add_argument("--groups", type=int, default=7, help="UCF101-style groups (default: 7)")
    demo.add_argument("--clips-per-group", type=int, default=2)
    demo.add_argument("--frames", type=int, default=48, help="frames per video")
    demo.add_argument("--height", type=int, default=64)
    demo.add_argument("--width", type=int, default=64)
    demo.add_argument("--fps", type=float, default=25.0)
    demo.add_argument("--seed", type=int, default=0)


def _add_bench_parser(sub: argparse._SubParsersAction, models: list[str]) -> None:
    from vidbook.bench import DEFAULT_MODELS

    bench = sub.add_parser(
        "bench",
        help="measure clip rendering and model training speed (clips/s)",
        description="Clips per second of SynthActions rendering and of training steps of each "
        "model (forward, cross-entropy, backward, AdamW; bf16 autocast on CUDA), on one device.",
    )
    bench.add_argument(
        "--models",
        nargs="+",
        choices=models,
        default=list(DEFAULT_MODELS),
        help=f"models to time in training (default: {' '.join(DEFAULT_MODELS)})",
    )
    which = bench.add_mutually_exclusive_group()
    which.add_argument("--no-render", action="store_true", help="time the models only")
    which.add_argument("--render-only", action="store_true", help="time the rendering only")
    bench.add_argument(
        "--batch-size", type=int, help="clips per batch (default: 256 to render, 32 to train)"
    )
    bench.add_argument("--frames", type=int, default=16, help="frames per clip")
    bench.add_argument("--height", type=int, default=32, help="frame height")
    bench.add_argument("--width", type=int, default=32, help="frame width")
    bench.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    bench.add_argument(
        "--seconds",
        type=float,
        default=3.0,
        help="rendering time, and least training time per model (default: 3)",
    )
    bench.add_argument("--steps", type=int, default=10, help="least timed training steps")
    bench.add_argument(
        "--actors",
        type=int,
        help="render SynthScenes with this many actors (1-4), not SynthActions",
    )
    bench.add_argument(
        "--variant", choices=("tiny", "small", "base"), help="model size (default: each model's)"
    )
    bench.add_argument("--compile", action="store_true", help="torch.compile the models")
    bench.add_argument(
        "--torchvision",
        action="store_true",
        help="also time torchvision's model of the same name, where it has one (needs torchvision)",
    )
    bench.add_argument(
        "--ladder",
        nargs="+",
        default=[],
        choices=models,
        metavar="MODEL",
        help="time these models at each step of fp32 -> bf16 -> fused kernels -> torch.compile",
    )
    bench.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    bench.add_argument("--out", help="also write the results and their provenance as JSON here")
    bench.add_argument(
        "--suite",
        action="store_true",
        help="measure the device's whole suite (the model zoo, rendering, the speed-up ladder) "
        "and write bench-<device>.json into --out-dir",
    )
    bench.add_argument(
        "--out-dir", default="data/results", help="with --suite (default: %(default)s)"
    )
    bench.add_argument(
        "--no-compile", action="store_true", help="with --suite: leave torch.compile off the ladder"
    )
    bench.add_argument(
        "--decode",
        action="store_true",
        help="time video decoding instead: the whole file vs 16-frame clips (PyAV)",
    )
    bench.add_argument(
        "--video", help="with --decode: the video to read (default: a 10 s test video)"
    )


# Least values of the integer options, and which float options must be > 0 or >= 0.
# fmt: off
_INT_MINIMUMS = dict(
    epochs=1, batch_size=1, train_size=1, val_size=1, test_size=1, seed=0, steps=1, threads=1,
    accumulate=1, split=1, stride=1, workers=0, groups=3, clips_per_group=1, classes=2,
    check_every=1, actors=1, frames=ClipShape.MIN_FRAMES, height=ClipShape.MIN_SIDE, width=ClipShape.MIN_SIDE,
)
# fmt: on
_POSITIVE = ("lr", "time_limit", "seconds", "fps", "target")
_NON_NEGATIVE = ("weight_decay",)


def _check_args(args: argparse.Namespace) -> None:
    """ValueError naming the option (``argument --frames: ...``) of the first bad value."""
    for name, value in vars(args).items():
        flag = "--" + name.replace("_", "-")
        if value is None or isinstance(value, bool):
            continue
        if name in _INT_MINIMUMS and value < _INT_MINIMUMS[name]:
            raise BadValueError(
                f"argument {flag}: must be an int >= {_INT_MINIMUMS[name]}, got {value}"
            )
        if name in _POSITIVE and not (math.isfinite(value) and value > 0):
            raise BadValueError(f"argument {flag}: must be a finite number > 0, got {value}")
        if name == "target" and value > 1:
            raise BadValueError(f"argument {flag}: must be an accuracy in (0, 1], got {value}")
        if name in _NON_NEGATIVE and not (math.isfinite(value) and value >= 0):
            raise BadValueError(f"argument {flag}: must be a finite number >= 0, got {value}")


def _run_spec(args: argparse.Namespace) -> RunSpec:
    """The RunSpec of ``vidbook train``'s options (the profile fills in what is not given)."""
    from vidbook.train import RunSpec
    from vidbook.train.runner import PROFILE_DEFAULTS

    if args.model is None:
        if args.task == "classification":
            raise BadValueError("argument --model: a classification run needs a model name")
        from vidbook.train.tasks import scene_task

        args.model = next(iter(scene_task(args.task).models))  # the task's first model
    if args.data != "synth" and not args.root:
        raise BadValueError(
            f"argument --root: --data {args.data} reads videos from a folder; give it with --root "
            f"(vidbook prepare-demo --layout {args.data} PATH writes a small one)"
        )
    defaults = PROFILE_DEFAULTS[runtime.profile()]
    return RunSpec(
        model=args.model,
        task=args.task,
        data=args.data,
        root=args.root,
        split=args.split,
        stride=args.stride,
        workers=args.workers,
        clip_shape=ClipShape.resolve(
            args.frames, args.height, args.width, default=defaults["clip_shape"]
        ),
        difficulty=args.difficulty,
        train_size=args.train_size,
        val_size=args.val_size,
        test_size=args.test_size,
        variant=args.variant,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        accumulate=args.accumulate,
        amp=args.amp,
        seed=args.seed,
        device=args.device,
        checkpoint_dir=args.checkpoint_dir,
        resume=args.resume,
        time_limit_s=args.time_limit,
        progress={"auto": "auto", "on": True, "off": False}[args.progress],
        compile=args.compile,
        check_every=args.check_every,
        target=args.target,
        report=bool(args.out),
        command="vidbook " + shlex.join(args.argv),
    )


def train(args: argparse.Namespace) -> dict:
    """``vidbook train``: ``vidbook.train.run`` on the options; rank 0 prints the final metrics
    (and writes ``--out``)."""
    from vidbook import distributed
    from vidbook.train import run

    result = run(_run_spec(args))
    rows = result.summary()
    if distributed.is_main_process():
        if args.out:
            text = json.dumps(result.report, indent=1) + "\n"
            runtime.atomic_write(args.out, lambda f: f.write(text))
            rows["results"] = args.out
        if args.weights_out:
            rows["weights"] = str(result.export_weights(args.weights_out))
        _print_table(rows, "final metrics")
        if args.json:
            print(json.dumps(result.history, indent=1))
    return rows


def prepare_demo(args: argparse.Namespace) -> Path:
    """Write a demo data set with ``vidbook.data.demo.write_demo`` and say how to train on it."""
    from vidbook.data.demo import write_demo

    root = write_demo(
        args.layout,
        args.path,
        classes=args.classes,
        groups=args.groups,
        clips_per_group=args.clips_per_group,
        frames=args.frames,
        height=args.height,
        width=args.width,
        fps=args.fps,
        seed=args.seed,
        progress=True,
    )
    print(f"wrote a {args.layout} demo data set to {root}")
    print(
        f"train on it:  vidbook train --model c3d --data {args.layout} --root {shlex.quote(str(root))}"
    )
    return root


def bench(args: argparse.Namespace, command: str | None = None) -> dict:
    """``vidbook bench``: ``vidbook.bench.run`` (or ``suite``, or ``run_decode``) on the
    options, printed as a table by ``vidbook.bench.report``."""
    from vidbook import bench as vbench

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.decode:
        result = vbench.run_decode(args.video, threads=args.threads, command=command)
        if args.out:
            vbench.write_json(result, args.out)
        vbench.print_decode(result, out=args.out)
        return result
    if args.video:
        raise BadValueError("argument --video: only used with --decode")
    if args.suite:
        result = vbench.suite(
            device=args.device,
            out_dir=args.out_dir,
            seconds=args.seconds,
            steps=args.steps,
            compile_ladder=not args.no_compile,
            command=command,
        )
        vbench.print_suite(result, vbench.suite_file(args.out_dir, result["device"]))
        return result
    result = vbench.run(
        models=[] if args.render_only else args.models,
        render=not args.no_render,
        batch_size=args.batch_size,
        clip_shape=ClipShape(args.frames, args.height, args.width),
        device=args.device,
        seconds=args.seconds,
        steps=args.steps,
        variant=args.variant,
        compile=args.compile,
        torchvision=args.torchvision,
        ladder_models=args.ladder,
        out=args.out,
        command=command,
        actors=args.actors,
    )
    vbench.print_run(result, out=args.out)
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vidbook`` console script and of ``python -m vidbook``.

    Returns 0, or 2 for an error of the user's input: any ``VidbookError`` (bad values and
    devices, missing or empty files, unreadable videos and checkpoints) and any other
    ValueError or OSError, printed as one line ``vidbook <command>: error: <message>`` on
    stderr, without a traceback. argparse exits with 2 itself for unknown commands, options
    and choices.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    try:
        _check_args(args)
        if args.command == "info":
            _print_table(runtime.info(), "vidbook info")
        elif args.command == "train":
            train(args)
        elif args.command == "bench":
            bench(args, command="vidbook " + shlex.join(argv))
        elif args.command == "prepare-demo":
            prepare_demo(args)
    except (VidbookError, ValueError, OSError) as err:
        print(f"vidbook {args.command}: error: {error_line(err)}", file=sys.stderr)
        return 2
    return 0
