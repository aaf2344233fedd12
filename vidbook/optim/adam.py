"""Adam and AdamW: momentum on the gradient, scaled by a moving RMS of the gradient."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from vidbook.optim._checks import betas_pair, non_negative


class Adam(torch.optim.Optimizer):
    r"""Adam (Kingma and Ba, 2015), as ``torch.optim.Adam``: for each parameter :math:`w`

    .. math::
        g_t &\leftarrow g_t + \lambda w_{t-1} \quad \text{(Adam: L2 in the gradient)} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat m_t &= \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t} \\
        w_t &= w_{t-1} - \alpha \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    The step moves along :math:`\hat m_t` (a gradient average), never along :math:`w` itself.
    ``amsgrad=True`` uses the running maximum of :math:`v_t` in the denominator.
    """

    decoupled = False  # AdamW sets True: weight decay shrinks w directly

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        non_negative("learning rate", lr)
        non_negative("epsilon value", eps)
        non_negative("weight_decay value", weight_decay)
        betas_pair(betas)
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
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
            lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(w)
                    state["exp_avg_sq"] = torch.zeros_like(w)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(w)
                state["step"] += 1
                t, g = state["step"], w.grad
                if wd != 0:
                    if self.decoupled:
                        w.mul_(1 - lr * wd)
                    else:
                        g = g.add(w, alpha=wd)
                m = state["exp_avg"].lerp_(g, 1 - beta1)
                v = state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                if group["amsgrad"]:
                    v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                m_hat_scale = 1 - beta1**t  # m_hat = m / (1 - beta1^t)
                v_hat_sqrt_scale = (1 - beta2**t) ** 0.5  # sqrt(v_hat) = sqrt(v) / this
                denom = (v.sqrt() / v_hat_sqrt_scale).add_(group["eps"])
                w.addcdiv_(m, denom, value=-lr / m_hat_scale)
        return loss


class AdamW(Adam):
    r"""AdamW (Loshchilov and Hutter, 2019), as ``torch.optim.AdamW``: Adam whose weight decay is
    *decoupled* — :math:`w \leftarrow (1 - \alpha\lambda) w` before the Adam step, instead of
    :math:`\lambda w` added to the gradient (where Adam's scaling would weaken it).
    Default ``weight_decay=0.01``, as torch's.
    """

    decoupled = True

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
