"""What the Trainer minimises: an *objective* turns a batch into inputs and targets and a model's
output into a loss.

Classification (clips to logits, cross-entropy, accuracy) is the default and is what the book's
first chapters train. Every other task of the book — detection, segmentation, captioning,
question answering, retrieval — is another objective for the same Trainer, so each gets the
loop's mixed precision, gradient accumulation, non-finite-loss guard, checkpoints and
DistributedDataParallel without a loop of its own::

    class Boxes(Objective):
        def unpack(self, batch):
            return batch["clip"], {"boxes": batch["boxes"], "visible": batch["visible"]}

        def loss(self, output, targets):
            return detection_loss(output, targets)

    Trainer(model, objective=Boxes()).fit(loader)
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from vidbook.errors import BadValueError


def move(value: Any, device: torch.device) -> Any:
    """``value`` on ``device``: a tensor, or the tensors inside dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {k: move(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(move(v, device) for v in value)
    return value


def forward(model: Any, inputs: Any) -> Any:
    """``model(inputs)``, or ``model(*inputs)`` where an objective's inputs are a tuple (a clip
    and the tokens a captioner reads while it learns, for example)."""
    return model(*inputs) if isinstance(inputs, tuple) else model(inputs)


def batch_rows(inputs: Any) -> int:
    """How many items a batch holds: the length of its inputs, or of the first where a tuple."""
    return len(inputs[0]) if isinstance(inputs, tuple) else len(inputs)


class Objective(abc.ABC):
    """What every objective provides; a task defines ``unpack`` and ``loss`` (abstract: an
    objective without them cannot be made) and may override the rest.

    ``accuracy``: whether ``correct`` counts right answers, so that the history reports
    ``train_acc`` and ``val_acc`` (False: they are None and ``evaluate`` reports the loss).
    """

    accuracy = False

    @abc.abstractmethod
    def unpack(self, batch: Any) -> tuple[torch.Tensor, Any]:
        """``(inputs, targets)`` of a batch: inputs (B, ...) float, or a tuple of tensors whose
        first is (B, ...) (the model is then called with them all); targets anything ``loss``
        reads."""

    def to_device(self, targets: Any, device: torch.device) -> Any:
        """The targets on ``device`` (tensors inside dicts, lists and tuples are moved)."""
        return move(targets, device)

    @abc.abstractmethod
    def loss(self, output: Any, targets: Any) -> torch.Tensor:
        """The mean loss of the batch (a scalar tensor) from the model's output and the targets."""

    def correct(self, output: Any, targets: Any) -> torch.Tensor:
        """How many items of the batch the output gets right (used when ``accuracy``)."""
        return torch.zeros((), dtype=torch.long)


def unpack_labelled(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(clip, label)`` from a dict batch (keys "clip", "label") or a 2-tuple/list."""
    if isinstance(batch, Mapping):
        missing = [k for k in ("clip", "label") if k not in batch]
        if missing:
            raise BadValueError(
                f"batch dict lacks key(s) {missing}; it has {sorted(map(str, batch))}"
            )
        clip, label = batch["clip"], batch["label"]
    elif isinstance(batch, (tuple, list)) and len(batch) == 2:
        clip, label = batch
    else:
        raise BadValueError(
            "a batch must be a dict with 'clip' and 'label' or a (clip, label) pair, got "
            f"{type(batch).__name__}"
            + (f" of length {len(batch)}" if hasattr(batch, "__len__") else "")
        )
    if not isinstance(clip, torch.Tensor) or not clip.is_floating_point():
        raise BadValueError(f"batch clip must be a float tensor (B, C, T, H, W), got {clip!r:.80}")
    if not isinstance(label, torch.Tensor) or label.is_floating_point() or label.ndim != 1:
        raise BadValueError(f"batch label must be an integer tensor (B,), got {label!r:.80}")
    return clip, label


def check_logits(logits: Any, label: torch.Tensor) -> torch.Tensor:
    """Model output as float32 logits ``(B, K)``, checked against the labels ``(B,)``."""
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise BadValueError(
            "the model must return logits of shape (B, K), got "
            f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)}"
        )
    if logits.shape[0] != label.shape[0]:
        raise BadValueError(
            f"model gave {logits.shape[0]} rows of logits for {label.shape[0]} labels"
        )
    return logits.float()


class Classification(Objective):
    """Clips to logits (B, K), cross-entropy with ``label_smoothing``, accuracy."""

    accuracy = True

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def unpack(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return unpack_labelled(batch)

    def to_device(self, targets: Any, device: torch.device) -> torch.Tensor:
        return targets.to(device, dtype=torch.long, non_blocking=True)

    def loss(self, output: Any, targets: torch.Tensor) -> torch.Tensor:
        logits = check_logits(output, targets)
        return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)

    def correct(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (output.detach().argmax(dim=1) == targets).sum()
