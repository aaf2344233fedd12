"""vidbook.scratch.rnn_probe: the LSTM's gates reproduce nn.LSTM, and the hand-written BPTT of the
vanilla RNN equals autograd through nn.RNN; bad inputs raise ValueError."""

from __future__ import annotations

import pytest
import torch
from oracle import assert_close
from torch import nn

from vidbook.scratch import rnn
from vidbook.scratch.rnn_probe import lstm_gates, rnn_bptt

DTYPES = [torch.float64, torch.float32]
IN, H, B, T = 3, 5, 2, 6


def randn(*shape, dtype=torch.float64, seed=0):
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def make_lstm(dtype, **kwargs):
    torch.manual_seed(0)
    return nn.LSTM(IN, H, **kwargs).to(dtype)


# --- lstm_gates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_gates_reproduce_nn_lstm(dtype, batch_first, num_layers, with_state):
    lstm = make_lstm(dtype, num_layers=num_layers, batch_first=batch_first)
    x = randn(*((B, T, IN) if batch_first else (T, B, IN)), dtype=dtype, seed=1)
    hx = None
    if with_state:
        hx = (
            randn(num_layers, B, H, dtype=dtype, seed=2),
            randn(num_layers, B, H, dtype=dtype, seed=3),
        )
    with torch.no_grad():
        out, (h_n, c_n) = lstm(x, hx)
        got = lstm_gates(lstm, x, hx)
    want_shape = (B, T, H) if batch_first else (T, B, H)
    assert set(got) == {"i", "f", "g", "o", "c", "h"}
    assert all(v.shape == want_shape for v in got.values())
    assert_close(got["h"], out, "rnn_probe.lstm_gates")
    last = (slice(None), -1) if batch_first else (-1,)
    assert_close(got["h"][last], h_n[-1], "rnn_probe.lstm_gates", "h_n")
    assert_close(got["c"][last], c_n[-1], "rnn_probe.lstm_gates", "c_n")
    # The gates are in (0, 1), the candidate in (-1, 1), and h and c obey the LSTM's equations.
    for name in "ifo":
        assert 0 < got[name].min() and got[name].max() < 1
    assert got["g"].abs().max() < 1
    assert_close(got["o"] * torch.tanh(got["c"]), got["h"], "rnn_probe.lstm_gates", "h = o tanh c")


def test_lstm_gates_are_the_pytorch_blocks():
    """The gates come from the blocks i, f, g, o of the weights, in that order: check the first
    step by hand with h0 = c0 = 0, where i = sigmoid(W_ii x + b_ii + b_hi) and so on."""
    lstm = make_lstm(torch.float64, batch_first=True)
    x = randn(B, T, IN, seed=4)
    got = lstm_gates(lstm, x)
    pre = x[:, 0] @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0
    i, f, g, o = pre.chunk(4, dim=-1)
    assert_close(got["i"][:, 0], torch.sigmoid(i), "rnn_probe.lstm_gates", "input gate")
    assert_close(got["f"][:, 0], torch.sigmoid(f), "rnn_probe.lstm_gates", "forget gate")
    assert_close(got["g"][:, 0], torch.tanh(g), "rnn_probe.lstm_gates", "candidate")
    assert_close(got["o"][:, 0], torch.sigmoid(o), "rnn_probe.lstm_gates", "output gate")
    assert_close(got["c"][:, 0], torch.sigmoid(i) * torch.tanh(g), "rnn_probe.lstm_gates", "c_1")


def test_lstm_gates_lower_layer_and_scratch_module():
    """layer=0 of a 2-layer LSTM equals a 1-layer LSTM with the first layer's weights, and the
    from-scratch LSTM (same state_dict) gives the same gates as nn.LSTM."""
    lstm = make_lstm(torch.float64, num_layers=2, batch_first=True)
    single = nn.LSTM(IN, H, batch_first=True).double()
    single.load_state_dict({k: v for k, v in lstm.state_dict().items() if k.endswith("l0")})
    x = randn(B, T, IN, seed=5)
    with torch.no_grad():
        out0, _ = single(x)
        assert_close(lstm_gates(lstm, x, layer=0)["h"], out0, "rnn_probe.lstm_gates", "layer 0")
        assert_close(lstm_gates(lstm, x, layer=-2)["h"], out0, "rnn_probe.lstm_gates", "layer -2")
        ours = rnn.LSTM(IN, H, num_layers=2, batch_first=True).double()
        ours.load_state_dict(lstm.state_dict())
        a, b = lstm_gates(ours, x), lstm_gates(lstm, x)
    for name in a:
        assert torch.equal(a[name], b[name])


def test_lstm_gates_without_bias():
    lstm = make_lstm(torch.float64, bias=False)
    x = randn(T, B, IN, seed=6)
    with torch.no_grad():
        out, _ = lstm(x)
    assert_close(lstm_gates(lstm, x)["h"], out, "rnn_probe.lstm_gates", "no bias")


def test_lstm_gates_bad_inputs():
    lstm = make_lstm(torch.float64, num_layers=2, batch_first=True)
    x = randn(B, T, IN)
    bad = [
        dict(x=randn(B, T, IN + 1)),  # wrong feature size
        dict(x=randn(T, IN)),  # unbatched
        dict(x=randn(B, 0, IN)),  # no time step
        dict(x=x.float()),  # dtype differs from the weights'
        dict(x=x, layer=2),  # no such layer
        dict(x=x, layer=1.0),
        dict(x=x, hx=randn(2, B, H)),  # not a pair
        dict(x=x, hx=(randn(1, B, H), randn(2, B, H))),  # h0 of the wrong shape
        dict(x=x, hx=(randn(2, B, H), randn(2, B + 1, H))),  # c0 of the wrong shape
    ]
    for kwargs in bad:
        with pytest.raises(ValueError):
            lstm_gates(lstm, **kwargs)
    for module in (nn.GRU(IN, H), nn.Linear(IN, H), nn.LSTM(IN, H, bidirectional=True)):
        with pytest.raises(ValueError):
            lstm_gates(module, randn(T, B, IN).float())
    with pytest.raises(ValueError, match="proj_size"):
        lstm_gates(nn.LSTM(IN, H, proj_size=2), randn(T, B, IN).float())


# --- rnn_bptt -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("last_only", [True, False])
def test_rnn_bptt_equals_autograd(bias, last_only):
    torch.manual_seed(0)
    layer = nn.RNN(IN, H, bias=bias, batch_first=True).double()
    x = randn(B, T, IN, seed=7).requires_grad_()
    h0 = randn(1, B, H, seed=8).requires_grad_()
    grad_h = randn(B, T, H, seed=9)
    if last_only:  # a classifier reads only the last state
        grad_h[:, :-1] = 0
    out, _ = layer(x, h0)
    (out * grad_h).sum().backward()
    weights = [
        layer.weight_ih_l0,
        layer.weight_hh_l0,
        layer.bias_ih_l0 if bias else None,
        layer.bias_hh_l0 if bias else None,
    ]
    got = rnn_bptt(
        x.detach(), h0.detach()[0], *[w if w is None else w.detach() for w in weights], grad_h
    )
    block = "rnn_probe.rnn_bptt"
    assert_close(got["x"], x.grad, block, "dL/dx")
    assert_close(got["h0"], h0.grad[0], block, "dL/dh0")
    assert_close(got["weight_ih"], layer.weight_ih_l0.grad, block, "dL/dW_ih")
    assert_close(got["weight_hh"], layer.weight_hh_l0.grad, block, "dL/dW_hh")
    if bias:
        assert_close(got["bias_ih"], layer.bias_ih_l0.grad, block, "dL/db_ih")
        assert_close(got["bias_hh"], layer.bias_hh_l0.grad, block, "dL/db_hh")
    else:
        assert got["bias_ih"] is None and got["bias_hh"] is None
    assert_close(got["delta"][:, -1], grad_h[:, -1], block, "delta_T = dL/dh_T")


def test_rnn_bptt_delta_matches_autograd():
    """delta_t = dL/dh_t (total): run the RNN with h_t made a leaf at one step k, and compare."""
    torch.manual_seed(1)
    layer = nn.RNN(IN, H, batch_first=True).double()
    x, h0, grad_h = randn(B, T, IN, seed=10), randn(B, H, seed=11), randn(B, T, H, seed=12)
    weights = [p.detach() for p in layer.parameters()]
    got = rnn_bptt(x, h0, *weights, grad_h)
    for k in range(T):
        with torch.no_grad():
            out, _ = layer(x[:, : k + 1], h0[None])
        hk = out[:, k].clone().requires_grad_()  # h_k as a leaf; the rest of the run follows it
        loss = (hk * grad_h[:, k]).sum()
        if k + 1 < T:
            rest, _ = layer(x[:, k + 1 :], hk[None])  # h_(k+1), ..., h_T
            loss = loss + (rest * grad_h[:, k + 1 :]).sum()
        loss.backward()
        assert_close(got["delta"][:, k], hk.grad, "rnn_probe.rnn_bptt", f"delta_{k + 1}")


def test_rnn_bptt_bad_inputs():
    x, h0, w_ih, w_hh = randn(B, T, IN), randn(B, H), randn(H, IN), randn(H, H)
    b, g = randn(H), randn(B, T, H)
    good = dict(x=x, h0=h0, weight_ih=w_ih, weight_hh=w_hh, bias_ih=b, bias_hh=b, grad_h=g)
    rnn_bptt(**good)  # fine
    bad = [
        dict(x=randn(T, IN)),
        dict(x=randn(B, 0, IN), grad_h=randn(B, 0, H)),
        dict(x=x.long()),
        dict(h0=randn(B, H + 1)),
        dict(weight_ih=randn(H, IN + 1)),
        dict(weight_hh=randn(H, H + 1)),
        dict(weight_hh=randn(H)),
        dict(bias_ih=None),
        dict(bias_hh=randn(H + 1)),
        dict(grad_h=randn(B, T - 1, H)),
        dict(grad_h=g.float()),
    ]
    for change in bad:
        with pytest.raises(ValueError):
            rnn_bptt(**{**good, **change})
