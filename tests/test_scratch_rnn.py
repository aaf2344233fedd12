"""vidbook.scratch.rnn against torch.nn: RNN, LSTM and GRU cells and layers, values and gradients.

Each test builds PyTorch's module, loads its state_dict into ours unchanged (strict), and compares
the outputs, the final states and the gradients with respect to the input, the initial states and
every parameter, in float64 and float32.
"""

from __future__ import annotations

import pytest
import torch
from oracle import assert_close
from torch import nn

from vidbook.scratch import rnn

DTYPES = [torch.float64, torch.float32]
IN, H = 4, 5  # input and hidden size in every comparison


def check_same(block, ours, theirs, inputs, run, seed=0):
    """``run(module, *inputs)`` returns a tuple of tensors. Load theirs into ours, compare each
    tensor, then the gradients of a random linear function of all of them with respect to every
    tensor input and every parameter (paired by name). ``None`` inputs pass through."""
    ours.load_state_dict(theirs.state_dict())  # strict: same names, same shapes
    leaves = [None if x is None else x.detach().clone().requires_grad_() for x in inputs]
    leaves_t = [None if x is None else x.detach().clone().requires_grad_() for x in inputs]
    outs, outs_t = run(ours, *leaves), run(theirs, *leaves_t)
    generator = torch.Generator().manual_seed(seed)
    loss = loss_t = 0.0
    for k, (a, b) in enumerate(zip(outs, outs_t, strict=True)):
        assert_close(a, b, block, f"output {k}")
        weight = torch.randn(b.shape, dtype=b.dtype, generator=generator)
        loss, loss_t = loss + (a * weight).sum(), loss_t + (b * weight).sum()
    loss.backward()
    loss_t.backward()
    for k, (a, b) in enumerate(zip(leaves, leaves_t, strict=True)):
        if b is not None:
            assert_close(a.grad, b.grad, block, f"gradient of input {k}")
    params_t = dict(theirs.named_parameters())
    assert set(params_t) == {name for name, _ in ours.named_parameters()}
    for name, p in ours.named_parameters():
        assert_close(p.grad, params_t[name].grad, block, f"gradient of {name}")


def randn(*shape, dtype, seed):
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def case_id(kwargs, steps, batch, with_state):
    """A readable test id, such as T3-B2-num_layers=2-batch_first=True (no T for a cell)."""
    options = [f"{k}={v}" for k, v in kwargs.items()] + ([] if with_state else ["no-state"])
    size = ["unbatched" if batch is None else f"B{batch}"]
    return "-".join(([] if steps is None else [f"T{steps}"]) + size + options)


# --- Cells --------------------------------------------------------------------------------------

CELLS = {
    "rnn_cell": (rnn.RNNCell, nn.RNNCell),
    "lstm_cell": (rnn.LSTMCell, nn.LSTMCell),
    "gru_cell": (rnn.GRUCell, nn.GRUCell),
}
CELL_CASES = [  # (block, keyword arguments, batch or None for one unbatched vector, state given)
    ("rnn_cell", {}, 3, True),
    ("rnn_cell", {"nonlinearity": "relu"}, 3, True),
    ("rnn_cell", {"bias": False}, 2, False),
    ("rnn_cell", {}, None, True),
    ("lstm_cell", {}, 3, True),
    ("lstm_cell", {"bias": False}, 2, False),
    ("lstm_cell", {}, None, True),
    ("gru_cell", {}, 3, True),
    ("gru_cell", {"bias": False}, 2, False),
    ("gru_cell", {}, None, True),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    ("block", "kwargs", "batch", "with_state"),
    CELL_CASES,
    ids=[f"{c[0]}-{case_id(c[1], None, *c[2:])}" for c in CELL_CASES],
)
def test_cell_equals_torch(block, kwargs, batch, with_state, dtype):
    ours_cls, theirs_cls = CELLS[block]
    torch.manual_seed(0)
    theirs = theirs_cls(IN, H, **kwargs).to(dtype)
    ours = ours_cls(IN, H, **kwargs).to(dtype)
    lead = () if batch is None else (batch,)
    x = randn(*lead, IN, dtype=dtype, seed=1)
    h = randn(*lead, H, dtype=dtype, seed=2) if with_state else None
    if block == "lstm_cell":
        c = randn(*lead, H, dtype=dtype, seed=3) if with_state else None

        def run(cell, x, h, c):
            return cell(x, None if h is None else (h, c))

        check_same(block, ours, theirs, [x, h, c], run)
    else:
        check_same(block, ours, theirs, [x, h], lambda cell, x, h: (cell(x, h),))


# --- Layers -------------------------------------------------------------------------------------

LAYERS = {"rnn": (rnn.RNN, nn.RNN), "lstm": (rnn.LSTM, nn.LSTM), "gru": (rnn.GRU, nn.GRU)}
LAYER_CASES = [  # (keyword arguments, T, batch or None for one unbatched sequence, state given)
    ({}, 1, 3, True),
    ({"num_layers": 2, "batch_first": True}, 5, 2, True),
    ({"num_layers": 2, "bias": False}, 4, 3, False),
    ({"num_layers": 2, "batch_first": True, "bidirectional": True}, 3, 2, True),
    ({}, 4, None, True),
    ({"num_layers": 2, "dropout": 0.5}, 3, 2, True),  # compared in eval mode: dropout is off
]
RELU_CASES = [({"nonlinearity": "relu", "num_layers": 2, "batch_first": True}, 4, 3, True)]
LAYER_PARAMS = [
    pytest.param(block, *case, id=f"{block}-{case_id(*case)}")
    for block in LAYERS
    for case in LAYER_CASES + (RELU_CASES if block == "rnn" else [])
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("block", "kwargs", "steps", "batch", "with_state"), LAYER_PARAMS)
def test_layer_equals_torch(block, kwargs, steps, batch, with_state, dtype):
    ours_cls, theirs_cls = LAYERS[block]
    torch.manual_seed(0)
    theirs = theirs_cls(IN, H, **kwargs).to(dtype).eval()
    ours = ours_cls(IN, H, **kwargs).to(dtype).eval()
    states = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    if batch is None:
        x_shape, h_shape = (steps, IN), (states, H)
    else:
        x_shape = (batch, steps, IN) if kwargs.get("batch_first") else (steps, batch, IN)
        h_shape = (states, batch, H)
    x = randn(*x_shape, dtype=dtype, seed=1)
    h0 = randn(*h_shape, dtype=dtype, seed=2) if with_state else None
    if block == "lstm":
        c0 = randn(*h_shape, dtype=dtype, seed=3) if with_state else None

        def run(layer, x, h0, c0):
            output, (h_n, c_n) = layer(x, None if h0 is None else (h0, c0))
            return output, h_n, c_n

        check_same(block, ours, theirs, [x, h0, c0], run)
    else:
        check_same(block, ours, theirs, [x, h0], lambda layer, x, h0: layer(x, h0))


# --- Initialisation, gates, dropout ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"])
def test_initialised_like_torch(name):
    """Same seed, same parameters: uniform in [-1/sqrt(H), 1/sqrt(H)], drawn in the same order."""
    kwargs = {} if name.endswith("Cell") else {"num_layers": 2, "bidirectional": True}
    torch.manual_seed(7)
    theirs = getattr(nn, name)(IN, H, **kwargs).state_dict()
    torch.manual_seed(7)
    ours = getattr(rnn, name)(IN, H, **kwargs).state_dict()
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), key
        assert value.abs().max() <= 1 / H**0.5


def test_vanilla_rnn_has_no_gates():
    """weight_ih stacks one block per gate (or candidate): 1 for the RNN, 3 for the GRU, 4 for the LSTM."""
    for cls, blocks in [(rnn.RNNCell, 1), (rnn.GRUCell, 3), (rnn.LSTMCell, 4)]:
        cell = cls(IN, H)
        assert cell.weight_ih.shape == (blocks * H, IN)
        assert cell.weight_hh.shape == (blocks * H, H)
        assert cell.bias_ih.shape == cell.bias_hh.shape == (blocks * H,)
    for cls, blocks in [(rnn.RNN, 1), (rnn.GRU, 3), (rnn.LSTM, 4)]:
        assert cls(IN, H).weight_ih_l0.shape == (blocks * H, IN)
    assert rnn.RNN(IN, H).weight_ih_l0.shape == (H, IN)  # not (3H, I), not (4H, I)


def reorder(state, order, blocks):
    """The state_dict with the gate blocks of every weight and bias put in ``order``."""
    return {k: torch.cat([v.chunk(blocks)[j] for j in order]) for k, v in state.items()}


def test_gate_order_matters():
    """ONNX stacks an LSTM's gates as i, o, f, c (PyTorch: i, f, g, o) and a GRU's as z, r, n
    (PyTorch: r, z, n): weights in the wrong order load without complaint and compute something else."""
    x, h, c = (randn(3, n, dtype=torch.float64, seed=s) for s, n in [(1, IN), (2, H), (3, H)])
    torch.manual_seed(0)
    lstm = nn.LSTMCell(IN, H).double()
    ours = rnn.LSTMCell(IN, H).double()
    want = lstm(x, (h, c))
    onnx_order = reorder(lstm.state_dict(), [0, 3, 1, 2], 4)  # i, o, f, g
    ours.load_state_dict(onnx_order)
    assert (ours(x, (h, c))[0] - want[0]).abs().max() > 1e-2
    ours.load_state_dict(reorder(onnx_order, [0, 2, 3, 1], 4))  # back to i, f, g, o
    torch.testing.assert_close(ours(x, (h, c)), want, rtol=0, atol=1e-15)

    gru = nn.GRUCell(IN, H).double()
    ours = rnn.GRUCell(IN, H).double()
    ours.load_state_dict(reorder(gru.state_dict(), [1, 0, 2], 3))  # z, r, n
    assert (ours(x, h) - gru(x, h)).abs().max() > 1e-2


def test_gates_do_what_they_are_named():
    """Forget gate open and input gate shut: the LSTM's cell is kept as it was. Update gate open:
    the GRU keeps its state. The second block of the LSTM is its forget gate, the second block of
    the GRU its update gate."""
    x, h, c = (randn(3, n, dtype=torch.float64, seed=s) for s, n in [(1, IN), (2, H), (3, H)])
    lstm = rnn.LSTMCell(IN, H).double()
    with torch.no_grad():
        lstm.bias_ih[:H] = -100.0  # input gate i = sigmoid(-100 + ...) ~ 0: write nothing
        lstm.bias_ih[H : 2 * H] = 100.0  # forget gate f ~ 1: keep everything
    h_next, c_next = lstm(x, (h, c))
    torch.testing.assert_close(c_next, c, rtol=0, atol=1e-30)
    weights = lstm.weight_ih, lstm.weight_hh, lstm.bias_ih, lstm.bias_hh
    w_io, w_ho, b_io, b_ho = (p[3 * H :] for p in weights)  # the last block of each
    o = torch.sigmoid(x @ w_io.T + b_io + h @ w_ho.T + b_ho)  # output gate
    torch.testing.assert_close(h_next, o * torch.tanh(c), rtol=0, atol=1e-15)

    gru = rnn.GRUCell(IN, H).double()
    with torch.no_grad():
        gru.bias_ih[H : 2 * H] = 100.0  # update gate z ~ 1: h' = (1 - z) n + z h ~ h
    torch.testing.assert_close(gru(x, h), h, rtol=0, atol=1e-30)


def test_dropout_only_between_layers_and_only_in_training():
    x = randn(4, 2, IN, dtype=torch.float64, seed=1)
    torch.manual_seed(0)
    lstm = rnn.LSTM(IN, H, num_layers=2, dropout=0.5).double()
    with torch.no_grad():
        train_out, _ = lstm.train()(x)
        eval_out, _ = lstm.eval()(x)
    assert (train_out - eval_out).abs().max() > 1e-3
    one_layer = rnn.GRU(IN, H, dropout=0.5).double()  # a single layer: nothing between layers
    with torch.no_grad():
        torch.testing.assert_close(one_layer.train()(x), one_layer.eval()(x), rtol=0, atol=0)


# --- Bad input ----------------------------------------------------------------------------------


def x3(*shape, dtype=torch.float32):
    return torch.zeros(shape, dtype=dtype)


BAD = [  # (build, call, message)
    (lambda: rnn.LSTM(32, H, batch_first=True), lambda m: m(x3(4, 10, 16)),
     r"LSTM expects input \(B, T, 32\) with batch_first=True .*got \(4, 10, 16\)"),
    (lambda: rnn.GRU(IN, H), lambda m: m(x3(2, 3, 4, IN)),
     r"GRU expects input \(T, B, 4\) with batch_first=False .*got \(2, 3, 4, 4\)"),
    (lambda: rnn.RNN(IN, H), lambda m: m([[0.0] * IN]),
     r"RNN expects input \(T, B, 4\).*got list"),
    (lambda: rnn.RNN(IN, H, batch_first=True), lambda m: m(x3(2, 0, IN)),
     r"RNN needs at least one time step, got input \(2, 0, 4\)"),
    (lambda: rnn.GRU(IN, H), lambda m: m(torch.zeros(3, 2, IN, dtype=torch.long)),
     r"GRU expects a floating-point input, got dtype torch.int64"),
    (lambda: rnn.LSTM(IN, H).double(), lambda m: m(x3(3, 2, IN)),
     r"LSTM's parameters are torch.float64 but its input is torch.float32"),
    (lambda: rnn.GRU(IN, H, num_layers=2), lambda m: m(x3(3, 2, IN), x3(1, 2, H)),
     r"GRU expects h0 of shape \(2, 2, 5\) \(num_layers \* num_directions, B, hidden_size\), got \(1, 2, 5\)"),
    (lambda: rnn.RNN(IN, H, bidirectional=True), lambda m: m(x3(3, IN), x3(2, 1, H)),
     r"RNN expects h0 of shape \(2, 5\) \(num_layers \* num_directions, hidden_size\), got \(2, 1, 5\)"),
    (lambda: rnn.LSTM(IN, H), lambda m: m(x3(3, 2, IN), (x3(1, 2, H), x3(1, 2, H + 1))),
     r"LSTM expects c0 of shape \(1, 2, 5\) .*got \(1, 2, 6\)"),
    (lambda: rnn.LSTM(IN, H), lambda m: m(x3(3, 2, IN), x3(1, 2, H)),
     r"LSTM expects its state as a pair \(h, c\), got \(1, 2, 5\)"),
    (lambda: rnn.RNN(IN, H), lambda m: m(x3(3, 2, IN), (x3(1, 2, H),)),
     r"RNN expects h0 of shape \(1, 2, 5\) .*got tuple"),
    (lambda: rnn.RNN(IN, H), lambda m: m(x3(3, 2, IN), x3(1, 2, H, dtype=torch.float64)),
     r"RNN's parameters are torch.float32 but its h0 is torch.float64"),
    (lambda: rnn.LSTMCell(IN, H), lambda m: m(x3(2, 6)),
     r"LSTMCell expects input \(B, 4\) or \(4,\), got \(2, 6\)"),
    (lambda: rnn.GRUCell(IN, H), lambda m: m(x3(2, IN), x3(3, H)),
     r"GRUCell expects h of shape \(2, 5\) \(B, hidden_size\), got \(3, 5\)"),
    (lambda: rnn.LSTMCell(IN, H), lambda m: m(x3(IN), (x3(H), x3(1, H))),
     r"LSTMCell expects c of shape \(5,\) \(hidden_size,\) for an unbatched input, got \(1, 5\)"),
    (lambda: rnn.RNN(IN, H, nonlinearity="sigmoid"), None,
     r"RNN's nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"),
    (lambda: rnn.RNNCell(IN, H, nonlinearity="gelu"), None,
     r"RNNCell's nonlinearity must be 'tanh' or 'relu', got 'gelu'"),
    (lambda: rnn.LSTM(IN, 0), None, r"LSTM expects hidden_size to be a positive integer, got 0"),
    (lambda: rnn.GRU(IN, H, num_layers=1.5), None,
     r"GRU expects num_layers to be a positive integer, got 1.5"),
    (lambda: rnn.GRUCell(0, H), None, r"GRUCell expects input_size to be a positive integer, got 0"),
    (lambda: rnn.LSTM(IN, H, num_layers=2, dropout=1.5), None,
     r"LSTM expects dropout to be a probability in \[0, 1\], got 1.5"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "call", "message"), BAD, ids=[m for *_, m in BAD])
def test_bad_input(build, call, message):
    with pytest.raises(ValueError, match=message):
        module = build()
        call(module)


def test_rnn_step_refuses_an_unknown_nonlinearity():
    from vidbook.scratch.rnn import rnn_step

    x, h = torch.zeros(1, 3), torch.zeros(1, 2)
    w_ih, w_hh = torch.zeros(2, 3), torch.zeros(2, 2)
    with pytest.raises(ValueError, match="'tanh' or 'relu', got 'sigmoid'"):
        rnn_step(x, h, w_ih, w_hh, None, None, nonlinearity="sigmoid")
