import keras
import numpy as np
import pytest

from seqkit.cells import CELLS, get_cell
from tests.cells import reference
from tests.cells.util import built_cell, random_weights, run

LSTM_FAMILY = sorted(name for name in CELLS if name.startswith("lstm"))


def test_family_is_complete():
    assert LSTM_FAMILY == ["lstm", "lstm_cifg", "lstm_fgr", "lstm_nfg", "lstm_niaf",
                           "lstm_nig", "lstm_noaf", "lstm_nog", "lstm_peephole"]


@pytest.mark.parametrize("name", LSTM_FAMILY)
def test_matches_numpy_reference(name):
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((3, 9, 5)).astype("float32")
    cell = built_cell(name, 4, 5)
    weights = random_weights(cell, rng)
    cell.assign_named_weights(weights)
    out, states = run(cell, xs)
    ref_out, ref_states = reference.reference(name, weights, xs.astype("float64"))
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    assert len(states) == len(ref_states)
    for ours, theirs in zip(states, ref_states):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_matches_keras_lstm():
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((4, 11, 6)).astype("float32")
    ours = built_cell("lstm", 5, 6)
    ours.assign_named_weights(random_weights(ours, rng))
    theirs = keras.layers.LSTM(5, return_sequences=True, return_state=True)
    theirs.build((None, 11, 6))
    theirs.set_weights([w.numpy() for w in (ours.kernel, ours.recurrent_kernel, ours.bias)])
    out, (h, c) = run(ours, xs)
    their_out, their_h, their_c = theirs(xs)
    np.testing.assert_allclose(out, their_out, atol=1e-5)
    np.testing.assert_allclose(h, their_h, atol=1e-5)
    np.testing.assert_allclose(c, their_c, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in LSTM_FAMILY if n not in ("lstm_nfg", "lstm_cifg")])
def test_forget_bias_starts_at_one_with_option_for_zero(name):
    cell = built_cell(name, 3, 2)
    np.testing.assert_array_equal(cell.named_weights()["b_f"], np.ones(3))
    for bias in ("b_i", "b_g", "b_o"):
        if bias in cell.named_weights():
            np.testing.assert_array_equal(cell.named_weights()[bias], np.zeros(3))
    cell = built_cell(name, 3, 2, unit_forget_bias=False)
    np.testing.assert_array_equal(cell.named_weights()["b_f"], np.zeros(3))


def test_variants_start_as_the_lstm_they_modify():
    """Peepholes and gate recurrence start at zero: FGR starts equal to the peephole LSTM."""
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((2, 6, 3)).astype("float32")
    base = built_cell("lstm_peephole", 4, 3)
    weights = random_weights(base, rng)
    del weights["p_i"], weights["p_f"], weights["p_o"]
    base.assign_named_weights(weights)
    fgr = built_cell("lstm_fgr", 4, 3)
    fgr.assign_named_weights(weights)
    plain = get_cell("lstm", 4)
    plain.assign_named_weights(weights)
    np.testing.assert_allclose(run(base, xs)[0], run(fgr, xs)[0], atol=1e-6)
    np.testing.assert_allclose(run(base, xs)[0], run(plain, xs)[0], atol=1e-6)
