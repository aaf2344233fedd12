"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from vidbook.errors import BadValueError
from vidbook.optim._checks import non_negative


class SGD(torch.optim.Optimizer):
    r"""SGD, as ``torch.optim.SGD``: for each parameter :math:`w` with gradient :math:`g_t`

    .. math::
        g_t &\leftarrow g_t + \lambda w_{t-1} \quad \text{(weight decay, an L2 term)}\\
        b_t &= \mu b_{t-1} + (1 - \tau) g_t \quad (b_1 = g_1) \\
        d_t &= g_t + \mu b_t \ \text{(Nesterov)} \quad \text{or} \quad d_t = b_t \\
        w_t &= w_{t-1} - \alpha d_t

    Without momentum (:math:`\mu = 0`), :math:`d_t = g_t`: plain gradient descent.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        non_negative("learning rate", lr)
        non_negative("momentum value", momentum)
        non_negative("dampening value", dampening)
        non_negative("weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise BadValueError(
                "Nesterov momentum requires a momentum > 0 and zero dampening, got "
                f"momentum={momentum}, dampening={dampening}"
            )
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
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
            lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                if group["weight_decay"] != 0:
                    g = g.add(w, alpha=group["weight_decay"])
                if mu != 0:
                    state = self.state[w]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = g.clone()  # b_1 = g_1
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(mu).add_(g, alpha=1 - tau)
                    g = g.add(buf, alpha=mu) if group["nesterov"] else buf
                w.add_(g, alpha=-lr)
        return loss
