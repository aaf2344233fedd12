"""vidbook: video models built from their formulas, trained for real, tested against PyTorch.

Start with ``vidbook.setup_notebook()``, the SynthActions world in ``vidbook.data``,
models in ``vidbook.models`` and the ``Trainer`` in ``vidbook.train``. Every error vidbook raises
about its user's input is a ``vidbook.VidbookError`` (see ``vidbook.errors``).
"""

from vidbook.errors import VidbookError
from vidbook.runtime import device, profile, provenance, seed_everything, setup_notebook

__version__ = "0.1.0"
__all__ = [
    "VidbookError",
    "__version__",
    "device",
    "profile",
    "provenance",
    "seed_everything",
    "setup_notebook",
]
