"""Per-coordinate learning rates from the history of squared gradients: Adagrad and RMSprop."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from vidbook.optim._checks import fraction, non_negative


class Adagrad(torch.optim.Optimizer):
    r"""Adagrad, as ``torch.optim.Adagrad``: for each parameter :math:`w` and step :math:`t`

    .. math::
        g_t &\leftarrow g_t + \lambda w_{t-1} \\
        s_t &= s_{t-1} + g_t^2 \qquad (s_0 = \text{initial\_accumulator\_value}) \\
        w_t &= w_{t-1} - \frac{\alpha}{1 + (t-1)\eta} \cdot \frac{g_t}{\sqrt{s_t} + \epsilon}

    The step is the *gradient* scaled per coordinate — not the weight, as some texts write.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        non_negative("learning rate", lr)
        non_negative("lr_decay value", lr_decay)
        non_negative("weight_decay value", weight_decay)
        non_negative("initial_accumulator_value value", initial_accumulator_value)
        non_negative("epsilon value", eps)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                if not state:
                    state["step"] = 0
                    state["sum"] = torch.full_like(w, group["initial_accumulator_value"])
                state["step"] += 1
                g = w.grad
                if group["weight_decay"] != 0:
                    g = g.add(w, alpha=group["weight_decay"])
                lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
                state["sum"].addcmul_(g, g)
                w.addcdiv_(g, state["sum"].sqrt() + group["eps"], value=-lr)
        return loss


class RMSprop(torch.optim.Optimizer):
    r"""RMSprop, as ``torch.optim.RMSprop``: a *moving average* of squared gradients instead of
    Adagrad's ever-growing sum, so the step does not shrink to zero.

    .. math::
        v_t &= \rho v_{t-1} + (1 - \rho) g_t^2 \\
        \bar g_t &= \rho \bar g_{t-1} + (1 - \rho) g_t \quad \text{(centered only)} \\
        d_t &= \frac{g_t}{\sqrt{v_t - \bar g_t^2} + \epsilon}
              \ \text{(centered)} \quad \text{or} \quad \frac{g_t}{\sqrt{v_t} + \epsilon} \\
        b_t &= \mu b_{t-1} + d_t, \qquad w_t = w_{t-1} - \alpha b_t
              \quad (\text{or } w_t = w_{t-1} - \alpha d_t \text{ when } \mu = 0)
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        non_negative("learning rate", lr)
        non_negative("epsilon value", eps)
        non_negative("momentum value", momentum)
        non_negative("weight_decay value", weight_decay)
        fraction("alpha value", alpha)
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            rho, mu = group["alpha"], group["momentum"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.zeros_like(w)
                    if mu > 0:
                        state["momentum_buffer"] = torch.zeros_like(w)
                    if group["centered"]:
                        state["grad_avg"] = torch.zeros_like(w)
                state["step"] += 1
                g = w.grad
                if group["weight_decay"] != 0:
                    g = g.add(w, alpha=group["weight_decay"])
                v = state["square_avg"].mul_(rho).addcmul_(g, g, value=1 - rho)
                if group["centered"]:
                    mean = state["grad_avg"].lerp_(g, 1 - rho)
                    denom = v.addcmul(mean, mean, value=-1).sqrt_().add_(group["eps"])
                else:
                    denom = v.sqrt().add_(group["eps"])
                if mu > 0:
                    buf = state["momentum_buffer"].mul_(mu).addcdiv_(g, denom)
                    w.add_(buf, alpha=-group["lr"])
                else:
                    w.addcdiv_(g, denom, value=-group["lr"])
        return loss
