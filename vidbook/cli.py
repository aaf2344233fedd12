"""The ``vidbook`` command: ``info``, ``train``, ``bench`` and ``prepare-demo``."""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import json
import math
import platform
import shlex
import statistics
import sys
from pathlib import Path

import torch

from vidbook import runtime
from vidbook.errors import BadValueError, VidbookError

# "synth" renders SynthActions; the others read real videos in their official layouts (--root).
DATA_SETS = ("synth", "ucf101", "hmdb51", "kinetics")
FOLDER_DATA_SETS = DATA_SETS[1:]
# Clip size and data set sizes per profile: small on a CPU, the published 112x112 on a GPU.
PROFILE_DEFAULTS = {
    "quick": {"frames": 16, "height": 32, "width": 32, "train_size": 4000, "val_size": 1000},
    "full": {"frames": 16, "height": 112, "width": 112, "train_size": 20000, "val_size": 2000},
}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        if package == "vidbook":
            import vidbook

            return f"{vidbook.__version__} (not installed: run pip install -e .)"
        return "not installed"


def info() -> dict:
    """Versions, device and profile, as printed by ``vidbook info``."""
    dev = runtime.device()
    return {
        "vidbook": _version("vidbook"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": _version("numpy"),
        "av (PyAV)": _version("av"),
        "device": str(dev),
        "device name": runtime.device_name(dev),
        "profile": runtime.profile(),
        "cpu threads": torch.get_num_threads(),
    }


def _print_table(rows: dict, title: str | None = None) -> None:
    if title:
        print(title)
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"  {key:<{width}}  {value}")


def _parser() -> argparse.ArgumentParser:
    from vidbook.models import available

    parser = argparse.ArgumentParser(prog="vidbook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("info", help="print versions, device and profile")

    train = sub.add_parser("train", help="train a model and print its metrics")
    train.add_argument("--model", required=True, choices=available(), help="model name")
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
    train.add_argument(
        "--accumulate", type=int, default=1, help="batches per optimizer step (default: 1)"
    )
    train.add_argument(
        "--amp", default="auto", help="auto (bf16 on CUDA), bf16, fp16 (with a grad scaler), off"
    )
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
    train.add_argument(
        "--check-every",
        type=int,
        default=1,
        help="steps between reads of the non-finite-loss flag (more: fewer host-GPU waits)",
    )
    train.add_argument(
        "--out",
        help="write the results as JSON here: history, test accuracy (synth), time to --target, "
        "clips/s, FLOPs, provenance",
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
_INT_MINIMUMS = {
    "epochs": 1,
    "batch_size": 1,
    "frames": 2,
    "height": 8,
    "width": 8,
    "train_size": 1,
    "val_size": 1,
    "seed": 0,
    "steps": 1,
    "threads": 1,
    "accumulate": 1,
    "split": 1,
    "stride": 1,
    "workers": 0,
    "groups": 3,
    "clips_per_group": 1,
    "classes": 2,
    "check_every": 1,
    "test_size": 1,
}
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


def train(args: argparse.Namespace) -> dict:
    """Build data, model and trainer from the arguments, fit, print the final metrics."""
    from vidbook import distributed

    defaults = PROFILE_DEFAULTS[runtime.profile()]
    size = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in defaults.items()}
    # Under torchrun: join the process group; each process gets its GPU (or the CPU). A device
    # torch cannot use here is an error naming the available ones, before any work.
    dev = distributed.init_distributed(args.device) or runtime.device()
    try:
        return _fit(args, size, dev)
    finally:
        distributed.cleanup()


def _fit(args: argparse.Namespace, size: dict, dev: torch.device) -> dict:
    """The body of ``train``: data, model, Trainer.fit and the final table (rank 0 prints)."""
    from vidbook import distributed
    from vidbook.data import ClipLoader, SynthActions
    from vidbook.models import build_for_clips
    from vidbook.train import Trainer

    # Seed first: the model's initial weights (and anything else random built below) then
    # depend on --seed alone, so two runs with the same seed train the same model.
    runtime.seed_everything(args.seed)
    world = {k: size[k] for k in ("frames", "height", "width")}
    if args.data in FOLDER_DATA_SETS:
        train_set, val_set, train_loader, val_loader = _folder_data(args, world)
        described = (
            f"{args.data} at {args.root}: {len(train_set)} train / {len(val_set)} val videos"
        )
    else:
        train_set = SynthActions(
            "train", size=size["train_size"], difficulty=args.difficulty, seed=args.seed, **world
        )
        val_set = SynthActions(
            "val", size=size["val_size"], difficulty=args.difficulty, seed=args.seed, **world
        )
        train_loader = ClipLoader(train_set, batch_size=args.batch_size, seed=args.seed, device=dev)
        val_loader = ClipLoader(
            val_set, batch_size=max(args.batch_size, 64), shuffle=False, device=dev
        )
        described = f"synth {size['train_size']} train / {size['val_size']} val clips"
    variant = {} if args.variant is None else {"variant": args.variant}
    model = build_for_clips(args.model, train_set.num_classes, **world, **variant)
    checkpoint_dir = Path(args.checkpoint_dir or f"runs/{args.model}-{args.data}")
    trainer = Trainer(
        model,
        device=dev,
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        accumulate=args.accumulate,
        amp=args.amp,
        seed=args.seed,
        checkpoint_dir=str(checkpoint_dir),
        resume=args.resume,
        time_limit_s=args.time_limit,
        progress={"auto": "auto", "on": True, "off": False}[args.progress],
        compile=args.compile,
        check_every=args.check_every,
    )
    history = trainer.fit(train_loader, val_loader)
    last = history[-1]
    result = {
        "model": args.model,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": f"{described}, {world['frames']}x{world['height']}x{world['width']}"
        + (f", {args.difficulty}" if args.data == "synth" else ""),
        "device": str(dev),
        "epochs": last["epoch"],
        "train loss": f"{last['train_loss']:.4f}",
        "train accuracy": f"{last['train_acc']:.3f}",
        "val loss": f"{last['val_loss']:.4f}",
        "val accuracy": f"{last['val_acc']:.3f}",
        "train seconds": f"{sum(r['seconds'] for r in history):.1f}",
        "clips/s": f"{last['clips_per_s']:.0f}",
        "processes": trainer.world_size,
        "checkpoint": str(checkpoint_dir / "last.pt"),
    }
    if args.out:
        report = _train_report(args, trainer, size, world, dev)
        result["test accuracy"] = (
            f"{report['test']['acc']:.3f}" if report["test"] is not None else "-"
        )
        result["time to target"] = (
            f"{report['time_to_target_s']:.1f} s (epoch {report['epoch_to_target']})"
            if report["time_to_target_s"] is not None
            else f"not reached ({args.target:g})"
        )
        if distributed.is_main_process():
            runtime.atomic_write(args.out, lambda f: f.write(json.dumps(report, indent=1) + "\n"))
            result["results"] = args.out
    if distributed.is_main_process():
        _print_table(result, "final metrics")
        if args.json:
            print(json.dumps(history, indent=1))
    return result


def _train_report(
    args: argparse.Namespace, trainer, size: dict, world: dict, dev: torch.device
) -> dict:
    """What ``vidbook train --out`` writes: settings, history, test accuracy on the SynthActions
    test split (None for real data), time to the target validation accuracy (the training
    seconds up to the end of the first epoch that reached it), clips/s and provenance."""
    from vidbook.data import ClipLoader, SynthActions
    from vidbook.models.flops import clip_flops

    history = trainer.history
    elapsed, epoch_to_target, time_to_target = 0.0, None, None
    for row in history:
        elapsed += row["seconds"]
        if row["val_acc"] is not None and row["val_acc"] >= args.target:
            epoch_to_target, time_to_target = row["epoch"], elapsed
            break
    test = None
    if args.data == "synth":
        test_set = SynthActions(
            "test",
            size=args.test_size or size["val_size"],
            difficulty=args.difficulty,
            seed=args.seed,
            **world,
        )
        loader = ClipLoader(
            test_set, batch_size=max(args.batch_size, 64), shuffle=False, device=dev
        )
        metrics = trainer.evaluate(loader)
        test = {"acc": metrics["acc"], "loss": metrics["loss"], "clips": len(test_set)}
    steady = [row["clips_per_s"] for row in history[1:]] or [history[0]["clips_per_s"]]
    model = trainer.model
    meta = copy.deepcopy(model).to("meta")  # FLOPs are counted from shapes alone
    return {
        "model": args.model,
        "variant": args.variant,
        "parameters": sum(p.numel() for p in model.parameters()),
        "flops_per_clip_train": clip_flops(meta, **world, backward=True),
        "data": {
            "name": args.data,
            **world,
            "train_size": size["train_size"] if args.data == "synth" else None,
            "val_size": size["val_size"] if args.data == "synth" else None,
            "difficulty": args.difficulty if args.data == "synth" else None,
            "seed": args.seed,
        },
        "recipe": {
            **trainer.config.to_dict(),
            "batch_size": args.batch_size,
            "processes": trainer.world_size,
        },
        "history": history,
        "target": args.target,
        "epoch_to_target": epoch_to_target,
        "time_to_target_s": time_to_target,
        "test": test,
        "clips_per_s": statistics.median(steady),
        "train_seconds": sum(row["seconds"] for row in history),
        "device": str(dev),
        "device_name": runtime.device_name(dev),
        "provenance": runtime.provenance("vidbook " + shlex.join(args.argv)),
    }


def _folder_data(args: argparse.Namespace, world: dict) -> tuple:
    """Train and validation sets and loaders of a real data set in its official layout."""
    from vidbook.data import HMDB51, UCF101, Kinetics, video_loader

    if not args.root:
        raise BadValueError(
            f"argument --root: --data {args.data} reads videos from a folder; give it with --root "
            f"(vidbook prepare-demo --layout {args.data} PATH writes a small one)"
        )
    if world["height"] != world["width"]:
        raise BadValueError(
            f"arguments --height/--width: real-video clips are square crops, got "
            f"{world['height']}x{world['width']}"
        )
    clip = {
        "clip_len": world["frames"],
        "stride": args.stride,
        "size": world["height"],
        "seed": args.seed,
    }
    if args.data == "kinetics":
        notes = Path(args.root) / "annotations"
        # The validation list is validate.csv in DeepMind's releases, val.csv in some copies.
        val_csv = next(
            (notes / n for n in ("validate.csv", "val.csv") if (notes / n).is_file()),
            notes / "validate.csv",
        )
        train_set = Kinetics(args.root, notes / "train.csv", "train", **clip)
        val_set = Kinetics(args.root, val_csv, "val", **clip)
    else:
        layout = {"ucf101": UCF101, "hmdb51": HMDB51}[args.data]
        train_set = layout(args.root, args.split, train=True, **clip)
        val_set = layout(args.root, args.split, train=False, **clip)
    loaders = [
        video_loader(
            data, args.batch_size, shuffle=shuffle, num_workers=args.workers, seed=args.seed
        )
        for data, shuffle in ((train_set, True), (val_set, False))
    ]
    return train_set, val_set, *loaders


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


def _print_columns(header: list[str], rows: list[list[str]]) -> None:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells).rstrip())


def _bench_rows(result: dict) -> list[list[str]]:
    """One table row per measurement: what, batch, clips/s, ms per batch, TFLOP/s, MFU,
    parameters, peak memory."""
    rows = []
    if result["render"] is not None:
        r = result["render"]
        rows.append(
            [
                f"render synth ({r['difficulty']})",
                str(r["batch_size"]),
                f"{r['clips_per_s']:,.1f}",
                f"{r['ms_per_batch']:,.1f}",
                *["-"] * 4,
            ]
        )
    for name, t in result["train"].items():
        rows.append([f"train {name}", *_train_cells(t)])
    return rows


def _train_cells(t: dict) -> list[str]:
    peak = t["peak_memory_bytes"]
    return [
        str(t["batch_size"]),
        f"{t['clips_per_s']:,.1f}",
        f"{t['ms_per_step']:,.1f}",
        f"{t['tflops']:,.3g}",
        f"{100 * t['mfu']:.1f} %" if t["mfu"] is not None else "-",
        f"{t['parameters']:,}",
        f"{peak / 2**20:,.0f} MiB" if peak is not None else "-",
    ]


_BENCH_HEADER = ["batch", "clips/s", "ms/batch", "TFLOP/s", "MFU", "parameters", "peak memory"]


def _print_ladder(title: str, rows: list[dict]) -> None:
    """The rows of ``vidbook.bench.ladder`` as a table, with their speed-ups."""
    print(f"\nspeed-up ladder of {title}")
    table = [[r["rung"], *_train_cells(r), f"{r['speedup']:.2f}x"] for r in rows]
    _print_columns(["setting", *_BENCH_HEADER, "speed-up"], table)


def bench(args: argparse.Namespace, command: str | None = None) -> dict:
    """Run ``vidbook.bench.run`` with the arguments and print its numbers as a table."""
    from vidbook import bench as vbench

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.decode:
        return _bench_decode(args, command)
    if args.suite:
        return _bench_suite(args, command)
    if args.video:
        raise BadValueError("argument --video: only used with --decode")
    result = vbench.run(
        models=[] if args.render_only else args.models,
        render=not args.no_render,
        batch_size=args.batch_size,
        frames=args.frames,
        height=args.height,
        width=args.width,
        device=args.device,
        seconds=args.seconds,
        steps=args.steps,
        variant=args.variant,
        compile=args.compile,
        torchvision=args.torchvision,
        ladder_models=args.ladder,
        out=args.out,
        command=command,
    )
    prov = result["provenance"]
    print(
        f"vidbook bench on {result['device']} ({result['device_name']}), torch {prov['torch']}, "
        f"CPU threads: {prov['threads']}"
    )
    print(f"clips of {args.frames} frames x {args.height} x {args.width} pixels")
    if result["peak_tflops"]:
        print(f"MFU against a bf16 peak of {result['peak_tflops']:g} TFLOP/s")
    print()
    _print_columns(["measurement", *_BENCH_HEADER], _bench_rows(result))
    for model, rows in result["ladder"].items():
        _print_ladder(model, rows)
    if args.out:
        print(f"\nwrote {args.out}")
    return result


def _bench_suite(args: argparse.Namespace, command: str | None) -> dict:
    """``vidbook bench --suite``: the device's suite, printed and written to --out-dir."""
    from vidbook import bench as vbench

    result = vbench.suite(
        device=args.device,
        out_dir=args.out_dir,
        seconds=args.seconds,
        steps=args.steps,
        compile_ladder=not args.no_compile,
        command=command,
    )
    print(f"vidbook bench --suite on {result['device']} ({result['device_name']})")
    print()
    rows = [
        [
            f"render synth {r['frames']}x{r['height']}x{r['width']}",
            str(r["batch_size"]),
            f"{r['clips_per_s']:,.1f}",
            f"{r['ms_per_batch']:,.1f}",
            *["-"] * 4,
        ]
        for r in result["render"]
    ]
    for t in result["train"]:
        label = f"{t['source']}/{t['model']}" if t["source"] != "vidbook" else t["model"]
        label += f" {t['variant'] or ''} {t['frames']}x{t['height']}x{t['width']}"
        rows.append([f"train {' '.join(label.split())}", *_train_cells(t)])
    _print_columns(["measurement", *_BENCH_HEADER], rows)
    for entry in result["ladder"]:
        size = f"{entry['frames']}x{entry['size']}x{entry['size']}"
        _print_ladder(f"{entry['model']} {entry['variant']} {size}", entry["rows"])
    slug = vbench.device_slug(vbench.resolve_device(args.device))
    print(f"\nwrote {Path(args.out_dir) / f'bench-{slug}.json'}")
    return result


def _bench_decode(args: argparse.Namespace, command: str | None) -> dict:
    """``vidbook bench --decode``: frames/s of whole-file and of sampled-clip decoding."""
    from vidbook.bench_decode import run_decode, summary

    result = run_decode(args.video, threads=args.threads, command=command)
    print(summary(result))
    if args.out:
        runtime.atomic_write(args.out, lambda f: f.write(json.dumps(result, indent=1) + "\n"))
        print(f"\nwrote {args.out}")
    return result


# torch re-raises an error of a DataLoader worker with the worker's traceback in its message.
_WORKER_TRACEBACK = "Original Traceback (most recent call last):"


def error_line(err: BaseException) -> str:
    """The message of ``err`` as one line: a worker's traceback dropped, line breaks joined."""
    text = str(err)
    if _WORKER_TRACEBACK in text:
        kind = type(err)
        name = kind.__qualname__
        if kind.__module__ != "builtins":
            name = f"{kind.__module__}.{name}"
        start = text.rfind(f"{name}: ")  # the traceback's last line, "module.Class: message"
        if start >= 0:
            text = text[start + len(name) + 2 :]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


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
            _print_table(info(), "vidbook info")
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
