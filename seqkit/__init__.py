"""seqkit: hand-written recurrent cells and sequence-model recipes for Keras 3.

Example:
    >>> import seqkit
    >>> cell = seqkit.get_cell("lstm", units=128)
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from seqkit.cells import CELLS, get_cell, register_cell  # noqa: E402
from seqkit.layers import Recurrent, recurrent  # noqa: E402

__version__ = "0.1.0"

__all__ = ["CELLS", "Recurrent", "get_cell", "recurrent", "register_cell", "__version__"]
