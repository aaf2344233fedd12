"""Runtime: device, profile, seeding, notebook set-up, provenance."""

from __future__ import annotations

import pytest
import torch

import vidbook
from vidbook import runtime


def test_device_and_profile_follow_the_hardware(monkeypatch):
    monkeypatch.delenv("VIDBOOK_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert vidbook.device().type in ("cpu", "mps")
    assert vidbook.profile() == "quick"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert vidbook.device().type == "cuda"
    assert vidbook.profile() == "full"


def test_profile_override(monkeypatch):
    monkeypatch.setenv("VIDBOOK_PROFILE", "FULL")
    assert vidbook.profile() == "full"
    monkeypatch.setenv("VIDBOOK_PROFILE", "fast")
    with pytest.raises(ValueError, match=r"VIDBOOK_PROFILE='fast'.*quick.*full"):
        vidbook.profile()


def test_seed_everything_repeats_draws():
    vidbook.seed_everything(3)
    a = torch.rand(4)
    vidbook.seed_everything(3)
    assert torch.equal(a, torch.rand(4))
    with pytest.raises(ValueError, match="seed"):
        vidbook.seed_everything(-1)


def test_setup_notebook_prints_and_warns_on_cpu(monkeypatch, capsys):
    monkeypatch.delenv("VIDBOOK_PROFILE", raising=False)
    monkeypatch.setattr(runtime, "device", lambda: torch.device("cpu"))
    facts = vidbook.setup_notebook({"quick": 1.5, "full": 8})
    out = capsys.readouterr().out
    assert "device=cpu" in out and "profile=quick" in out and "about 1.5 min" in out
    assert "warning: running on the CPU" in out
    assert facts["profile"] == "quick" and facts["expected_minutes"] == 1.5


def test_provenance_fields():
    info = vidbook.provenance("vidbook info")
    assert {"device", "device_name", "torch", "git_commit", "date", "command"} <= set(info)
    assert info["torch"] == torch.__version__ and info["command"] == "vidbook info"


def test_setup_notebook_does_not_warn_on_cuda(monkeypatch, capsys):
    monkeypatch.delenv("VIDBOOK_PROFILE", raising=False)
    monkeypatch.setattr(runtime, "device", lambda: torch.device("cuda"))
    monkeypatch.setattr(runtime, "device_name", lambda dev=None: "a GPU")
    facts = vidbook.setup_notebook({"quick": 1.5, "full": 8})
    out = capsys.readouterr().out
    assert "profile=full" in out and "about 8 min" in out and "warning" not in out
    assert "warning" not in facts


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "sub" / "result.json"
    runtime.atomic_write(target, lambda f: f.write("old"))
    assert target.read_text() == "old"

    def broken(f):
        f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        runtime.atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]  # no temp file left
    runtime.atomic_write(target, lambda f: f.write(b"new"), binary=True)
    assert target.read_bytes() == b"new"
