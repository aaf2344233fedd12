"""vidbook.claims: claims with margins, their log, and the seed shift of the claims sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vidbook.claims import LOG_ENV, claim, margin, seed_offset


def test_margin_sign_follows_the_operator():
    assert margin(0.93, ">=", 0.9) == pytest.approx(0.03)
    assert margin(0.87, ">", 0.9) == pytest.approx(-0.03)
    assert margin(0.3, "<", 0.5) == pytest.approx(0.2)
    assert margin(0.6, "<=", 0.5) == pytest.approx(-0.1)


def test_claim_passes_and_fails_like_assert():
    assert claim("holds", 0.95, ">=", 0.9) is None  # nothing for a notebook cell to show
    with pytest.raises(AssertionError, match=r"claim failed: too low: 0\.8 >= 0\.9"):
        claim("too low", 0.8, ">=", 0.9)
    with pytest.raises(AssertionError, match="nan"):
        claim("not a number", float("nan"), "<", 1.0)
    claim("equal is enough for >=", 1.0, ">=", 1.0)
    with pytest.raises(AssertionError):
        claim("equal is not enough for >", 1.0, ">", 1.0)


@pytest.mark.parametrize(
    ("args", "words"), [(("x", 1, "==", 1), "op must be"), (("", 1, ">", 0), "name")]
)
def test_claim_bad_arguments(args, words):
    with pytest.raises(ValueError, match=words):
        claim(*args)


def test_claim_log_records_every_claim(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(LOG_ENV, str(log))
    claim("first", 3.0, ">", 2.0, source="ch01")
    with pytest.raises(AssertionError):
        claim("second", 1.0, ">", 2.0, source="ch01")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["name"] for r in records] == ["first", "second"]
    assert records[0]["margin"] == 1.0 and records[0]["holds"]
    assert records[1]["margin"] == -1.0 and not records[1]["holds"]
    assert records[0]["source"] == "ch01" and records[0]["threads"] >= 1


def test_seed_offset_reads_the_environment(monkeypatch):
    monkeypatch.delenv("VIDBOOK_SEED_OFFSET", raising=False)
    assert seed_offset() == 0
    monkeypatch.setenv("VIDBOOK_SEED_OFFSET", "2")
    assert seed_offset() == 2
    for bad in ("-1", "two"):
        monkeypatch.setenv("VIDBOOK_SEED_OFFSET", bad)
        with pytest.raises(ValueError, match="VIDBOOK_SEED_OFFSET"):
            seed_offset()


PERTURBED = """
import random, numpy as np, torch
from vidbook.claims import perturb_seeds
expected = [torch.Generator().manual_seed(5).initial_seed()]
torch.manual_seed(5); a = torch.rand(3)
random.seed(5); r = random.random()
np.random.seed(5); n = np.random.rand()
assert perturb_seeds() == 3 and perturb_seeds() == 3  # idempotent
torch.manual_seed(2); b = torch.rand(3)
random.seed(2); r2 = random.random()
np.random.seed(2); n2 = np.random.rand()
g = torch.Generator().manual_seed(2)
assert torch.equal(a, b), "torch.manual_seed(2) must act as 5"
assert r == r2 and n == n2
assert g.initial_seed() == expected[0] == 5
assert isinstance(g, torch._C.Generator)
print("ok")
"""


def test_perturb_seeds_shifts_every_seed():
    env = dict(os.environ, VIDBOOK_SEED_OFFSET="3")
    done = subprocess.run(
        [sys.executable, "-c", PERTURBED], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def _sweep_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "claims.py"
    spec = importlib.util.spec_from_file_location("claims_sweep", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sweep_table_keeps_the_worst_run(tmp_path):
    sweep = _sweep_module()
    runs = []
    for k, (value, holds) in enumerate([(0.95, True), (0.91, True), (0.88, False)]):
        log = tmp_path / f"run{k}.jsonl"
        record = {"name": "c3d learns", "value": value, "op": ">=", "bound": 0.9}
        record |= {"margin": value - 0.9, "holds": holds}
        log.write_text(json.dumps(record) + "\n")
        runs.append({"notebook": "book/part1/ch01.ipynb", "log": str(log), "errors": []})
    runs.append({"notebook": "book/part1/ch01.ipynb", "log": str(tmp_path / "none"), "errors": []})
    (row,) = sweep.table(runs)
    assert row["runs"] == 3 and row["failed"] == 1
    assert row["worst_value"] == 0.88 and row["worst_margin"] == pytest.approx(-0.02)
    text = sweep.markdown([row], runs_per_notebook=6)
    assert "| ch01 | c3d learns | >= 0.9 | 0.88 | -0.02 |" in text and "3/6 (1 failed)" in text


def test_sweep_finds_the_chapters_with_claims():
    sweep = _sweep_module()
    notebooks = sweep.notebooks_with_claims()
    found = {p.stem for p in notebooks}
    assert {"ch01_video_models", "ch04c_transformer", "ch09_capstone_solution"} <= found
    assert {"ch10_models_at_scale", "ch11_real_video"} <= found  # Part IV, in book/part4
    stems = [p.stem for p in notebooks]
    assert stems.index("ch09_capstone_solution") < stems.index("ch10_models_at_scale")  # book order
    assert "ch02_history" not in found  # it trains nothing
