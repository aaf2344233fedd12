"""scripts/gpu-results.sh in smoke mode: its very command lines, at toy sizes, on this machine.

The real run needs a GPU and is not run here; smoke mode (``SMOKE=1``) runs the same bench and
train commands with small numbers, so that a typo in a flag or a broken code path shows here
before a GPU is spent on it. Its files must load through ``vidbook.bench.results`` as the real ones do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vidbook.bench import results

MODELS = ("r2plus1d_18", "frame_cnn", "vivit", "timesformer")  # the script's default flagships
SCRIPT_TIMEOUT_S = 300


def _env(**extra: str) -> dict[str, str]:
    """This environment without the script's knobs, plus ``extra``."""
    knobs = ("SMOKE", "EPOCHS", "SKIP_BENCH", "VIDBOOK_SUITE", "VIDBOOK_PROFILE", "PYTHON")
    env = {k: v for k, v in os.environ.items() if k not in knobs}
    return {**env, "PYTHON": sys.executable, **extra}


def _run(repo_root, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(repo_root / "scripts" / "gpu-results.sh"), *args],
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
    )


@pytest.mark.slow
def test_smoke_run_writes_the_result_files_the_book_reads(repo_root, tmp_path):
    out = tmp_path / "results"
    proc = _run(repo_root, str(out), SMOKE="1", OMP_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    res = results.load(out)
    (slug,) = res.bench  # bench-<device>.json: one file, named by the device
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"bench-{slug}.json", *(f"train-{m}-{slug}.json" for m in MODELS)]
    )
    for path in out.iterdir():
        json.loads(path.read_text())  # every file is plain JSON

    bench = res.bench[slug]
    assert bench["suite"] == "smoke" and res.gpu_bench() == {}  # never taken for a GPU suite
    assert "--suite" in bench["provenance"]["command"]
    rendered = [(r["frames"], r["height"], r["world"]) for r in bench["render"]]
    assert rendered == [(4, 16, "actions"), (4, 16, "scenes")]
    assert {t["model"] for t in bench["train"] if t["source"] == "vidbook"} == {
        "frame_cnn",
        "c3d",
        "r3d_18",
        "r2plus1d_18",
        "timesformer",
        "vivit",
    }
    for t in bench["train"]:
        assert (t["frames"], t["height"], t["width"], t["batch_size"]) == (4, 16, 16, 2)
        assert t["clips_per_s"] > 0 and t["tflops"] > 0
    assert [e["model"] for e in bench["ladder"]] == ["r2plus1d_18", "vivit"]
    for entry in bench["ladder"]:
        rungs = [r["rung"] for r in entry["rows"]]
        assert rungs == ["fp32", "+ bf16 autocast", "+ fused kernels", "+ torch.compile"]
        assert entry["rows"][-1]["compile"] == "eager"
        assert results.ladder_table(entry).count("\n") == 1 + len(rungs)
    assert results.bench_table(bench).count("\n") == 1 + len(bench["train"])
    assert results.render_table(bench).count("\n") == 1 + len(bench["render"])  # header, rule, rows
    assert "`" in results.provenance_line(bench)

    assert sorted(res.train) == sorted((m, slug) for m in MODELS)
    for (model, _), run in res.train.items():
        assert run["data"]["frames"] == 4 and run["data"]["height"] == 16, model
        assert run["variant"] == "tiny" and len(run["history"]) == 1, model
        assert 0 <= run["test"]["acc"] <= 1 and run["target"] == 0.95, model
        assert "--checkpoint-dir" in run["provenance"]["command"], model
        assert run["clips_per_s"] > 0, model
    table = results.train_table(res.train)
    assert all(f"| {m} tiny | {slug} | 4×16×16 | 1 |" in table for m in MODELS)


def test_smoke_mode_needs_an_out_dir_and_never_writes_into_data_results(repo_root):
    proc = _run(repo_root, SMOKE="1")
    assert proc.returncode == 2 and "needs an OUT_DIR" in proc.stderr
    if (repo_root / "data" / "results").is_dir():
        proc = _run(repo_root, str(repo_root / "data" / "results"), SMOKE="1")
        assert proc.returncode == 2 and "must not write into data/results" in proc.stderr
