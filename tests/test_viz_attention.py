"""Attention weights of a timesformer recomputed from its parameters: they are the weights the
model used (they rebuild its output), they equal nn.MultiheadAttention's, and pictures draw."""

from __future__ import annotations

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from vidbook.models import build_for_clips  # noqa: E402
from vidbook.viz.attention import (  # noqa: E402
    overlay_attention,
    patch_occupancy,
    query_attention_weights,
    self_attention_weights,
    timesformer_attention,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def small_model(dtype: torch.dtype = torch.float64) -> nn.Module:
    torch.manual_seed(0)
    model = build_for_clips(
        "timesformer",
        5,
        frames=6,
        height=12,
        width=12,
        dim=8,
        depth=2,
        heads=2,
        tubelet=(2, 4, 4),
    ).to(dtype)
    with torch.no_grad():  # move the weights away from their initial values (zeros, ones)
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def clips_for(dtype: torch.dtype = torch.float64, b: int = 2) -> torch.Tensor:
    return torch.rand(b, 3, 6, 12, 12, dtype=dtype, generator=torch.Generator().manual_seed(1))


def _attend(attn: nn.Module, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """An attention layer's output (B, L, E) from its weights (B, h, L, S), values from x (B, S, E)."""
    e, h = x.shape[-1], weights.shape[1]
    v = x @ attn.in_proj_weight[2 * e :].T + attn.in_proj_bias[2 * e :]  # (B, S, E)
    v = v.unflatten(-1, (h, e // h)).transpose(1, 2)  # (B, h, S, E / h)
    heads = (weights @ v).transpose(1, 2).flatten(2)  # (B, L, E)
    return attn.out_proj(heads)


def layer_inputs_and_outputs(model: nn.Module, clips: torch.Tensor) -> dict:
    """What every attention layer (and the pool) received and returned in one forward pass."""
    seen: dict = {}

    def keep(name):
        return lambda module, inputs, output: seen.__setitem__(name, (inputs[0], output))

    handles = [model.pool.register_forward_hook(keep("pool"))] if hasattr(model, "pool") else []
    for k, block in enumerate(model.blocks):
        handles.append(block.attn_time.register_forward_hook(keep(("time", k))))
        handles.append(block.attn_space.register_forward_hook(keep(("space", k))))
    with torch.no_grad():
        model(clips)
    for handle in handles:
        handle.remove()
    return seen


def check_rebuilds(model: nn.Module, clips: torch.Tensor, result: dict, atol: float) -> bool:
    """Do the returned weights, applied to each layer's values, give each layer's output?"""
    ok = True
    with torch.no_grad():
        for key, (x, out) in layer_inputs_and_outputs(model, clips).items():
            if key == "pool":
                weights = result["pool"].flatten(2)[:, :, None]  # (B, heads, 1, T'·N)
                mine = _attend(model.pool, x, weights)[:, 0]  # (B, dim)
            else:
                kind, k = key
                block = model.blocks[k]
                layer = block.attn_time if kind == "time" else block.attn_space
                weights = result[kind][k].transpose(1, 2)  # (B, N, h, T', T') or (B, T', h, N, N)
                mine = _attend(layer, x, weights.flatten(0, 1))
            ok = ok and torch.allclose(mine, out, atol=atol)
    return ok


def test_shapes_rows_and_logits():
    model, clips = small_model(), clips_for()
    result = timesformer_attention(model, clips)
    assert result["grid"] == (3, 3, 3)
    assert result["time"].shape == (2, 2, 2, 9, 3, 3)  # (depth, B, heads, N, T', T')
    assert result["space"].shape == (2, 2, 2, 3, 9, 9)  # (depth, B, heads, T', N, N)
    for key in ("time", "space"):
        rows = result[key].sum(-1)
        assert torch.allclose(rows, torch.ones_like(rows), atol=1e-12), key
        assert (result[key] >= 0).all()
    with torch.no_grad():
        assert torch.allclose(result["logits"], model(clips), atol=1e-12)
    if "pool" in result:  # a model that reads its tokens out with a learned query
        assert result["pool"].shape == (2, 2, 3, 9)  # (B, heads, T', N)
        total = result["pool"].sum((-2, -1))
        assert torch.allclose(total, torch.ones_like(total), atol=1e-12)


def test_weights_rebuild_every_layers_output():
    model, clips = small_model(), clips_for()
    result = timesformer_attention(model, clips)
    assert check_rebuilds(model, clips, result, atol=1e-12)
    # Weights in the wrong place do not: another clip's, or the patches in another order.
    assert not check_rebuilds(model, clips, dict(result, time=result["time"].flip(1)), 1e-4)
    assert not check_rebuilds(model, clips, dict(result, space=result["space"].flip(-1)), 1e-4)
    if "pool" in result:
        assert not check_rebuilds(model, clips, dict(result, pool=result["pool"].flip(-2)), 1e-4)


def test_weights_equal_nn_multihead_attention():
    model = small_model()
    attn = model.blocks[0].attn_space
    torch_attn = nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    torch_attn.load_state_dict(attn.state_dict())
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    ours = self_attention_weights(attn, x)
    with torch.no_grad():
        out, theirs = torch_attn(x, x, x, average_attn_weights=False)
        assert ours.shape == theirs.shape == (3, 2, 5, 5)
        assert torch.allclose(ours, theirs, atol=1e-12)
        assert torch.allclose(self_attention_weights(torch_attn, x), theirs, atol=1e-12)
        assert torch.allclose(attn(x), out, atol=1e-12)


def test_query_weights_equal_nn_multihead_attention():
    pool = nn.Module()
    pool.heads = 2
    pool.query = nn.Parameter(torch.randn(1, 1, 8, dtype=torch.float64))
    torch_attn = nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    pool.in_proj_weight, pool.in_proj_bias = torch_attn.in_proj_weight, torch_attn.in_proj_bias
    with torch.no_grad():
        torch_attn.in_proj_bias.normal_()
    x = torch.randn(3, 7, 8, dtype=torch.float64)
    ours = query_attention_weights(pool, x)
    with torch.no_grad():
        _, theirs = torch_attn(pool.query.expand(3, 1, 8), x, x, average_attn_weights=False)
    assert ours.shape == theirs.shape == (3, 2, 1, 7)
    assert torch.allclose(ours, theirs, atol=1e-12)
    with pytest.raises(ValueError, match="learned query"):
        query_attention_weights(torch_attn, x)


def test_mode_and_hooks_are_restored():
    model, clips = small_model(), clips_for()
    model.train()
    timesformer_attention(model, clips)
    assert model.training
    assert all(not b.attn_time._forward_hooks for b in model.blocks)
    assert all(not b.attn_space._forward_hooks for b in model.blocks)
    assert not getattr(model, "pool", nn.Identity())._forward_hooks
    with pytest.raises(ValueError):
        timesformer_attention(model, torch.rand(1, 3, 4, 12, 12, dtype=torch.float64))
    assert model.training and not model.blocks[0].attn_time._forward_hooks


def test_patch_occupancy():
    masks = torch.zeros(4, 8, 8)
    masks[0, :4, :4] = 1  # slice 0 (frames 0-1): half of frame 0's top-left patch ...
    masks[1, :2, :4] = 1  # ... and a quarter of frame 1's: (1 + 0.5) / 2
    masks[3, 4:, 4:] = 1  # slice 1: one frame of the bottom-right patch
    occ = patch_occupancy(masks, (2, 4, 4))
    assert occ.shape == (2, 2, 2)
    assert occ[0, 0, 0] == pytest.approx(0.75) and occ[1, 1, 1] == pytest.approx(0.5)
    assert occ.sum() == pytest.approx(1.25)
    assert patch_occupancy(masks[None].expand(3, -1, -1, -1), (2, 4, 4)).shape == (3, 2, 2, 2)


def test_overlay_attention_draws():
    fig, ax = plt.subplots()
    frame = torch.rand(3, 12, 12)
    weights = torch.zeros(3, 3)
    weights[1, 2] = 1.0
    image = overlay_attention(frame, weights, ax=ax, query=(0, 1), title="t")
    heat = image.get_array()
    assert heat.shape == (12, 12)
    assert heat[4:8, 8:12].min() == 1.0 and heat.sum() == 16  # one patch = 4x4 pixels
    assert ax.get_title() == "t" and len(ax.patches) == 1
    plt.close(fig)


def test_bad_inputs_raise_value_errors():
    model = small_model()
    with pytest.raises(ValueError, match="expected a timesformer"):
        timesformer_attention(nn.Linear(3, 3), clips_for())
    with pytest.raises(ValueError, match=r"clips: expected a tensor of shape \(B, C, T, H, W\)"):
        timesformer_attention(model, torch.rand(3, 6, 12, 12))
    with pytest.raises(ValueError, match="in_proj_weight"):
        self_attention_weights(nn.Linear(8, 8), torch.rand(1, 4, 8))
    with pytest.raises(ValueError, match=r"x: expected tokens of shape \(B, L, 8\)"):
        self_attention_weights(model.blocks[0].attn_time, torch.rand(4, 8))
    with pytest.raises(ValueError, match="divisible by the tubelet"):
        patch_occupancy(torch.zeros(5, 8, 8), (2, 4, 4))
    with pytest.raises(ValueError, match="three positive sizes"):
        patch_occupancy(torch.zeros(4, 8, 8), (2, 4))
    with pytest.raises(ValueError, match="masks: expected shape"):
        patch_occupancy(torch.zeros(8, 8), (2, 4, 4))
    with pytest.raises(ValueError, match="does not tile"):
        overlay_attention(torch.rand(3, 12, 12), torch.rand(5, 5))
    with pytest.raises(ValueError, match="frame: expected shape"):
        overlay_attention(torch.rand(12, 12), torch.rand(3, 3))
    with pytest.raises(ValueError, match="weights: expected a"):
        overlay_attention(torch.rand(3, 12, 12), torch.rand(9))
