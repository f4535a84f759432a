"""Hand-written recurrent cells, one family per file, all in one registry.

Example:
    >>> from seqkit.cells import CELLS, get_cell
    >>> cell = get_cell("lstm", units=64)
    >>> sorted(CELLS)[:3]
    ['gru', 'gru_cho', 'lstm']
"""

from seqkit.cells.base import CELLS, RecurrentCell, get_cell, register_cell
from seqkit.cells import vanilla, lstm, gru, mut  # noqa: F401  (registers the cells)

__all__ = ["CELLS", "RecurrentCell", "get_cell", "register_cell"]
