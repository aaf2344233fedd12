"""Tests of vidbook.bench and ``vidbook bench``: tiny CPU runs, checked for their numbers."""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import numpy as np
import pytest
import torch

from vidbook import bench, runtime
from vidbook.bench import report, throughput
from vidbook.cli import main
from vidbook.clip_shape import ClipShape
from vidbook.data import SynthActions
from vidbook.errors import BadValueError
from vidbook.models import available, build, flops_per_clip

TINY = ClipShape(4, 16, 16)
TINY_ARGS = ["--frames", "4", "--height", "16", "--width", "16", "--batch-size", "8"]


pytestmark = pytest.mark.usefixtures("one_thread")


def bench_table(text: str) -> dict[str, list[str]]:
    """Rows of the ``vidbook bench`` table by measurement name, cells split on 2+ spaces."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("measurement"))
    assert re.split(r"\s{2,}", lines[header]) == [
        "measurement",
        "batch",
        "clips/s",
        "ms/batch",
        "TFLOP/s",
        "MFU",
        "parameters",
        "peak memory",
    ]
    rows = {}
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells[1:]
    return rows


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


# ---------------------------------------------------------------------------------------------
# vidbook.bench


def test_run_measures_both_and_writes_json_with_provenance(tmp_path):
    out = tmp_path / "results" / "bench.json"
    result = bench.run(
        models=("c3d",),
        batch_size=8,
        clip_shape=TINY,
        seconds=0.3,
        steps=2,
        warmup=1,
        out=out,
        command="vidbook bench --test",
    )
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(result))
    assert sorted(p.name for p in out.parent.iterdir()) == ["bench.json"]  # no temporary left

    render = data["render"]
    assert render["clips_per_s"] > 0
    assert (render["batch_size"], render["frames"], render["height"], render["width"]) == (
        8,
        4,
        16,
        16,
    )
    assert render["batches"] >= 1 and render["clips"] == 8 * render["batches"]
    assert render["seconds"] >= 0.3
    assert math.isclose(render["clips_per_s"], render["clips"] / render["seconds"])

    c3d = data["train"]["c3d"]
    assert list(data["train"]) == ["c3d"]
    assert c3d["clips_per_s"] > 0
    assert c3d["steps"] >= 2 and c3d["seconds"] >= 0.3
    assert math.isclose(c3d["clips_per_s"], 8 * c3d["steps"] / c3d["seconds"])
    assert c3d["parameters"] == sum(p.numel() for p in build("c3d").parameters())
    assert c3d["peak_memory_bytes"] is None and c3d["amp"] == "off"
    assert c3d["device"] == data["device"] == str(runtime.device())

    prov = data["provenance"]
    assert prov["device"] == runtime.device().type
    assert prov["torch"] == torch.__version__
    assert "git_commit" in prov
    assert dt.datetime.fromisoformat(prov["date"]).tzinfo is not None
    assert prov["command"] == "vidbook bench --test"


def test_render_never_draws_the_same_clip_twice(monkeypatch):
    calls = []
    original = SynthActions.batch

    def recording(self, indices, device=None, captions=True):
        calls.append((np.asarray(indices).copy(), captions))
        return original(self, indices, device=device, captions=captions)

    monkeypatch.setattr(SynthActions, "batch", recording)
    result = bench.render_throughput(
        ClipShape(2, 8, 8), batch_size=4, device="cpu", seconds=0.05, warmup=2
    )
    assert len(calls) == 2 + result["batches"]
    assert all(len(idx) == 4 and captions is False for idx, captions in calls)
    drawn = np.concatenate([idx for idx, _ in calls])
    assert len(np.unique(drawn)) == len(drawn)


def test_train_throughput_takes_warmup_plus_steps_adamw_steps(monkeypatch):
    steps_taken = []
    original = torch.optim.AdamW.step

    def counting(self, *args, **kwargs):
        steps_taken.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", counting)
    result = bench.train_throughput(
        "frame_cnn", TINY, batch_size=2, device="cpu", steps=3, warmup=2
    )
    assert len(steps_taken) == 2 + 3
    assert result["steps"] == 3  # no seconds: exactly the steps asked for
    assert result["model"] == "frame_cnn"
    assert result["parameters"] == sum(p.numel() for p in build("frame_cnn").parameters())
    assert math.isclose(result["ms_per_step"], 1000 * result["seconds"] / 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bench.train_throughput("resnet9000"), "available models: c3d"),
        (lambda: bench.train_throughput("c3d", steps=0), "steps must be an int >= 1"),
        (lambda: bench.render_throughput(batch_size=0), "batch_size must be an int >= 1"),
        (lambda: bench.render_throughput(seconds=0), "seconds must be a finite number"),
        (lambda: bench.render_throughput(device="gpu0"), "is not a torch device"),
    ],
)
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_clear_value_error():
    with pytest.raises(ValueError, match="not available"):
        bench.render_throughput(device="cuda")


def test_write_json_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "bench.json"
    bench.write_json({"ok": 1}, path)
    with pytest.raises(ValueError):
        bench.write_json({"bad": float("nan")}, path)  # NaN is not JSON
    assert json.loads(path.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


def test_flops_tflops_and_mfu_follow_from_the_counted_flops():
    result = bench.train_throughput(
        "r2plus1d_18", TINY, variant="tiny", batch_size=2, device="cpu", steps=2, warmup=1
    )
    counted = flops_per_clip("r2plus1d_18", 4, 16, 16, variant="tiny", backward=True)
    assert result["flops_per_clip"] == counted > 0
    assert math.isclose(result["tflops"], counted * result["clips_per_s"] / 1e12)
    assert result["mfu"] is None and result["peak_tflops"] is None  # a CPU has no bf16 peak here
    assert result["channels_last"] is True and result["variant"] == "tiny"
    assert result["host_syncs_per_step"] is None and result["warmup_seconds"] > 0


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989.0),
        ("NVIDIA H100 PCIe", 756.0),
        ("NVIDIA H200", 989.0),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("Tesla T4", None),
        ("Intel(R) Xeon(R) Processor", None),
    ],
)
def test_peak_table(name, peak):
    assert bench.peak_tflops(name) == peak


def test_ladder_adds_one_fast_path_per_rung():
    rows = bench.ladder(
        "c3d",
        compile_backend="eager",  # the plumbing of torch.compile without a compiler's wait
        batch_size=2,
        clip_shape=TINY,
        device="cpu",
        steps=1,
        warmup=1,
    )
    assert [r["rung"] for r in rows] == [r["name"] for r in bench.LADDER]
    settings = [(r["amp"], r["fused"], r["channels_last"], r["compile"]) for r in rows]
    assert settings == [
        ("off", False, False, False),
        ("bf16", False, False, False),
        ("bf16", True, True, False),
        ("bf16", True, True, "eager"),
    ]
    assert rows[0]["speedup"] == 1.0
    for row in rows[1:]:
        assert math.isclose(row["speedup"], row["clips_per_s"] / rows[0]["clips_per_s"])
    with pytest.raises(ValueError, match=r"unknown rung 'fp8'; the ladder's rungs are"):
        bench.ladder("c3d", rungs=["fp8"])


def test_fused_and_plain_attention_train_the_same_function():
    # the ladder's "fused kernels" rung may not change what is computed: one step of each from
    # the same weights gives the same model
    torch.manual_seed(0)
    model = build("vivit", frames=4, size=16, tubelet=(2, 8, 8))
    clips, labels = torch.rand(2, 3, 4, 16, 16), torch.tensor([1, 2])
    outputs = []
    for fused in (False, True):
        copy = build("vivit", frames=4, size=16, tubelet=(2, 8, 8))
        copy.load_state_dict(model.state_dict())
        throughput._train_step_fn(copy, clips, labels, torch.device("cpu"), "off", fused)()
        with torch.no_grad():
            outputs.append(copy(clips))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        assert (outputs[0] - model(clips)).abs().max() > 1e-4  # the step did change the model


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("torchvision") is not None,
    reason="torchvision is installed here",
)
def test_torchvision_comparison_without_torchvision_is_a_clear_error():
    with pytest.raises(ValueError, match="torchvision is not installed"):
        bench.run(models=["r2plus1d_18"], torchvision=True, render=False)
    with pytest.raises(ValueError, match="never a dependency"):
        bench.train_throughput("r2plus1d_18", source="torchvision")


@pytest.mark.parametrize(
    ("call", "device"),
    [
        (lambda: bench.run(models=[], render=False, device="cuda:7"), "cuda:7"),
        (lambda: bench.suite(device="gpu0", runs=[], ladders=[]), "gpu0"),
    ],
)
def test_a_bad_device_names_the_available_ones(call, device):
    with pytest.raises(BadValueError, match=rf"device '{device}' .*available here: cpu"):
        call()


def test_run_records_its_clip_shape_and_the_device_used(capsys):
    shape = ClipShape(4, 16, 24)  # not square: height and width may not trade places
    result = bench.run(
        models=["frame_cnn"],
        clip_shape=shape,
        batch_size=2,
        device="cpu",
        seconds=0.05,
        steps=1,
        warmup=0,
        variant="tiny",
    )
    size = {"frames": 4, "height": 16, "width": 24}
    assert result["clip_shape"] == size == shape.as_dict()
    for record in (result["render"], result["train"]["frame_cnn"]):
        assert {k: record[k] for k in size} == size
    assert result["provenance"]["device"] == "cpu"
    bench.print_run(result)
    text = capsys.readouterr().out
    assert "clips of 4 frames x 16 x 24 pixels" in text
    assert list(bench_table(text)) == ["render synth (medium)", "train frame_cnn"]
    with pytest.raises(ValueError, match="frames must be an int >= 2, got 1"):
        bench.run(models=[], clip_shape=(1, 16, 16))
    with pytest.raises(ValueError, match="clip_shape must be a ClipShape"):
        bench.train_throughput("c3d", 16)


def _fake_train_row(**extra) -> dict:
    row = {"model": "c3d", "source": "vidbook", "variant": "tiny", "batch_size": 8}
    row.update(frames=4, height=16, width=16, clips_per_s=1234.5, ms_per_step=6.48, tflops=0.0123)
    row.update(mfu=None, parameters=1_234_567, peak_memory_bytes=3 * 2**20)
    return {**row, **extra}


_FAKE_RENDER = {"batch_size": 8, "clips_per_s": 9999.0, "ms_per_batch": 0.8, "difficulty": "easy"}
_FAKE_RENDER.update(frames=4, height=16, width=16)
_FAKE_PROVENANCE = {"torch": "9.9", "threads": 1}


def test_print_run_prints_the_table(capsys):
    result = {
        "device": "cpu",
        "device_name": "A CPU",
        "peak_tflops": None,
        "clip_shape": {"frames": 4, "height": 16, "width": 16},
        "render": _FAKE_RENDER,
        "train": {"c3d": _fake_train_row()},
        "ladder": {"c3d": [_fake_train_row(rung="fp32", speedup=1.0)]},
        "provenance": _FAKE_PROVENANCE,
    }
    report.print_run(result, out="x/bench.json")
    text = capsys.readouterr().out
    assert text.startswith("vidbook bench on cpu (A CPU), torch 9.9, CPU threads: 1\n")
    rows = bench_table(text)
    assert rows["render synth (easy)"] == ["8", "9,999.0", "0.8", "-", "-", "-", "-"]
    assert rows["train c3d"] == ["8", "1,234.5", "6.5", "0.0123", "-", "1,234,567", "3 MiB"]
    assert "speed-up ladder of c3d" in text and "1.00x" in text
    assert text.endswith("\nwrote x/bench.json\n")


def test_print_suite_prints_the_table(capsys):
    result = {
        "suite": "cpu",
        "device": "cpu",
        "device_name": "A CPU",
        "render": [_FAKE_RENDER],
        "train": [_fake_train_row(), _fake_train_row(source="torchvision", variant=None)],
        "ladder": [
            {
                "model": "vivit",
                "variant": "tiny",
                "frames": 4,
                "size": 16,
                "rows": [_fake_train_row(rung="fp32", speedup=1.0, mfu=0.5)],
            }
        ],
    }
    report.print_suite(result, "out/bench-cpu.json")
    text = capsys.readouterr().out
    assert text.startswith("vidbook bench --suite on cpu (A CPU)\n")
    rows = bench_table(text)
    assert list(rows) == [
        "render synth 4x16x16",
        "train c3d tiny 4x16x16",
        "train torchvision/c3d 4x16x16",
    ]
    assert rows["train c3d tiny 4x16x16"][1] == "1,234.5"
    ladder_lines = text.split("speed-up ladder of vivit tiny 4x16x16\n")[1].splitlines()
    assert re.split(r"\s{2,}", ladder_lines[0])[-1] == "speed-up"
    assert re.split(r"\s{2,}", ladder_lines[1]) == [
        "fp32",
        "8",
        "1,234.5",
        "6.5",
        "0.0123",
        "50.0 %",
        "1,234,567",
        "3 MiB",
        "1.00x",
    ]
    assert text.endswith("\nwrote out/bench-cpu.json\n")


def test_suite_file_names_the_device():
    assert bench.suite_file("out", "cpu").as_posix() == "out/bench-cpu.json"


# ---------------------------------------------------------------------------------------------
# vidbook bench


def test_cli_bench_prints_a_table(capsys):
    args = ["bench", "--models", "c3d", *TINY_ARGS, "--seconds", "0.3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "clips/s" in out
    assert runtime.device_name(runtime.device()) in out
    rows = bench_table(out)
    assert list(rows) == ["render synth (medium)", "train c3d"]
    render, c3d = rows["render synth (medium)"], rows["train c3d"]
    assert render[0] == "8" and number(render[1]) > 0
    assert c3d[0] == "8" and number(c3d[1]) > 0
    assert number(c3d[3]) > 0 and c3d[4] == "-"  # TFLOP/s; no MFU on a CPU
    assert c3d[5] == f"{sum(p.numel() for p in build('c3d').parameters()):,}"


def test_cli_bench_render_only_writes_json_with_the_command(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = ["bench", "--render-only", *TINY_ARGS, "--seconds", "0.2", "--out", str(out)]
    assert main(args) == 0
    rows = bench_table(capsys.readouterr().out)
    assert list(rows) == ["render synth (medium)"]
    data = json.loads(out.read_text())
    assert data["train"] == {} and data["render"]["clips_per_s"] > 0
    assert data["provenance"]["command"] == "vidbook " + " ".join(args)


def test_cli_bench_zoo_smoke_run_with_a_ladder_writes_json(tmp_path, capsys):
    out = tmp_path / "bench-cpu.json"
    args = ["bench", "--no-render", "--models", "r3d_18", "r2plus1d_18", "vivit", "timesformer"]
    args += ["--variant", "tiny", "--frames", "4", "--height", "16", "--width", "16"]
    args += ["--batch-size", "2", "--steps", "1", "--seconds", "0.05", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    rows = bench_table(printed)
    assert list(rows) == [f"train {m}" for m in ("r3d_18", "r2plus1d_18", "vivit", "timesformer")]
    data = json.loads(out.read_text())
    for name, row in data["train"].items():
        assert row["variant"] == "tiny" and row["flops_per_clip"] > 0 and row["tflops"] > 0, name
    assert data["ladder"] == {} and data["peak_tflops"] is None
    assert data["provenance"]["command"] == "vidbook " + " ".join(args)


def test_cli_bench_suite_writes_bench_device_json(tmp_path, capsys, monkeypatch):
    small = {"frames": 4, "size": 16}
    plan = {
        "runs": [{"model": "r2plus1d_18", "variant": "tiny", **small}],
        "batch_size": 2,
        "render_sizes": [16],
        "ladder": [{"model": "vivit", "variant": "tiny", **small}],
    }
    monkeypatch.setitem(bench.SUITES, "cpu", plan)
    args = ["bench", "--suite", "--out-dir", str(tmp_path), "--seconds", "0.05", "--steps", "1"]
    assert main([*args, "--no-compile"]) == 0
    printed = capsys.readouterr().out
    assert "train r2plus1d_18 tiny 4x16x16" in printed
    assert "speed-up ladder of vivit tiny 4x16x16" in printed
    data = json.loads((tmp_path / "bench-cpu.json").read_text())
    assert data["suite"] == "cpu" and data["peak_tflops"] is None
    rendered = [(r["height"], r["world"], r["actors"]) for r in data["render"]]
    assert rendered == [(16, "actions", 1), (16, "scenes", 3)]  # SynthActions, then SynthScenes
    assert "render scenes (3 actors) 16x16x16" in printed
    assert [(t["model"], t["variant"], t["source"]) for t in data["train"]] == [
        ("r2plus1d_18", "tiny", "vidbook")
    ]
    (entry,) = data["ladder"]
    assert [r["rung"] for r in entry["rows"]] == ["fp32", "+ bf16 autocast", "+ fused kernels"]
    assert data["provenance"]["command"].endswith("--no-compile")


def test_suite_plan_by_name_or_environment(tmp_path, monkeypatch):
    fast = {"device": "cpu", "seconds": 0.01, "steps": 1, "warmup": 0, "runs": [], "ladders": []}
    monkeypatch.setenv(bench.SUITE_ENV, "smoke")
    data = bench.suite(out_dir=tmp_path, **fast)
    assert data["suite"] == "smoke" and data["train"] == [] and data["ladder"] == []
    render, scenes = data["render"]
    assert (render["batch_size"], render["frames"], render["height"]) == (2, 4, 16)
    assert (scenes["world"], scenes["frames"], scenes["actors"]) == ("scenes", 4, 3)
    assert json.loads((tmp_path / "bench-cpu.json").read_text())["suite"] == "smoke"
    smoke = bench.SUITES["smoke"]
    assert smoke["compile_backend"] == "eager"
    assert {r["model"] for r in smoke["runs"]} == {r["model"] for r in bench.SUITES["cuda"]["runs"]}
    with pytest.raises(ValueError, match="unknown suite 'nope'"):
        bench.suite(plan="nope", **fast)
    monkeypatch.setenv(bench.SUITE_ENV, "cuda")
    with pytest.raises(ValueError, match="cuda suite needs a CUDA device"):
        bench.suite(**fast)


def test_device_slug():
    assert bench.device_slug(torch.device("cpu")) == "cpu"


def test_cli_bench_no_render_times_only_the_models(capsys):
    args = ["bench", "--no-render", "--models", "frame_cnn", *TINY_ARGS, "--seconds", "0.1"]
    assert main(args) == 0
    assert list(bench_table(capsys.readouterr().out)) == ["train frame_cnn"]


def test_cli_bench_unknown_model_lists_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--models", "c3d", "resnet9000"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'resnet9000'" in err
    for name in available():
        assert name in err


def test_cli_bench_render_only_and_no_render_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--render-only", "--no-render"])
    assert exit_info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value"), [("--seconds", "0"), ("--frames", "1"), ("--batch-size", "0")]
)
def test_cli_bench_bad_value_names_the_option(capsys, option, value):
    assert main(["bench", "--models", "c3d", option, value]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"vidbook bench: error: argument {option}: must be ")
    assert "clips/s" not in captured.out


def test_cli_bench_decode_times_a_given_video_and_writes_json(tmp_path, capsys):
    from vidbook.data import write_video

    video = torch.rand(3, 60, 48, 64, generator=torch.Generator().manual_seed(0))
    path = write_video(tmp_path / "v.mp4", video, fps=25.0, keyframe_interval=10)
    out = tmp_path / "decode.json"
    args = ["bench", "--decode", "--video", str(path), "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"{path}: 60 frames (2.4 s at 25 fps), 64x48 h264, 6 key frames" in printed
    assert "speed-up of reading a clip over decoding the whole file" in printed
    data = json.loads(out.read_text())
    assert data["video"]["num_frames"] == 60 and data["whole"]["frames_per_s"] > 0
    assert data["clips"]["clip_len"] == 16 and data["speedup"] > 0
    assert data["provenance"]["command"] == "vidbook " + " ".join(args)


def test_cli_bench_decode_of_a_missing_video_is_a_clear_error(tmp_path, capsys):
    assert main(["bench", "--decode", "--video", str(tmp_path / "none.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vidbook bench: error: ") and "none.mp4" in err


def test_render_scenes_throughput_and_the_cli_option(capsys):
    from vidbook.bench import render_throughput

    row = render_throughput(ClipShape(4, 16, 16), batch_size=8, seconds=0.05, actors=2)
    assert row["world"] == "scenes" and row["actors"] == 2 and row["clips_per_s"] > 0
    args = ["bench", "--render-only", "--frames", "4", "--height", "16", "--width", "16"]
    args += ["--seconds", "0.05", "--batch-size", "8"]
    assert main([*args, "--actors", "3"]) == 0
    assert "render scenes (3 actors) (medium)" in capsys.readouterr().out
    assert main([*args, "--actors", "0"]) == 2
    assert "argument --actors: must be an int >= 1, got 0" in capsys.readouterr().err
