import keras
import numpy as np
import pytest

from seqkit.cells import get_cell
from tests.cells import reference
from tests.cells.util import built_cell, random_weights, run


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_matches_simple_rnn(activation):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((3, 7, 5)).astype("float32")
    ours = built_cell("vanilla", 4, 5, activation=activation)
    ours.assign_named_weights(random_weights(ours, rng))
    theirs = keras.layers.SimpleRNN(4, activation=activation, return_sequences=True,
                                    return_state=True)
    theirs.build((None, 7, 5))
    w = ours.named_weights()
    theirs.set_weights([w["W_xh"], w["W_hh"], w["b_h"]])
    out, states = run(ours, xs)
    their_out, their_h = theirs(xs)
    np.testing.assert_allclose(out, their_out, atol=1e-5)
    np.testing.assert_allclose(states[0], their_h, atol=1e-5)
    ref_out, _ = reference.vanilla(
        w, xs.astype("float64"), activation=np.tanh if activation == "tanh" else
        (lambda a: np.maximum(a, 0)))
    np.testing.assert_allclose(out, ref_out, atol=1e-5)


def test_repeated_ones_detector_from_lecture():
    """Lecture 7's hand-built ReLU RNN: y_t = 1 exactly when x_t and x_{t-1} are 1."""
    cell = get_cell("vanilla", 3, activation="relu")
    cell.assign_named_weights({
        "W_xh": np.array([[1.0, 0.0, 0.0]]),          # (input 1, units 3): x -> current
        "W_hh": np.array([[0, 1, 0], [0, 0, 0], [0, 0, 1]], dtype="float64").astype("float32"),
        "b_h": np.zeros(3),
    })
    # anchors.md writes W_hh acting on column vectors (W_hh h); ours acts as h @ W_hh,
    # so the matrix is the transpose of [[0,0,0],[1,0,0],[0,0,1]].
    bits = np.array([[0, 1, 1, 0, 1, 1, 1, 0, 0, 1]], dtype="float32")[..., None]
    layer = keras.layers.RNN(cell, return_sequences=True)
    h = layer(bits, initial_state=[np.array([[0.0, 0.0, 1.0]], dtype="float32")])
    y = np.maximum(keras.ops.convert_to_numpy(h) @ np.array([1.0, 1.0, -1.0]), 0)
    expected = [0, 0, 1, 0, 0, 1, 1, 0, 0, 0]
    np.testing.assert_array_equal(y[0], expected)
