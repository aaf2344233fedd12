"""Measured results under ``data/results``, read back for the book's pages.

``vidbook bench --suite`` writes ``bench-<device>.json`` and ``vidbook train --out`` writes
``train-<model>-<device>.json``; ``load`` reads every such file of a folder, and the table
functions turn them into Markdown tables, so that a page shows what the files hold and never a
number typed by hand.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from vidbook.errors import BadValueError

_BENCH = re.compile(r"^bench-([a-z0-9]+)\.json$")
_TRAIN = re.compile(r"^train-([a-z0-9_]+)-([a-z0-9]+)\.json$")


@dataclass
class Results:
    """The result files of a folder: ``bench`` by device slug, ``train`` by (model, slug)."""

    bench: dict[str, dict] = field(default_factory=dict)
    train: dict[tuple[str, str], dict] = field(default_factory=dict)

    def gpu_bench(self) -> dict[str, dict]:
        """The bench files measured on a GPU (their ``suite`` is ``"cuda"``)."""
        return {k: v for k, v in self.bench.items() if v.get("suite") == "cuda"}


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise BadValueError(f"{path}: not a readable JSON results file ({err})") from err
    if not isinstance(data, dict) or "provenance" not in data:
        raise BadValueError(f"{path}: a results file must be a JSON object with 'provenance'")
    return data


def load(folder: str | Path) -> Results:
    """Every ``bench-<device>.json`` (written by ``bench --suite``) and
    ``train-<model>-<device>.json`` in ``folder``. Other files are ignored; a bench file of an
    older format (no ``suite``) is skipped; an unreadable one raises ValueError naming it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadValueError(f"results folder {folder} does not exist")
    results = Results()
    for path in sorted(folder.iterdir()):
        if match := _BENCH.match(path.name):
            data = _read(path)
            if "suite" in data:
                results.bench[match.group(1)] = data
        elif match := _TRAIN.match(path.name):
            results.train[(match.group(1), match.group(2))] = _read(path)
    return results


def _label(row: dict) -> str:
    name = (
        row["model"] if row.get("source", "vidbook") == "vidbook" else f"torchvision {row['model']}"
    )
    return f"{name} {row.get('variant') or ''}".strip()


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _mib(value: int | None) -> str:
    return f"{value / 2**20:,.0f} MiB" if value is not None else "-"


def bench_table(bench: dict) -> str:
    """A Markdown table of a suite's training rows: model, clip, batch, clips/s, TFLOP/s, MFU,
    peak memory, and clips/s against torchvision's model where it was measured."""
    header = [
        "model",
        "clip",
        "batch",
        "clips/s",
        "TFLOP/s",
        "MFU",
        "peak memory",
        "vs torchvision",
    ]
    rows = []
    for t in bench["train"]:
        rows.append(
            [
                _label(t),
                f"{t['frames']}×{t['height']}×{t['width']}",
                str(t["batch_size"]),
                f"{t['clips_per_s']:,.0f}",
                f"{t['tflops']:.3g}",
                f"{100 * t['mfu']:.1f} %" if t.get("mfu") is not None else "-",
                _mib(t.get("peak_memory_bytes")),
                f"{t['vs_torchvision']:.2f}×" if t.get("vs_torchvision") is not None else "-",
            ]
        )
    return _markdown(header, rows)


def render_table(bench: dict) -> str:
    """A Markdown table of a suite's rendering rows, with how many times the fastest-training
    model's clips/s at the same clip size the renderer delivers."""
    header = ["clips rendered", "batch", "clips/s", "× fastest training at this size"]
    rows = []
    for r in bench["render"]:
        same = [
            t["clips_per_s"]
            for t in bench["train"]
            if (t["frames"], t["height"], t["width"]) == (r["frames"], r["height"], r["width"])
        ]
        ratio = f"{r['clips_per_s'] / max(same):.1f}×" if same else "-"
        rows.append(
            [
                f"{r['frames']}×{r['height']}×{r['width']}"
                + (f", {r['actors']} actors" if r.get("world") == "scenes" else ""),
                str(r["batch_size"]),
                f"{r['clips_per_s']:,.0f}",
                ratio,
            ]
        )
    return _markdown(header, rows)


def ladder_table(entry: dict) -> str:
    """A Markdown table of one speed-up ladder: setting, clips/s, TFLOP/s, MFU, speed-up."""
    header = ["setting", "clips/s", "TFLOP/s", "MFU", "peak memory", "speed-up"]
    rows = [
        [
            r["rung"],
            f"{r['clips_per_s']:,.0f}",
            f"{r['tflops']:.3g}",
            f"{100 * r['mfu']:.1f} %" if r.get("mfu") is not None else "-",
            _mib(r.get("peak_memory_bytes")),
            f"{r['speedup']:.2f}×",
        ]
        for r in entry["rows"]
    ]
    return _markdown(header, rows)


def train_table(train: dict[tuple[str, str], dict]) -> str:
    """A Markdown table of full training runs: model, device, clip, epochs, test accuracy, time
    to the target validation accuracy, clips/s."""
    header = ["model", "device", "clip", "epochs", "test accuracy", "time to target", "clips/s"]
    rows = []
    for (model, slug), r in sorted(train.items()):
        d = r["data"]
        reached = r["time_to_target_s"]
        rows.append(
            [
                f"{model} {r.get('variant') or ''}".strip(),
                slug,
                f"{d['frames']}×{d['height']}×{d['width']}",
                str(len(r["history"])),
                f"{100 * r['test']['acc']:.1f} %" if r.get("test") else "-",
                f"{reached:,.0f} s to {100 * r['target']:g} % (epoch {r['epoch_to_target']})"
                if reached is not None
                else f"not reached ({100 * r['target']:g} %)",
                f"{r['clips_per_s']:,.0f}",
            ]
        )
    return _markdown(header, rows)


def provenance_line(data: dict) -> str:
    """One line saying where a result came from: device, torch, commit, date, command."""
    p = data["provenance"]
    commit = (p.get("git_commit") or "unknown")[:10]
    return (
        f"{data.get('device_name', p.get('device_name', '?'))}, torch {p['torch']}, commit {commit}, "
        f"{p['date'][:10]}: `{p.get('command') or '(from Python)'}`"
    )
