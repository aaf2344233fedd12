"""vidbook: video models built from their formulas, trained for real, tested against PyTorch.

Start with ``vidbook.setup_notebook()``, the SynthActions world in ``vidbook.data``, models in
``vidbook.models``, and ``vidbook.train`` (the ``Trainer``, or a whole run with
``run(RunSpec(...))``). The package is built in layers, each importing only those below it:

- runtime: ``errors`` (every error about the user's input is a ``VidbookError``), ``checks``,
  ``clip_shape`` (``ClipShape``), ``runtime`` (``resolve_device``, profile, seeds, provenance),
  ``claims``, ``distributed``;
- ``data``, ``scratch`` (layers from their formulas), ``optim`` (optimizers), ``viz``;
- ``models``;
- ``eval`` (the field's metrics, multi-view testing, prediction, the capstone's grader);
- ``train`` (the loop, its objectives, a whole run);
- ``bench`` (speed and the stored results);
- ``cli`` (the ``vidbook`` command).
"""

from vidbook.clip_shape import ClipShape
from vidbook.errors import VidbookError
from vidbook.runtime import (
    device,
    fast_bf16,
    profile,
    provenance,
    resolve_device,
    seed_everything,
    setup_notebook,
)

__version__ = "0.1.0"
__all__ = [
    "ClipShape",
    "VidbookError",
    "__version__",
    "device",
    "fast_bf16",
    "profile",
    "provenance",
    "resolve_device",
    "seed_everything",
    "setup_notebook",
]
