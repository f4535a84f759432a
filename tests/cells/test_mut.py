import numpy as np
import pytest

from tests.cells import reference
from tests.cells.util import built_cell, random_weights, run


@pytest.mark.parametrize("name", ["mut1", "mut2", "mut3"])
def test_matches_paper_equations_when_input_width_equals_units(name):
    rng = np.random.default_rng(6)
    xs = rng.standard_normal((3, 9, 4)).astype("float32")
    cell = built_cell(name, 4, 4)
    weights = random_weights(cell, rng)
    cell.assign_named_weights(weights)
    out, states = run(cell, xs)
    ref_out, ref_states = reference.mut(weights, xs.astype("float64"), name)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    np.testing.assert_allclose(states[0], ref_states[0], atol=1e-5)


@pytest.mark.parametrize("name, projection", [("mut1", "W_xh"), ("mut2", "W_xr")])
def test_learned_projection_replaces_bare_x_when_widths_differ(name, projection):
    assert projection not in built_cell(name, 4, 4).named_weights()
    cell = built_cell(name, 4, 6)
    assert cell.named_weights()[projection].shape == (6, 4)
    # With the projection set to a (6, 4) matrix that selects the first 4 inputs, the cell
    # equals the literal equations applied to those 4 inputs.
    rng = np.random.default_rng(7)
    square = built_cell(name, 4, 4)
    weights = random_weights(square, rng)
    square.assign_named_weights(weights)
    wide = {k: (np.vstack([v, np.zeros((2, 4), v.dtype)]) if k.startswith("W_x") else v)
            for k, v in weights.items()}
    wide[projection] = np.vstack([np.eye(4), np.zeros((2, 4))]).astype("float32")
    cell.assign_named_weights(wide)
    xs = rng.standard_normal((2, 5, 6)).astype("float32")
    np.testing.assert_allclose(run(cell, xs)[0], run(square, xs[..., :4])[0], atol=1e-6)


def test_mut1_update_gate_ignores_the_state():
    """MUT1's z depends on x only: the paper's defining change."""
    cell = built_cell("mut1", 3, 3)
    assert "W_hz" not in cell.named_weights()
