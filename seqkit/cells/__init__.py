"""Hand-written recurrent cells, one family per file, all in one registry.

Example:
    >>> from seqkit.cells import CELLS, get_cell
    >>> cell = get_cell("lstm", units=64)
    >>> sorted(CELLS)[:3]
    ['gru', 'gru_cho', 'lstm']
"""

from seqkit.cells import gru, lstm, minimal, mut, vanilla  # noqa: F401  (registers the cells)
from seqkit.cells.base import CELLS, RecurrentCell, get_cell, register_cell

__all__ = ["CELLS", "RecurrentCell", "get_cell", "register_cell"]
