"""Gate saturation (Karpathy, Johnson & Fei-Fei 2015, Figure 3): per layer and gate, the
fraction of steps each unit's gate is left-saturated (< 0.1) or right-saturated (> 0.9).

A forget gate right-saturated most of the time remembers over long spans (an
integrator); one never saturated acts as a soft, input-driven switch.

Example:
    >>> table = gate_saturation(trace)
    >>> table[0]["f"]["right"].mean()          # layer 0, forget gate
    0.31
"""

from __future__ import annotations

import numpy as np

LEFT, RIGHT = 0.1, 0.9


def gate_saturation(trace, left=LEFT, right=RIGHT):
    """``{layer: {gate: {"left": (units,), "right": (units,)}}}`` fractions of steps.

    Args:
        trace: A ``seqkit.vis.Trace``.
        left, right: Saturation thresholds (the paper's 0.1 and 0.9).

    Example:
        >>> gate_saturation(trace)[1]["o"]["left"]
    """
    if not 0 <= left < right <= 1:
        raise ValueError(f"Need 0 <= left < right <= 1, received left={left!r}, "
                         f"right={right!r}.")
    table = {}
    for index, layer in enumerate(trace.layers):
        table[index] = {gate: {"left": np.mean(values < left, axis=0),
                               "right": np.mean(values > right, axis=0)}
                        for gate, values in layer.gates.items()}
    return table


def summarise(table):
    """JSON-ready summary: per layer and gate, mean fractions and the per-unit values."""
    return {str(layer): {gate: {"mean_left": float(np.mean(v["left"])),
                                "mean_right": float(np.mean(v["right"])),
                                "never_saturated_units": int(np.sum(
                                    (v["left"] < 0.1) & (v["right"] < 0.1))),
                                "left": [round(float(x), 4) for x in v["left"]],
                                "right": [round(float(x), 4) for x in v["right"]]}
                         for gate, v in gates.items()}
            for layer, gates in table.items()}
