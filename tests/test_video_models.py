"""cnn_lstm and timesformer: the fast models equal versions assembled from vidbook.scratch."""

from __future__ import annotations

import pytest
import torch
from oracle import assert_close

from vidbook.models import build, build_for_clips
from vidbook.scratch import activations as act
from vidbook.scratch.attention import MultiHeadAttention
from vidbook.scratch.conv import conv2d
from vidbook.scratch.pool import avg_pool2d
from vidbook.scratch.rnn import LSTM
from vidbook.scratch.video_tokens import DividedSpaceTimeAttention, TubeletEmbedding


def _linear(x: torch.Tensor, layer: torch.nn.Linear) -> torch.Tensor:
    return x @ layer.weight.T + layer.bias


def _layer_norm(x: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def scratch_timesformer(model, clips: torch.Tensor) -> torch.Tensor:
    """The timesformer forward pass, assembled from scratch blocks with the model's weights."""
    cfg = model.cfg
    embed = TubeletEmbedding(cfg.in_channels, cfg.dim, cfg.tubelet).to(clips.dtype)
    embed.load_state_dict(model.embed.state_dict())
    t, n = model.grid[0], model.grid[1] * model.grid[2]
    clips = (clips - model.input_mean.to(clips.dtype)) / model.input_std.to(clips.dtype)
    x = embed(clips).view(len(clips), t, n, cfg.dim) + model.pos_time + model.pos_space
    x = x.reshape(len(clips), t * n, cfg.dim)
    for block in model.blocks:
        divided = DividedSpaceTimeAttention(cfg.dim, cfg.heads).to(clips.dtype)
        state = {
            k: v for k, v in block.state_dict().items() if not k.startswith(("mlp", "norm_mlp"))
        }
        divided.load_state_dict(state)
        x = divided(x, t, n)
        hidden = act.gelu(_linear(_layer_norm(x, block.norm_mlp), block.mlp[0]))
        x = x + _linear(hidden, block.mlp[2])
    pool = MultiHeadAttention(cfg.dim, cfg.heads).to(clips.dtype)
    pool.load_state_dict({k: v for k, v in model.pool.state_dict().items() if k != "query"})
    x = _layer_norm(x, model.norm)
    pooled, _ = pool(model.pool.query.expand(len(x), -1, -1), x, x)  # (B, 1, dim)
    return _linear(pooled[:, 0], model.head[1])


def scratch_cnn_lstm(model, clips: torch.Tensor) -> torch.Tensor:
    """The cnn_lstm forward pass (eval mode) from scratch convolution, pooling and LSTM."""
    b, c, t, h, w = clips.shape
    x = clips.transpose(1, 2).reshape(b * t, c, h, w)
    for conv, bn, _ in model.encoder.features:
        x = conv2d(x, conv.weight, None, stride=conv.stride, padding=conv.padding)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        x = act.relu(
            (x - bn.running_mean[:, None, None]) * scale[:, None, None] + bn.bias[:, None, None]
        )
    pool, _, linear, _ = model.encoder.embed
    k = x.shape[-1] // pool.output_size
    x = avg_pool2d(x, k).flatten(1)
    feats = act.relu(_linear(x, linear)).view(b, t, -1)
    lstm = LSTM(model.cfg.embed_dim, model.cfg.hidden_size, batch_first=True).to(clips.dtype)
    lstm.load_state_dict(model.lstm.state_dict())
    states, _ = lstm(feats)
    return _linear(states[:, -1], model.head[1])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_timesformer_equals_its_scratch_assembly(dtype, one_thread):
    torch.manual_seed(0)
    model = build_for_clips(
        "timesformer", 5, frames=4, height=16, width=16, dim=16, depth=2, heads=2
    )
    model = model.to(dtype).eval()
    clips = torch.rand(2, 3, 4, 16, 16, dtype=dtype)
    with torch.no_grad():
        assert_close(scratch_timesformer(model, clips), model(clips), "timesformer_model")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cnn_lstm_equals_its_scratch_assembly(dtype, one_thread):
    torch.manual_seed(0)
    model = build("cnn_lstm", 5, widths=(4, 8), grid=2, embed_dim=12, hidden_size=10).to(dtype)
    with torch.no_grad():  # non-trivial batch-norm statistics
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    model.eval()
    clips = torch.rand(2, 3, 5, 16, 16, dtype=dtype)
    with torch.no_grad():
        assert_close(scratch_cnn_lstm(model, clips), model(clips), "cnn_lstm_model")


def test_cnn_lstm_sees_frame_order_and_frame_cnn_does_not(one_thread):
    torch.manual_seed(0)
    clips = torch.rand(2, 3, 6, 16, 16)
    lstm, frames = build("cnn_lstm").eval(), build("frame_cnn").eval()
    with torch.no_grad():
        assert not torch.allclose(lstm(clips), lstm(clips.flip(2)), atol=1e-6)
        assert torch.allclose(frames(clips), frames(clips.flip(2)), atol=1e-6)


def test_timesformer_clip_size_errors_say_what_to_do():
    model = build_for_clips(
        "timesformer", 10, frames=8, height=16, width=16, dim=16, depth=1, heads=2
    )
    with pytest.raises(
        ValueError, match=r"built for clips \(B, 3, 8, 16, 16\).*frames=\.\.\. and size="
    ):
        model(torch.rand(1, 3, 8, 32, 32))
    with pytest.raises(ValueError, match="divisible by the tubelet"):
        build("timesformer", frames=6, size=16, tubelet=(4, 4, 4))
    with pytest.raises(ValueError, match="needs square frames"):
        build_for_clips("timesformer", 10, frames=8, height=16, width=24)
    with pytest.raises(ValueError, match="divisible by heads"):
        build("timesformer", dim=10, heads=4)


def test_models_that_ignore_the_clip_size_build_for_any_clip():
    model = build_for_clips("cnn_lstm", 7, frames=4, height=16, width=24)
    assert model(torch.rand(2, 3, 4, 16, 24)).shape == (2, 7)
