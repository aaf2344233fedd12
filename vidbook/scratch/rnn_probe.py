"""rnn_probe: looking inside recurrent layers, written from their equations.

- ``lstm_gates`` runs an LSTM (``torch.nn.LSTM`` or ``vidbook.scratch.rnn.LSTM``: same parameter
  names) step by step and returns, besides the hidden states, what the fused kernel keeps to
  itself: the input, forget and output gates, the candidate and the cell at every step.
- ``rnn_bptt`` is backpropagation through time for the vanilla tanh RNN, written out by hand:
  the backward recurrence that autograd runs for you, with the gradient that reaches every step.

Letters in the shapes: B batch, T time steps, I input size, H hidden size, L layers.
"""

from __future__ import annotations

import torch
from torch import nn

from vidbook.checks import is_int
from vidbook.errors import BadValueError
from vidbook.scratch.activations import sigmoid, tanh

GATE_NAMES = ("i", "f", "g", "o", "c", "h")


def _shape(value: object) -> object:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def _check_tensor(
    name: str, label: str, value: object, want: tuple[int, ...], layout: str, dtype: torch.dtype
) -> None:
    """Raise a ValueError unless ``value`` is a tensor of shape ``want`` and dtype ``dtype``."""
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != want:
        raise BadValueError(f"{name} expects {label} of shape {want} {layout}, got {_shape(value)}")
    if value.dtype != dtype:
        raise BadValueError(f"{name} expects {label} of dtype {dtype}, got {value.dtype}")


def _check_lstm(lstm: object) -> None:
    if not all(hasattr(lstm, a) for a in ("weight_ih_l0", "weight_hh_l0", "num_layers")):
        raise BadValueError(
            "lstm_gates expects an nn.LSTM (or vidbook.scratch.rnn.LSTM),"
            f" got {type(lstm).__name__}"
        )
    if lstm.weight_ih_l0.shape[0] != 4 * lstm.hidden_size:
        raise BadValueError(
            f"lstm_gates expects an LSTM (4 gate blocks of {lstm.hidden_size} rows),"
            f" got weight_ih_l0 of shape {tuple(lstm.weight_ih_l0.shape)}"
        )
    if getattr(lstm, "bidirectional", False):
        raise BadValueError("lstm_gates supports one direction only, got bidirectional=True")
    if getattr(lstm, "proj_size", 0):
        raise BadValueError(f"lstm_gates does not support proj_size, got {lstm.proj_size}")


def lstm_gates(
    lstm: nn.Module,
    x: torch.Tensor,
    hx: tuple[torch.Tensor, torch.Tensor] | None = None,
    layer: int = -1,
) -> dict[str, torch.Tensor]:
    """The gates, the candidate, the cell and the hidden state of one LSTM layer at every step.

    lstm   ``nn.LSTM`` or ``vidbook.scratch.rnn.LSTM``, one direction, no projection.
    x      (B, T, I) if ``lstm.batch_first`` else (T, B, I): the input sequence of the stack.
    hx     None (zeros) or (h0, c0), each (L, B, H): the initial states of every layer.
    layer  which layer to look into (default the last); the layers below it are run first.

    Returns a dict with keys "i", "f", "g", "o", "c", "h", each of the layout of the LSTM's
    output, (B, T, H) if ``lstm.batch_first`` else (T, B, H). At step t:

        i, f, o = sigmoid(...)  the input, forget and output gates, in (0, 1)
        g       = tanh(...)     the candidate
        c       = f * c_prev + i * g
        h       = o * tanh(c)

    For the last layer "h" equals the LSTM's output. Dropout between layers is not applied
    (the values are those of eval mode).
    """
    _check_lstm(lstm)
    L, H, n_in = lstm.num_layers, lstm.hidden_size, lstm.input_size
    dtype = lstm.weight_ih_l0.dtype
    layout = "(B, T, I)" if lstm.batch_first else "(T, B, I)"
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[-1] != n_in:
        raise BadValueError(
            f"lstm_gates expects x of shape {layout} with I={n_in}"
            f" (batch_first={lstm.batch_first}), got {_shape(x)}"
        )
    if x.dtype != dtype:
        raise BadValueError(f"lstm_gates expects x of dtype {dtype} (the weights'), got {x.dtype}")
    if not is_int(layer) or not -L <= layer < L:
        raise BadValueError(
            f"lstm_gates expects layer in [{-L}, {L}) for {L} layers, got {layer!r}"
        )
    layer = layer % L
    seq = x.transpose(0, 1) if lstm.batch_first else x  # (T, B, I): time first
    steps, batch = seq.shape[0], seq.shape[1]
    if steps == 0:
        raise BadValueError(f"lstm_gates needs at least one time step, got x of shape {_shape(x)}")
    if hx is None:
        h0 = c0 = seq.new_zeros(L, batch, H)
    else:
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise BadValueError(f"lstm_gates expects hx as a pair (h0, c0), got {_shape(hx)}")
        h0, c0 = hx
        for label, state in (("h0", h0), ("c0", c0)):
            _check_tensor("lstm_gates", label, state, (L, batch, H), "(L, B, H)", dtype)

    for k in range(layer + 1):
        w_ih, w_hh = getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}")
        b_ih, b_hh = getattr(lstm, f"bias_ih_l{k}", None), getattr(lstm, f"bias_hh_l{k}", None)
        h, c = h0[k], c0[k]  # (B, H) each
        found = {name: [] for name in GATE_NAMES}
        for t in range(steps):
            pre = seq[t] @ w_ih.T + h @ w_hh.T  # (B, 4H), blocks in PyTorch's order i, f, g, o
            if b_ih is not None:
                pre = pre + b_ih + b_hh
            i, f, g, o = pre.chunk(4, dim=-1)  # each (B, H)
            i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
            c = f * c + i * g
            h = o * tanh(c)
            for name, value in zip(GATE_NAMES, (i, f, g, o, c, h), strict=True):
                found[name].append(value)
        seq = torch.stack(found["h"])  # (T, B, H): the input of the next layer
    dim = 1 if lstm.batch_first else 0
    return {name: torch.stack(values, dim=dim) for name, values in found.items()}


def rnn_bptt(
    x: torch.Tensor,
    h0: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None,
    bias_hh: torch.Tensor | None,
    grad_h: torch.Tensor,
) -> dict[str, torch.Tensor | None]:
    """Backpropagation through time for the vanilla RNN h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1)
    + b_hh), by hand: the forward pass, then one backward sweep from t = T down to t = 1.

    x (B, T, I); h0 (B, H); weight_ih (H, I); weight_hh (H, H); bias_ih, bias_hh (H,) or None;
    grad_h (B, T, H): the gradient of the loss with respect to each h_t *directly* (zeros for
    the steps the loss does not read), e.g. only the last step for a clip classifier.

    The backward sweep carries delta_t = dL/dh_t, the *total* gradient of h_t, through
    the later steps too:

        delta_T   = grad_h[T]
        a_t       = delta_t * (1 - h_t^2)              (through the tanh: tanh' = 1 - tanh^2)
        delta_t-1 = grad_h[t-1] + a_t W_hh              (one step further back)
        dL/dW_hh  = sum_t a_t^T h_(t-1),  dL/dW_ih = sum_t a_t^T x_t,  dL/db = sum_t a_t

    Returns the gradients "x" (B, T, I), "h0" (B, H), "weight_ih", "weight_hh", "bias_ih",
    "bias_hh" (None without biases), and "delta" (B, T, H): dL/dh_t for every t.
    """
    name = "rnn_bptt"
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[1] == 0:
        raise BadValueError(f"{name} expects x of shape (B, T, I) with T >= 1, got {_shape(x)}")
    if not x.is_floating_point():
        raise BadValueError(f"{name} expects a floating-point x, got dtype {x.dtype}")
    (B, T, n_in), dtype = x.shape, x.dtype
    if not isinstance(weight_hh, torch.Tensor) or weight_hh.ndim != 2:
        raise BadValueError(f"{name} expects weight_hh of shape (H, H), got {_shape(weight_hh)}")
    H = weight_hh.shape[0]
    _check_tensor(name, "weight_hh", weight_hh, (H, H), "(H, H)", dtype)
    _check_tensor(name, "weight_ih", weight_ih, (H, n_in), "(H, I)", dtype)
    _check_tensor(name, "h0", h0, (B, H), "(B, H)", dtype)
    _check_tensor(name, "grad_h", grad_h, (B, T, H), "(B, T, H)", dtype)
    if (bias_ih is None) != (bias_hh is None):
        raise BadValueError(f"{name} expects both biases or neither, got one of them")
    if bias_ih is not None:
        _check_tensor(name, "bias_ih", bias_ih, (H,), "(H,)", dtype)
        _check_tensor(name, "bias_hh", bias_hh, (H,), "(H,)", dtype)

    with torch.no_grad():
        hs = [h0]  # hs[t] is h_t; hs[0] = h0
        for t in range(T):
            pre = x[:, t] @ weight_ih.T + hs[-1] @ weight_hh.T  # (B, H)
            if bias_ih is not None:
                pre = pre + bias_ih + bias_hh
            hs.append(tanh(pre))

        grads = {
            "weight_ih": torch.zeros_like(weight_ih),
            "weight_hh": torch.zeros_like(weight_hh),
            "bias": torch.zeros(H, dtype=dtype, device=x.device),
        }
        grad_x = torch.zeros_like(x)
        delta = torch.zeros_like(grad_h)
        carry = torch.zeros_like(h0)  # the gradient that reaches h_t from step t + 1
        for t in range(T, 0, -1):  # h_t for t = T, ..., 1 is hs[t]; its input is x[:, t - 1]
            d = grad_h[:, t - 1] + carry  # delta_t, (B, H)
            delta[:, t - 1] = d
            a = d * (1 - hs[t] ** 2)  # back through the tanh, (B, H)
            grads["weight_hh"] += a.T @ hs[t - 1]
            grads["weight_ih"] += a.T @ x[:, t - 1]
            grads["bias"] += a.sum(0)
            grad_x[:, t - 1] = a @ weight_ih
            carry = a @ weight_hh  # back through W_hh to h_(t-1)
    bias = grads["bias"] if bias_ih is not None else None
    return {
        "x": grad_x,
        "h0": carry,
        "weight_ih": grads["weight_ih"],
        "weight_hh": grads["weight_hh"],
        "bias_ih": bias,
        "bias_hh": None if bias is None else bias.clone(),
        "delta": delta,
    }
