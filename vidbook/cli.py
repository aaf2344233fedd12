"""The ``vidbook`` command: ``vidbook info`` and ``vidbook train``."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
from pathlib import Path

import torch

from vidbook import runtime

DATA_SETS = ("synth",)
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
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=3e-3)
    train.add_argument("--weight-decay", type=float, default=0.05)
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
    return parser


def train(args: argparse.Namespace) -> dict:
    """Build data, model and trainer from the arguments, fit, print the final metrics."""
    from vidbook.data import ClipLoader, SynthActions
    from vidbook.models import build
    from vidbook.train import Trainer

    defaults = PROFILE_DEFAULTS[runtime.profile()]
    size = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in defaults.items()}
    dev = torch.device(args.device) if args.device else runtime.device()
    world = {k: size[k] for k in ("frames", "height", "width")}
    train_set = SynthActions(
        "train", size=size["train_size"], difficulty=args.difficulty, seed=args.seed, **world
    )
    val_set = SynthActions(
        "val", size=size["val_size"], difficulty=args.difficulty, seed=args.seed, **world
    )
    train_loader = ClipLoader(train_set, batch_size=args.batch_size, seed=args.seed, device=dev)
    val_loader = ClipLoader(val_set, batch_size=max(args.batch_size, 64), shuffle=False, device=dev)
    model = build(args.model, num_classes=train_set.num_classes)
    checkpoint_dir = Path(args.checkpoint_dir or f"runs/{args.model}-{args.data}")
    trainer = Trainer(
        model,
        device=dev,
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        seed=args.seed,
        checkpoint_dir=str(checkpoint_dir),
        resume=args.resume,
        time_limit_s=args.time_limit,
        progress={"auto": "auto", "on": True, "off": False}[args.progress],
    )
    history = trainer.fit(train_loader, val_loader)
    last = history[-1]
    result = {
        "model": args.model,
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": f"{args.data} {size['train_size']} train / {size['val_size']} val clips, "
        f"{world['frames']}x{world['height']}x{world['width']}, {args.difficulty}",
        "device": str(dev),
        "epochs": last["epoch"],
        "train loss": f"{last['train_loss']:.4f}",
        "train accuracy": f"{last['train_acc']:.3f}",
        "val loss": f"{last['val_loss']:.4f}",
        "val accuracy": f"{last['val_acc']:.3f}",
        "train seconds": f"{sum(r['seconds'] for r in history):.1f}",
        "clips/s": f"{last['clips_per_s']:.0f}",
        "checkpoint": str(checkpoint_dir / "last.pt"),
    }
    _print_table(result, "final metrics")
    if args.json:
        print(json.dumps(history, indent=1))
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vidbook`` console script and of ``python -m vidbook``."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "info":
            _print_table(info(), "vidbook info")
        elif args.command == "train":
            train(args)
    except ValueError as err:
        print(f"vidbook {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0
