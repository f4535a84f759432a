import numpy as np
import pytest

from seqkit.vis.activations import LayerTrace, Trace
from seqkit.vis.saturation import gate_saturation, summarise


def test_fractions_of_saturated_steps():
    f = np.array([[0.05, 0.5], [0.95, 0.5], [0.99, 0.02], [0.5, 0.5]])
    layer = LayerTrace("lstm", np.zeros((4, 1)), {"h": np.zeros((4, 2))}, {"f": f})
    table = gate_saturation(Trace(list("abcd"), np.zeros(4), [layer]))
    np.testing.assert_allclose(table[0]["f"]["left"], [0.25, 0.25])
    np.testing.assert_allclose(table[0]["f"]["right"], [0.5, 0.0])
    summary = summarise(table)
    assert summary["0"]["f"]["mean_right"] == 0.25
    with pytest.raises(ValueError, match="left=0.9"):
        gate_saturation(Trace([], np.zeros(0), []), left=0.9, right=0.1)
