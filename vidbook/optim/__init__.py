"""Optimizers written from their update rules, each a ``torch.optim.Optimizer``.

They follow the same rules, defaults and argument checks as ``torch.optim``'s, and the tests
prove the same parameter trajectories (float64). Train with ``torch.optim`` (fused, foreach);
read these.
"""

from vidbook.optim.adam import Adam, AdamW
from vidbook.optim.adaptive import Adagrad, RMSprop
from vidbook.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]
