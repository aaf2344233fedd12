"""vidbook.bench.results: the result files read back, and their tables."""

from __future__ import annotations

import json

import pytest

from vidbook.bench import results
from vidbook.cli import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A results folder written by the real commands: a CPU suite and one training run."""
    out = tmp_path_factory.mktemp("results")
    from vidbook import bench

    small = {"frames": 16, "size": 32}  # a size the CPU suite also renders at
    bench.suite(
        device="cpu",
        out_dir=out,
        seconds=0.05,
        steps=1,
        warmup=1,
        compile_ladder=False,
        runs=[{"model": "c3d", "variant": "tiny", **small}],
        ladders=[{"model": "c3d", "variant": "tiny", **small}],
        command="test suite",
    )
    args = ["train", "--model", "frame_cnn", "--epochs", "1", "--train-size", "32"]
    args += ["--val-size", "16", "--test-size", "16", "--frames", "4", "--height", "16"]
    args += ["--width", "16", "--batch-size", "16", "--progress", "off", "--target", "0.01"]
    args += ["--checkpoint-dir", str(out / "run"), "--out", str(out / "train-frame_cnn-cpu.json")]
    assert main(args) == 0
    (out / "notes.txt").write_text("not a result")
    return out


def test_load_finds_bench_and_train_files(folder):
    res = results.load(folder)
    assert list(res.bench) == ["cpu"] and list(res.train) == [("frame_cnn", "cpu")]
    assert res.gpu_bench() == {}
    assert res.bench["cpu"]["provenance"]["command"] == "test suite"


def test_tables_show_the_numbers_of_the_files(folder):
    res = results.load(folder)
    cpu = res.bench["cpu"]
    table = results.bench_table(cpu)
    (row,) = cpu["train"]
    assert table.splitlines()[0].startswith("| model | clip | batch | clips/s | TFLOP/s | MFU")
    assert (
        f"| c3d tiny | 16×32×32 | {row['batch_size']} | {row['clips_per_s']:,.0f} | {row['tflops']:.3g} | - |"
        in table
    )
    render = results.render_table(cpu)
    ratio = cpu["render"][0]["clips_per_s"] / row["clips_per_s"]
    assert f"| {ratio:.1f}× |" in render.splitlines()[2]
    ladder = results.ladder_table(cpu["ladder"][0])
    assert [line.split(" | ")[0] for line in ladder.splitlines()[2:]] == [
        "| fp32",
        "| + bf16 autocast",
        "| + fused kernels",
    ]
    train = res.train[("frame_cnn", "cpu")]
    text = results.train_table(res.train)
    assert f"{100 * train['test']['acc']:.1f} %" in text
    assert "to 1 % (epoch 1)" in text
    line = results.provenance_line(cpu)
    assert "torch " in line and "`test suite`" in line


def test_bad_folders_and_files_are_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        results.load(tmp_path / "none")
    (tmp_path / "bench-h100.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"bench-h100\.json: not a readable JSON"):
        results.load(tmp_path)
    (tmp_path / "bench-h100.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="must be a JSON object with 'provenance'"):
        results.load(tmp_path)
    # a bench file of the older format (no suite) is skipped, not an error
    (tmp_path / "bench-h100.json").write_text(json.dumps({"provenance": {}, "train": {}}))
    assert results.load(tmp_path).bench == {}
