import keras
import numpy as np
import pytest

from tests.cells import reference
from tests.cells.util import built_cell, random_weights, run


@pytest.mark.parametrize("name", ["gru", "gru_cho"])
def test_matches_numpy_reference(name):
    rng = np.random.default_rng(4)
    xs = rng.standard_normal((3, 8, 5)).astype("float32")
    cell = built_cell(name, 4, 5)
    weights = random_weights(cell, rng)
    cell.assign_named_weights(weights)
    out, states = run(cell, xs)
    ref_out, ref_states = reference.gru(weights, xs.astype("float64"), reset_after=name == "gru")
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    np.testing.assert_allclose(states[0], ref_states[0], atol=1e-5)


@pytest.mark.parametrize("name, reset_after", [("gru", True), ("gru_cho", False)])
def test_matches_keras_gru(name, reset_after):
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((4, 10, 6)).astype("float32")
    ours = built_cell(name, 5, 6)
    ours.assign_named_weights(random_weights(ours, rng))
    theirs = keras.layers.GRU(5, reset_after=reset_after, return_sequences=True,
                              return_state=True)
    theirs.build((None, 10, 6))
    theirs.set_weights([w.numpy() for w in (ours.kernel, ours.recurrent_kernel, ours.bias)])
    out, (h,) = run(ours, xs)
    their_out, their_h = theirs(xs)
    np.testing.assert_allclose(out, their_out, atol=1e-5)
    np.testing.assert_allclose(h, their_h, atol=1e-5)
