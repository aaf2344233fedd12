"""Runtime: device, profile, seeding, notebook set-up, provenance."""

from __future__ import annotations

import pytest
import torch

import vidbook
from vidbook import runtime
from vidbook.errors import BadValueError


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


# ----- resolve_device: a device by name, or a clear error naming what is available -------------


@pytest.fixture
def no_accelerator(monkeypatch):
    """A machine with neither CUDA nor MPS, whatever this one has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    if getattr(torch.backends, "mps", None) is not None:
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(no_accelerator, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_resolve_device_default_and_plain_names(no_accelerator):
    assert runtime.resolve_device(None) == runtime.device() == torch.device("cpu")
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    assert runtime.resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert runtime.available_devices() == ["cpu"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cuda", "device 'cuda' is not available: torch sees no CUDA GPU here"),
        ("cuda:1", "device 'cuda:1' is not available: torch sees no CUDA GPU here"),
        ("mps", "device 'mps' is not available: torch sees no Apple MPS device"),
        ("meta", "device 'meta' is not available: vidbook runs on cpu, cuda or mps"),
        ("gpu0", "device 'gpu0' is not a torch device"),
    ],
)
def test_resolve_device_refuses_what_is_not_here(no_accelerator, name, message):
    with pytest.raises(BadValueError) as err:
        runtime.resolve_device(name)
    assert str(err.value).startswith(message), str(err.value)
    assert str(err.value).endswith("; available here: cpu")
    assert isinstance(err.value, ValueError) and isinstance(err.value, vidbook.VidbookError)


def test_resolve_device_checks_the_gpu_number(two_gpus):
    assert runtime.available_devices() == ["cpu", "cuda", "cuda:0", "cuda:1"]
    assert runtime.resolve_device("cuda") == torch.device("cuda")
    assert runtime.resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(BadValueError, match=r"'cuda:2' .* sees 2 CUDA GPU\(s\), numbered 0 to 1"):
        runtime.resolve_device("cuda:2")


# ----- one resolver: by name, by a model's parameters, or from VIDBOOK_DEVICE -------------------


def test_resolve_device_follows_the_model_without_a_name(no_accelerator):
    model = torch.nn.Linear(2, 2).to(torch.float64)
    assert runtime.resolve_device(model=model) == torch.device("cpu")
    meta = torch.nn.Linear(2, 2, device="meta")
    assert runtime.resolve_device(model=meta) == torch.device("meta")  # where its weights are
    assert runtime.resolve_device("cpu", model=meta) == torch.device("cpu")  # a name wins
    assert runtime.resolve_device(model=torch.nn.ReLU()) == runtime.device()  # no tensors


def test_vidbook_device_names_the_default_device(no_accelerator, monkeypatch):
    monkeypatch.setenv(runtime.DEVICE_ENV, "cpu")
    assert runtime.device() == torch.device("cpu") == runtime.resolve_device()
    monkeypatch.setenv(runtime.DEVICE_ENV, "cuda")
    with pytest.raises(BadValueError, match=r"^VIDBOOK_DEVICE='cuda': device 'cuda' is not avail"):
        runtime.device()


def test_provenance_records_the_device_used(no_accelerator):
    assert runtime.provenance("x", device="cpu")["device"] == "cpu"
    with pytest.raises(BadValueError, match="not available"):
        runtime.provenance("x", device="cuda")


def test_a_notebook_on_a_device_that_is_not_there_stops_at_its_first_cell(
    no_accelerator, monkeypatch
):
    monkeypatch.setenv(runtime.DEVICE_ENV, "cuda:1")
    with pytest.raises(BadValueError, match=r"VIDBOOK_DEVICE='cuda:1': .* available here: cpu"):
        vidbook.setup_notebook()


def test_fast_bf16_follows_the_hardware(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert vidbook.fast_bf16("cuda") is True
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert vidbook.fast_bf16("cuda") is False
    assert vidbook.fast_bf16("meta") is False
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert vidbook.fast_bf16("cpu") is False
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert vidbook.fast_bf16("cpu") is True
