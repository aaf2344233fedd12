"""rnn: the vanilla RNN, the LSTM and the GRU, written from their equations.

A recurrent layer reads a sequence one step at a time and carries a hidden state h from each
step to the next. The three classic update rules differ in how they mix the new input x into h:

- the vanilla RNN (Elman, 1990) has no gates at all: one affine map and a tanh;
- the LSTM (Hochreiter & Schmidhuber, 1997; the forget gate is from Gers et al., 2000) keeps a
  second state, the cell c, and three gates (input, forget, output) that decide what to write
  into the cell, what to keep of it and what to show of it;
- the GRU (Cho et al., 2014) has two gates, reset and update, and no separate cell.

Parameter names, shapes and the order of the gate blocks are PyTorch's, so the state_dict of an
``nn.RNNCell``/``nn.LSTMCell``/``nn.GRUCell`` or ``nn.RNN``/``nn.LSTM``/``nn.GRU`` loads into the
module of the same name here unchanged, and both compute the same values and gradients.
This module is longer than 400 lines because the chapter shows the three cells and the three
layers side by side, one family sharing its checks and its loop over time.

Letters in the shapes: B batch, T time steps, I input_size, H hidden_size, L num_layers,
D directions (2 when bidirectional, else 1).
"""

from __future__ import annotations

import abc
import math

import torch
from torch import nn

from vidbook.checks import is_int
from vidbook.errors import BadValueError

NONLINEARITIES = ("tanh", "relu")


# --- One time step: the equations -----------------------------------------------------------


def _affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """W x + b for a batch of row vectors: x (..., in), weight (out, in), bias (out,) -> (..., out)."""
    y = x @ weight.T
    return y if bias is None else y + bias


def rnn_step(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
    nonlinearity: str = "tanh",
) -> torch.Tensor:
    """One step of the vanilla RNN. No gates: the new state is a squashed sum of the input's and
    the old state's contributions.

        h' = tanh(W_ih x + b_ih + W_hh h + b_hh)        (relu instead of tanh if asked)

    x (B, I), h (B, H) -> h' (B, H); weight_ih (H, I), weight_hh (H, H), biases (H,).
    """
    pre = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)  # (B, H)
    if nonlinearity not in ("tanh", "relu"):
        raise BadValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_step(
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the LSTM: three gates in (0, 1), a candidate g in (-1, 1), and a cell c.

        i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     input gate: how much of g to write
        f  = sigmoid(W_if x + b_if + W_hf h + b_hf)     forget gate: how much of c to keep
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)        candidate values for the cell
        o  = sigmoid(W_io x + b_io + W_ho h + b_ho)     output gate: how much of the cell to show
        c' = f * c + i * g                              (* is the elementwise product)
        h' = o * tanh(c')

    x (B, I), h and c (B, H) -> h', c' (B, H). weight_ih (4H, I) stacks W_ii, W_if, W_ig, W_io
    in that order (PyTorch's); weight_hh (4H, H), bias_ih and bias_hh (4H,) stack theirs the same way.
    """
    gates = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # each (B, H): input, forget, candidate, output
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)  # the three gates
    g = torch.tanh(g)  # the candidate is not a gate: it is what may be written
    c_next = f * c + i * g  # keep part of the old cell, write part of the candidate
    h_next = o * torch.tanh(c_next)  # show part of the cell
    return h_next, c_next


def gru_step(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None = None,
    bias_hh: torch.Tensor | None = None,
) -> torch.Tensor:
    """One step of the GRU: a reset gate r, an update gate z and a candidate state n.

        r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)     reset gate: how much of h the candidate sees
        z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)     update gate: how much of h to keep
        n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))  candidate state
        h' = (1 - z) * n + z * h

    x (B, I), h (B, H) -> h' (B, H). weight_ih (3H, I) stacks W_ir, W_iz, W_in in that order
    (PyTorch's); weight_hh (3H, H), bias_ih and bias_hh (3H,) stack theirs the same way. The
    reset gate multiplies W_hn h + b_hn, bias included, so the two biases of n are not one sum.
    """
    x_r, x_z, x_n = _affine(x, weight_ih, bias_ih).chunk(3, dim=-1)  # each (B, H)
    h_r, h_z, h_n = _affine(h, weight_hh, bias_hh).chunk(3, dim=-1)  # each (B, H)
    r = torch.sigmoid(x_r + h_r)  # reset gate
    z = torch.sigmoid(x_z + h_z)  # update gate
    n = torch.tanh(x_n + r * h_n)  # candidate state
    return (1 - z) * n + z * h


# --- Checks shared by cells and layers --------------------------------------------------------


def _shape(value: object) -> object:
    """The shape of a tensor as a tuple, or the type name of anything else (for messages)."""
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def _check_sizes(name: str, **sizes: int) -> None:
    for arg, size in sizes.items():
        if not is_int(size) or size < 1:
            raise BadValueError(f"{name} expects {arg} to be a positive integer, got {size!r}")


def _check_dtype(name: str, label: str, tensor: torch.Tensor, weight: torch.Tensor) -> None:
    if not tensor.is_floating_point():
        raise BadValueError(f"{name} expects a floating-point {label}, got dtype {tensor.dtype}")
    if tensor.dtype != weight.dtype:
        raise BadValueError(
            f"{name}'s parameters are {weight.dtype} but its {label} is {tensor.dtype};"
            " convert one of them with .to(dtype)"
        )


def _check_state(
    name: str, label: str, state: object, want: tuple[int, ...], layout: str, weight: torch.Tensor
) -> None:
    """Raise a ValueError unless ``state`` is a tensor of shape ``want`` and the weight's dtype."""
    if not isinstance(state, torch.Tensor) or tuple(state.shape) != want:
        raise BadValueError(f"{name} expects {label} of shape {want} {layout}, got {_shape(state)}")
    _check_dtype(name, label, state, weight)


def _unpack_pair(name: str, hx: object) -> tuple[object, object]:
    """The LSTM's state comes as a pair (h, c)."""
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise BadValueError(f"{name} expects its state as a pair (h, c), got {_shape(hx)}")
    return hx[0], hx[1]


# --- Cells: one time step as a module ---------------------------------------------------------


class _Cell(nn.Module):
    """Parameters of a cell: weight_ih (G*H, I), weight_hh (G*H, H), bias_ih and bias_hh (G*H,),
    where G is the number of stacked blocks (1 for the RNN, 4 for the LSTM, 3 for the GRU)."""

    blocks = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        _check_sizes(type(self).__name__, input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        rows = self.blocks * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows))
            self.bias_hh = nn.Parameter(torch.empty(rows))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias uniform in [-1/sqrt(H), 1/sqrt(H)], as PyTorch does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def _weights(self) -> tuple[torch.Tensor | None, ...]:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def _check(self, x: object, states: dict[str, object]) -> tuple[int, ...]:
        """Check x (B, I) or (I,) and each given state (B, H) or (H,); return the state shape."""
        name, size = type(self).__name__, self.input_size
        if not isinstance(x, torch.Tensor) or x.ndim not in (1, 2) or x.shape[-1] != size:
            raise BadValueError(f"{name} expects input (B, {size}) or ({size},), got {_shape(x)}")
        _check_dtype(name, "input", x, self.weight_ih)
        want = (*x.shape[:-1], self.hidden_size)
        layout = "(B, hidden_size)" if x.ndim == 2 else "(hidden_size,) for an unbatched input"
        for label, state in states.items():
            if state is not None:
                _check_state(name, label, state, want, layout, self.weight_ih)
        return want


class RNNCell(_Cell):
    """One step of the vanilla RNN: (x, h) -> h' = tanh(W_ih x + b_ih + W_hh h + b_hh).

    x (B, I) or (I,); h (B, H) or (H,), zeros when not given; returns h' of h's shape.
    Parameters: weight_ih (H, I), weight_hh (H, H), bias_ih and bias_hh (H,). No gates.
    ``nonlinearity="relu"`` uses relu instead of tanh.
    """

    blocks = 1

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"
    ) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise BadValueError(
                f"RNNCell's nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        want = self._check(x, {"h": hx})
        h = x.new_zeros(want) if hx is None else hx
        return rnn_step(x, h, *self._weights(), nonlinearity=self.nonlinearity)


class LSTMCell(_Cell):
    """One step of the LSTM: (x, (h, c)) -> (h', c'), with the equations of ``lstm_step``.

    x (B, I) or (I,); h and c (B, H) or (H,), zeros when not given; returns (h', c') of that
    shape. Parameters: weight_ih (4H, I), weight_hh (4H, H), bias_ih and bias_hh (4H,), each
    stacking the blocks of the input, forget, candidate and output gates, in that order.
    """

    blocks = 4

    def forward(
        self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = (None, None) if hx is None else _unpack_pair("LSTMCell", hx)
        want = self._check(x, {"h": h, "c": c})
        h = x.new_zeros(want) if h is None else h
        c = x.new_zeros(want) if c is None else c
        return lstm_step(x, h, c, *self._weights())


class GRUCell(_Cell):
    """One step of the GRU: (x, h) -> h', with the equations of ``gru_step``.

    x (B, I) or (I,); h (B, H) or (H,), zeros when not given; returns h' of h's shape.
    Parameters: weight_ih (3H, I), weight_hh (3H, H), bias_ih and bias_hh (3H,), each stacking
    the blocks of the reset gate, the update gate and the candidate, in that order.
    """

    blocks = 3

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        want = self._check(x, {"h": hx})
        h = x.new_zeros(want) if hx is None else hx
        return gru_step(x, h, *self._weights())


# --- Layers: the cell looped over time, layers stacked ----------------------------------------


class _Recurrent(nn.Module, abc.ABC):
    """A stack of L recurrent layers, each run over the whole sequence, in one or two directions.

    Layer l, direction d has the parameters weight_ih_l{l}{s} (G*H, I_l), weight_hh_l{l}{s}
    (G*H, H), bias_ih_l{l}{s} and bias_hh_l{l}{s} (G*H,), where s is "" forwards and "_reverse"
    backwards, G is 1 (RNN), 4 (LSTM) or 3 (GRU), and I_l is I for the first layer and D*H after.
    """

    blocks = 1
    state_names: tuple[str, ...] = ("h0",)  # the LSTM has ("h0", "c0")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        if not 0.0 <= dropout <= 1.0:
            raise BadValueError(
                f"{name} expects dropout to be a probability in [0, 1], got {dropout!r}"
            )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        rows = self.blocks * hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes():
                key = f"l{layer}{suffix}"
                self.register_parameter(
                    f"weight_ih_{key}", nn.Parameter(torch.empty(rows, layer_input))
                )
                self.register_parameter(
                    f"weight_hh_{key}", nn.Parameter(torch.empty(rows, hidden_size))
                )
                if bias:
                    self.register_parameter(f"bias_ih_{key}", nn.Parameter(torch.empty(rows)))
                    self.register_parameter(f"bias_hh_{key}", nn.Parameter(torch.empty(rows)))
        self.reset_parameters()

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def reset_parameters(self) -> None:
        """Every weight and bias uniform in [-1/sqrt(H), 1/sqrt(H)], as PyTorch does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        for arg, default in [("num_layers", 1), ("bias", True), ("batch_first", False)]:
            if getattr(self, arg) != default:
                text += f", {arg}={getattr(self, arg)}"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text

    def _weights(self, layer: int, suffix: str) -> tuple[torch.Tensor | None, ...]:
        key = f"l{layer}{suffix}"
        bias = [getattr(self, f"bias_{m}_{key}") if self.bias else None for m in ("ih", "hh")]
        return getattr(self, f"weight_ih_{key}"), getattr(self, f"weight_hh_{key}"), *bias

    @abc.abstractmethod
    def step(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...], weights: tuple
    ) -> tuple[torch.Tensor, ...]:
        """One time step: x (B, I_l) and the state ((B, H),) or ((B, H), (B, H)) -> the new state.

        Each layer type (RNN, LSTM, GRU) defines it with its own cell equations."""

    def _check_input(self, x: object) -> None:
        name, size = type(self).__name__, self.input_size
        layout = "(B, T, {})" if self.batch_first else "(T, B, {})"
        if not isinstance(x, torch.Tensor) or x.ndim not in (2, 3) or x.shape[-1] != size:
            raise BadValueError(
                f"{name} expects input {layout.format(size)} with batch_first={self.batch_first}"
                f" (or (T, {size}) for one sequence), got {_shape(x)}"
            )
        if x.shape[-2 if x.ndim == 2 else int(self.batch_first)] == 0:
            raise BadValueError(f"{name} needs at least one time step, got input {_shape(x)}")
        _check_dtype(name, "input", x, self.weight_ih_l0)

    def _run(
        self, x: torch.Tensor, states: tuple[torch.Tensor | None, ...] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The whole stack over the whole sequence.

        x: (B, T, I) if batch_first else (T, B, I), or (T, I) for one sequence.
        states: None (zeros) or the initial states, each (L*D, B, H), or (L*D, H) for one sequence.
        Returns the last layer's output at every step, (B, T, D*H) or (T, B, D*H) or (T, D*H),
        and the final states, each like the initial ones.
        """
        self._check_input(x)
        batched = x.ndim == 3
        if not batched:
            x = x.unsqueeze(1)  # (T, 1, I): a batch of one
        elif self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I): time first, so x[t] is step t
        steps, batch = x.shape[0], x.shape[1]
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        want = (L * D, batch, H) if batched else (L * D, H)
        layout = "(num_layers * num_directions, " + ("B, " if batched else "") + "hidden_size)"
        if states is None:
            states = tuple(x.new_zeros(L * D, batch, H) for _ in self.state_names)
        else:
            for label, state in zip(self.state_names, states, strict=True):
                _check_state(type(self).__name__, label, state, want, layout, self.weight_ih_l0)
            if not batched:
                states = tuple(s.unsqueeze(1) for s in states)  # (L*D, 1, H)

        finals = []  # the final state of each layer and direction, in that order
        for layer in range(L):
            outputs = []
            for direction, suffix in enumerate(self._suffixes()):
                weights = self._weights(layer, suffix)
                state = tuple(s[layer * D + direction] for s in states)  # each (B, H)
                times = range(steps) if direction == 0 else range(steps - 1, -1, -1)
                hs = [None] * steps
                for t in times:  # the recurrence: each step needs the state of the one before
                    state = self.step(x[t], state, weights)
                    hs[t] = state[0]  # the layer's output at step t is its hidden state h
                outputs.append(torch.stack(hs))  # (T, B, H)
                finals.append(state)
            x = torch.cat(outputs, dim=-1)  # (T, B, D*H): both directions side by side
            if (
                self.dropout and self.training and layer < L - 1
            ):  # between layers, not after the last
                x = nn.functional.dropout(x, self.dropout, training=True)

        final_states = tuple(torch.stack(s) for s in zip(*finals, strict=True))  # each (L*D, B, H)
        if not batched:
            return x.squeeze(1), tuple(s.squeeze(1) for s in final_states)
        return (x.transpose(0, 1) if self.batch_first else x), final_states


class RNN(_Recurrent):
    """Vanilla RNN layers (no gates): h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh).

    forward(x, h0=None) -> (output, h_n)
      x       (T, B, I), or (B, T, I) with batch_first=True, or (T, I) for one sequence
      h0      (L*D, B, H), or (L*D, H) for one sequence; zeros when not given
      output  (T, B, D*H) (or (B, T, D*H) with batch_first=True): h_t of the last layer, every t
      h_n     like h0: the state after the last step, of every layer and direction
    Layer l > 0 reads the output of layer l - 1 (with dropout in training, if asked).
    ``nonlinearity="relu"`` uses relu instead of tanh.
    """

    blocks = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise BadValueError(
                f"RNN's nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional
        )
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return super().extra_repr() + extra

    def step(self, x, state, weights):
        return (rnn_step(x, state[0], *weights, nonlinearity=self.nonlinearity),)

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        output, (h_n,) = self._run(x, None if h0 is None else (h0,))
        return output, h_n


class LSTM(_Recurrent):
    """LSTM layers: at every step, the equations of ``lstm_step`` (input, forget and output
    gates, a candidate g and a cell c).

    forward(x, (h0, c0)=None) -> (output, (h_n, c_n))
      x          (T, B, I), or (B, T, I) with batch_first=True, or (T, I) for one sequence
      h0, c0     (L*D, B, H) each, or (L*D, H) for one sequence; zeros when not given
      output     (T, B, D*H) (or (B, T, D*H) with batch_first=True): h_t of the last layer
      h_n, c_n   like h0: the hidden state and the cell after the last step
    """

    blocks = 4
    state_names = ("h0", "c0")

    def step(self, x, state, weights):
        return lstm_step(x, *state, *weights)

    def forward(
        self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        output, (h_n, c_n) = self._run(x, None if hx is None else _unpack_pair("LSTM", hx))
        return output, (h_n, c_n)


class GRU(_Recurrent):
    """GRU layers: at every step, the equations of ``gru_step`` (reset and update gates, a
    candidate state n, no cell).

    forward(x, h0=None) -> (output, h_n)
      x       (T, B, I), or (B, T, I) with batch_first=True, or (T, I) for one sequence
      h0      (L*D, B, H), or (L*D, H) for one sequence; zeros when not given
      output  (T, B, D*H) (or (B, T, D*H) with batch_first=True): h_t of the last layer, every t
      h_n     like h0: the state after the last step, of every layer and direction
    """

    blocks = 3

    def step(self, x, state, weights):
        return (gru_step(x, state[0], *weights),)

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        output, (h_n,) = self._run(x, None if h0 is None else (h0,))
        return output, h_n
