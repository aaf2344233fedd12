"""The claims sweep (make claims): every chapter that states a training outcome, run under
several seeds and thread counts, and the worst margin of each claim.

    python scripts/claims.py [--seeds 0 1 2] [--threads 1 2] [--jobs N] [--resume] [NOTEBOOK ...]
    python scripts/claims.py --report        # the table of every run recorded so far

Each run executes one notebook top to bottom in a fresh kernel with ``VIDBOOK_SEED_OFFSET``
(every seed the chapter sets, shifted), ``OMP_NUM_THREADS`` (the threads PyTorch uses) and
``VIDBOOK_CLAIMS_LOG`` (where ``vidbook.claims.claim`` records each claim's value and margin).
A failing claim does not stop the run: the cells after it still run, so every claim is measured.
Runs with one thread go two at a time on a machine with two cores or more, then the runs with
more threads one at a time (two runs that each want every core slow each other down several
times over). ``--resume`` skips the runs that finished before.
The table lists, for every claim, its bound, the worst value over all runs and the worst margin;
a negative margin means the claim failed in some run. The records are kept in
``_build/claims/`` (``claims.json`` holds the table).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "_build" / "claims"


def notebooks_with_claims() -> list[Path]:
    """The chapters whose code calls ``claim(``, in book order."""
    found = []
    for path in sorted((ROOT / "book").rglob("*.ipynb")):
        if "_build" in path.parts or ".ipynb_checkpoints" in path.parts:
            continue
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        if any("claim(" in "".join(c["source"]) for c in cells if c["cell_type"] == "code"):
            found.append(path)
    return found


def execute_one(notebook: Path, seed: int, threads: int, log: Path) -> dict:
    """Run ``notebook`` in a fresh kernel (in this process's environment); errors are kept."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    started = time.perf_counter()
    client.execute()
    errors = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                where = next((line for line in output["traceback"][::-1] if "assert" in line), "")
                errors.append(f"cell {index}: {output['ename']}: {output['evalue']} {where}"[:400])
    return {
        "notebook": str(notebook.relative_to(ROOT)),
        "seed_offset": seed,
        "threads": threads,
        "seconds": round(time.perf_counter() - started, 1),
        "errors": errors,
        "log": str(log),
    }


def run(notebook: Path, seed: int, threads: int, resume: bool = False) -> dict:
    """One run in a child process with its own environment; returns its summary (also kept
    next to its log, so that ``--resume`` can skip it)."""
    name = notebook.stem
    log = OUT / f"{name}-seed{seed}-threads{threads}.jsonl"
    summary = log.with_suffix(".run.json")
    if resume and summary.exists():
        return json.loads(summary.read_text())
    log.unlink(missing_ok=True)
    summary.unlink(missing_ok=True)
    env = dict(
        os.environ,
        VIDBOOK_SEED_OFFSET=str(seed),
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        VIDBOOK_CLAIMS_LOG=str(log),
        VIDBOOK_CLAIMS_SOURCE=str(notebook.relative_to(ROOT)),
        VIDBOOK_PROFILE="quick",
        MPLBACKEND="Agg",
    )
    args = [sys.executable, __file__, "--one", str(notebook), str(seed), str(threads)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {  # not kept: --resume runs it again
            "notebook": str(notebook.relative_to(ROOT)),
            "seed_offset": seed,
            "threads": threads,
            "seconds": None,
            "errors": [done.stderr[-1500:]],
            "log": str(log),
        }
    result = json.loads(done.stdout.strip().splitlines()[-1])
    summary.write_text(json.dumps(result))
    return result


def table(runs: list[dict]) -> list[dict]:
    """Per claim (notebook, name): bound, worst value, worst margin and the runs it was seen in."""
    rows: dict[tuple[str, str], dict] = {}
    for r in runs:
        path = Path(r["log"])
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            key = (r["notebook"], rec["name"])
            row = rows.setdefault(
                key,
                {
                    "notebook": Path(r["notebook"]).stem,
                    "claim": rec["name"],
                    "op": rec["op"],
                    "bound": rec["bound"],
                    "worst_value": rec["value"],
                    "worst_margin": rec["margin"],
                    "runs": 0,
                    "failed": 0,
                },
            )
            row["runs"] += 1
            row["failed"] += 0 if rec["holds"] else 1
            if rec["margin"] < row["worst_margin"]:
                row["worst_margin"], row["worst_value"] = rec["margin"], rec["value"]
    return list(rows.values())


def markdown(rows: list[dict], runs_per_notebook: int) -> str:
    lines = [
        "| chapter | claim | bound | worst value | worst margin | relative | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        relative = row["worst_margin"] / abs(row["bound"]) if row["bound"] else float("nan")
        runs = f"{row['runs']}/{runs_per_notebook}" + (
            f" ({row['failed']} failed)" if row["failed"] else ""
        )
        lines.append(
            f"| {row['notebook']} | {row['claim']} | {row['op']} {row['bound']:.4g} "
            f"| {row['worst_value']:.4g} | {row['worst_margin']:+.4g} | {relative:+.0%} | {runs} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: every notebook with a claim")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--jobs", type=int, default=0, help="runs at once (default: cores / threads)"
    )
    parser.add_argument("--resume", action="store_true", help="skip the runs done before")
    parser.add_argument("--report", action="store_true", help="only the table of the runs done")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        notebook, seed, threads = Path(args.one[0]).resolve(), int(args.one[1]), int(args.one[2])
        print(
            json.dumps(execute_one(notebook, seed, threads, Path(os.environ["VIDBOOK_CLAIMS_LOG"])))
        )
        return 0

    if args.report:
        runs = [json.loads(p.read_text()) for p in sorted(OUT.glob("*.run.json"))]
        per_notebook = max(
            (sum(r["notebook"] == n for r in runs) for n in {r["notebook"] for r in runs}),
            default=0,
        )
        return report(runs, per_notebook, started=None)
    notebooks = [Path(n).resolve() for n in args.notebooks] or notebooks_with_claims()
    missing = [str(n) for n in notebooks if not n.is_file()]
    if missing:
        print(f"claims: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    jobs = [(nb, s, t) for t in sorted(args.threads) for nb in notebooks for s in args.seeds]
    cores = os.cpu_count() or 2
    print(
        f"claims: {len(jobs)} runs ({len(notebooks)} notebooks x seeds {args.seeds} x threads "
        f"{args.threads})",
        flush=True,
    )
    started = time.perf_counter()
    runs = []
    for threads in sorted(args.threads):
        batch = [job for job in jobs if job[2] == threads]
        at_once = args.jobs or max(1, cores // threads)
        with ThreadPoolExecutor(max_workers=at_once) as pool:
            for r in pool.map(lambda job: run(*job, resume=args.resume), batch):
                status = (
                    "ok" if not r["errors"] else f"{len(r['errors'])} error(s): {r['errors'][0]}"
                )
                print(
                    f"  {Path(r['notebook']).stem} seed+{r['seed_offset']} threads {r['threads']}: "
                    f"{r['seconds']} s, {status}",
                    flush=True,
                )
                runs.append(r)
    return report(runs, len(args.seeds) * len(args.threads), started)


def report(runs: list[dict], per_notebook: int, started: float | None) -> int:
    """Print the table of ``runs`` and keep it in claims.json; 1 if any claim or run failed."""
    rows = table(runs)
    text = markdown(rows, per_notebook)
    (OUT / "claims.json").write_text(json.dumps({"runs": runs, "claims": rows}, indent=1))
    print()
    print(text)
    failed = [r for r in rows if r["failed"]]
    errors = [r for r in runs if r["errors"]]
    took = "" if started is None else f"; {time.perf_counter() - started:.0f} s"
    print(
        f"\n{len(rows)} claims, {len(failed)} failed in some run; {len(errors)} runs with errors{took}"
    )
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
