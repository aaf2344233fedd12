"""The benchmarks' results as plain-text tables, as ``vidbook bench`` prints them.

Plain functions over the result dicts of ``run``, ``suite`` and ``run_decode``: ``print_run``,
``print_suite`` and ``print_decode`` print a whole result (and, given the file it was written
to, a last line naming it); ``print_columns`` is the table itself.
"""

from __future__ import annotations

import os

from vidbook.bench.decode import summary

# The columns of a measurement row, after its first (what was measured).
BENCH_HEADER = ["batch", "clips/s", "ms/batch", "TFLOP/s", "MFU", "parameters", "peak memory"]


def print_columns(header: list[str], rows: list[list[str]]) -> None:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells).rstrip())


def train_cells(t: dict) -> list[str]:
    """The ``BENCH_HEADER`` cells of one ``train_throughput`` row."""
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


def _render_row(label: str, r: dict) -> list[str]:
    """A table row of one ``render_throughput`` result (no FLOPs, parameters or memory)."""
    return [
        label,
        str(r["batch_size"]),
        f"{r['clips_per_s']:,.1f}",
        f"{r['ms_per_batch']:,.1f}",
        *["-"] * 4,
    ]


def _world(row: dict) -> str:
    """ "synth" (SynthActions) or "scenes (3 actors)" (SynthScenes) for a rendering row."""
    if row.get("world") == "scenes":
        return f"scenes ({row['actors']} actors)"
    return "synth"


def _clip(row: dict) -> str:
    return f"{row['frames']}x{row['height']}x{row['width']}"


def run_rows(result: dict) -> list[list[str]]:
    """One table row per measurement of a ``run`` result: what, then ``BENCH_HEADER``."""
    rows = []
    if result["render"] is not None:
        r = result["render"]
        rows.append(_render_row(f"render {_world(r)} ({r['difficulty']})", r))
    for name, t in result["train"].items():
        rows.append([f"train {name}", *train_cells(t)])
    return rows


def print_ladder(title: str, rows: list[dict]) -> None:
    """The rows of ``vidbook.bench.ladder`` as a table, with their speed-ups."""
    print(f"\nspeed-up ladder of {title}")
    table = [[r["rung"], *train_cells(r), f"{r['speedup']:.2f}x"] for r in rows]
    print_columns(["setting", *BENCH_HEADER, "speed-up"], table)


def print_run(result: dict, out: str | os.PathLike | None = None) -> None:
    """A ``vidbook.bench.run`` result: device, torch, threads and clip shape, one row per
    measurement, each ladder; with ``out``, a last line ``wrote <out>``."""
    prov = result["provenance"]
    print(
        f"vidbook bench on {result['device']} ({result['device_name']}), torch {prov['torch']}, "
        f"CPU threads: {prov['threads']}"
    )
    if clip := result.get("clip_shape"):
        print(f"clips of {clip['frames']} frames x {clip['height']} x {clip['width']} pixels")
    if result["peak_tflops"]:
        print(f"MFU against a bf16 peak of {result['peak_tflops']:g} TFLOP/s")
    print()
    print_columns(["measurement", *BENCH_HEADER], run_rows(result))
    for model, rows in result["ladder"].items():
        print_ladder(model, rows)
    if out is not None:
        print(f"\nwrote {out}")


def print_suite(result: dict, path: str | os.PathLike | None = None) -> None:
    """A ``vidbook.bench.suite`` result: the rendering and training rows, each ladder; with
    ``path`` (the file written, ``vidbook.bench.suite_file(out_dir, device)``), ``wrote <path>``."""
    print(f"vidbook bench --suite on {result['device']} ({result['device_name']})")
    print()
    rows = [_render_row(f"render {_world(r)} {_clip(r)}", r) for r in result["render"]]
    for t in result["train"]:
        label = f"{t['source']}/{t['model']}" if t["source"] != "vidbook" else t["model"]
        label += f" {t['variant'] or ''} {_clip(t)}"
        rows.append([f"train {' '.join(label.split())}", *train_cells(t)])
    print_columns(["measurement", *BENCH_HEADER], rows)
    for entry in result["ladder"]:
        size = f"{entry['frames']}x{entry['size']}x{entry['size']}"
        print_ladder(f"{entry['model']} {entry['variant']} {size}", entry["rows"])
    if path is not None:
        print(f"\nwrote {path}")


def print_decode(result: dict, out: str | os.PathLike | None = None) -> None:
    """A ``vidbook.bench.run_decode`` result (its ``summary``); with ``out``, ``wrote <out>``."""
    print(summary(result))
    if out is not None:
        print(f"\nwrote {out}")
