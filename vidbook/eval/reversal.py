"""The reversal test: does a model use the order of the frames?

Played backwards, a clip of ``move_left`` is a clip of ``move_right``, ``grow`` becomes
``shrink`` and ``rotate_cw`` becomes ``rotate_ccw`` (:data:`vidbook.data.synth.TIME_REVERSED`).
A model that reads the order of the frames labels both the clip and its reversal correctly; one
that ignores the order (it averages the frames, say) sees the same evidence in both and gives
both the same answer, so at most one of the two can be right.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from vidbook.checks import check_int
from vidbook.errors import BadValueError
from vidbook.runtime import eval_mode, resolve_device

if TYPE_CHECKING:
    from vidbook.data.synth import SynthActions

__all__ = ["reversal_test"]


def reversal_test(
    model: nn.Module,
    dataset: SynthActions,
    n: int = 500,
    device: str | torch.device | None = None,
    batch_size: int = 250,
) -> float:
    """Accuracy of ``model`` on the first ``n`` clips of ``dataset`` and on the same clips
    played backwards, together.

    Each clip (3, T, H, W) is shown forwards with its label, and flipped along time with the
    label :meth:`SynthActions.time_reversed_label` gives it. The classes that are their own
    reversal (``static``, ``out_and_back``) are dropped, forwards and backwards: no model could
    tell their two directions apart. The result, in [0, 1], is the fraction of the remaining
    ``2 * kept`` clips that ``model`` labels correctly. A model that ignores the order of the
    frames gives a clip and its reversal the same answer, so it scores at most 0.5 here whatever
    its accuracy on forward clips; a model that uses the order can score up to 1.

    ``model`` maps a batch of clips (B, 3, T, H, W) to logits (B, num_classes); it runs in eval
    mode without gradients, and every submodule's mode is restored afterwards. The clips are
    rendered on ``device`` (default: the device of the model's parameters, see
    :func:`vidbook.runtime.resolve_device`), ``batch_size`` clips at a time.

    BadValueError (a ValueError) if ``model`` is not a module, ``dataset`` is not a
    SynthActions, ``n`` is not an int in ``[1, len(dataset)]``, ``batch_size`` is not an int
    >= 1, the model's output is not (B, num_classes) logits, or none of the ``n`` clips has a
    class that changes when reversed.
    """
    if not isinstance(model, nn.Module):
        raise BadValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not (hasattr(dataset, "batch") and hasattr(dataset, "time_reversed_label")):
        raise BadValueError(
            "dataset must be a SynthActions (with .batch() and .time_reversed_label()), "
            f"got {type(dataset).__name__}"
        )
    n = check_int("n", n, minimum=1)
    if n > len(dataset):
        raise BadValueError(
            f"n must be an int <= len(dataset) = {len(dataset)}, got {n}: the test uses the "
            "first n clips of the dataset"
        )
    batch_size = check_int("batch_size", batch_size, minimum=1)
    dev = resolve_device(device, model=model)

    correct = 0
    kept = 0
    with eval_mode(model):
        for start in range(0, n, batch_size):
            data = dataset.batch(
                range(start, min(start + batch_size, n)), device=dev, captions=False
            )
            clips, labels = data["clip"], data["label"].to(dev)
            reversed_labels = dataset.time_reversed_label(labels.cpu()).to(dev)
            keep = labels != reversed_labels  # classes that are not their own reversal
            for batch, target in ((clips, labels), (clips.flip(2), reversed_labels)):
                logits = model(batch)
                if not (
                    isinstance(logits, torch.Tensor)
                    and logits.ndim == 2
                    and logits.shape[0] == batch.shape[0]
                ):
                    shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else logits
                    raise BadValueError(
                        f"model must map clips {tuple(batch.shape)} to logits (B, num_classes)"
                        f" with B = {batch.shape[0]}, got {shape!r}"
                    )
                pred = logits.argmax(1)
                correct += int((pred[keep] == target[keep]).sum())
            kept += 2 * int(keep.sum())
    if kept == 0:
        raise BadValueError(
            f"none of the first {n} clips has a class that changes when played backwards; "
            "use a larger n"
        )
    return correct / kept
