"""What every registered cell must do: the contract of seqkit.cells.base."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkit.cells import CELLS, get_cell
from tests.cells.util import (
    FAMILY_REPRESENTATIVES,
    built_cell,
    only_in_slow_beyond,
    random_weights,
)

ALL = sorted(CELLS)
# One cell per family file runs in `make test`; the rest of a slow test's cells run with -m slow.
ALL_SLOW_BEYOND_FAMILIES = only_in_slow_beyond(FAMILY_REPRESENTATIVES)


def test_registry_names_match_design():
    expected = {"vanilla", "lstm", "lstm_peephole", "lstm_cifg", "lstm_nig", "lstm_nfg",
                "lstm_nog", "lstm_niaf", "lstm_noaf", "lstm_fgr", "gru", "gru_cho",
                "mut1", "mut2", "mut3"}
    assert expected <= set(CELLS)


def test_unknown_name_lists_valid_choices():
    with pytest.raises(ValueError, match=r"'lstmm'.*valid names: \['gru'"):
        get_cell("lstmm", 4)


@pytest.mark.parametrize("units", [0, -3, 2.5, "8", True, None])
def test_bad_units(units):
    with pytest.raises(ValueError, match=f"units={units!r}"):
        get_cell("gru", units)


@pytest.mark.parametrize("rate", [-0.1, 1.0, "x"])
def test_bad_dropout(rate):
    with pytest.raises(ValueError, match="dropout"):
        get_cell("lstm", 4, dropout=rate)


def test_weight_shape_and_name_errors():
    cell = built_cell("lstm", 4, 3)
    with pytest.raises(ValueError, match=r"'W_xi'.*\(3, 4\).*\(4, 4\)"):
        cell.assign_named_weights({"W_xi": np.zeros((4, 4))})
    with pytest.raises(ValueError, match=r"\['W_zz'\].*valid names"):
        cell.assign_named_weights({"W_zz": np.zeros((4, 4))})
    with pytest.raises(ValueError, match="no weights yet"):
        get_cell("lstm", 4).named_weights()


@pytest.mark.parametrize("name", ALL)
def test_named_weights_follow_design_shapes(name):
    cell = built_cell(name, 4, 3)
    weights = cell.named_weights()
    assert weights, name
    for key, value in weights.items():
        if key.startswith("W_x"):
            assert value.shape == (3, 4), key
        elif key.startswith("W_"):
            assert value.shape == (4, 4), key
        else:
            assert value.shape == (4,), key
    # assign_named_weights is the inverse of named_weights.
    new = random_weights(cell, np.random.default_rng(0))
    cell.assign_named_weights(new)
    for key, value in cell.named_weights().items():
        np.testing.assert_array_equal(value, new[key])


@pytest.mark.parametrize("name", ALL)
def test_gradients_match_finite_differences(name):
    rng = np.random.default_rng(8)
    units, width = 3, 3
    cell = get_cell(name, units, dtype="float64")
    layer = keras.layers.RNN(cell, return_sequences=True, dtype="float64")
    xs = tf.constant(rng.standard_normal((2, 5, width)))
    layer(xs)
    cell.assign_named_weights(random_weights(cell, rng, scale=0.7))
    probe = tf.constant(rng.standard_normal((2, 5, units)))

    def loss():
        return tf.reduce_sum(layer(xs) * probe)

    with tf.GradientTape() as tape:
        value = loss()
    grads = tape.gradient(value, layer.trainable_variables)
    eps = 1e-6
    for var, grad in zip(layer.trainable_variables, grads):
        flat = var.numpy().ravel()
        for index in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            original = flat[index]
            values = []
            for delta in (eps, -eps):
                flat[index] = original + delta
                var.assign(flat.reshape(var.shape))
                values.append(float(loss()))
            flat[index] = original
            var.assign(flat.reshape(var.shape))
            numeric = (values[0] - values[1]) / (2 * eps)
            analytic = grad.numpy().ravel()[index]
            assert abs(numeric - analytic) <= 1e-6 + 1e-5 * abs(numeric), (var.name, index)


@pytest.mark.parametrize("name", ALL)
def test_saved_and_loaded_model_gives_identical_outputs(name, tmp_path):
    rng = np.random.default_rng(9)
    inputs = keras.Input((None, 3), name="frames")
    outputs = keras.layers.RNN(get_cell(name, 4, dropout=0.1), return_sequences=True)(inputs)
    model = keras.Model(inputs, outputs)
    xs = rng.standard_normal((2, 6, 3)).astype("float32")
    expected = model.predict(xs, verbose=0)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.predict(xs, verbose=0), expected)
    assert loaded.layers[-1].cell.get_config() == model.layers[-1].cell.get_config()


@pytest.mark.parametrize("name", ALL)
def test_masked_batch_matches_sequences_run_one_by_one(name):
    rng = np.random.default_rng(10)
    cell = built_cell(name, 4, 3)
    cell.assign_named_weights(random_weights(cell, rng))
    lengths = [5, 2, 4]
    padded = np.zeros((3, 5, 3), dtype="float32")
    for row, length in enumerate(lengths):
        padded[row, :length] = rng.standard_normal((length, 3))
    layer = keras.layers.RNN(cell, return_state=True)
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    batch_states = layer(padded, mask=mask)[1:]
    for row, length in enumerate(lengths):
        one_states = layer(padded[row : row + 1, :length])[1:]
        for batch_state, one_state in zip(batch_states, one_states):
            np.testing.assert_allclose(batch_state[row], one_state[0], atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_dropout_uses_one_mask_per_sequence(name):
    """The same input at every step with dropout on: the dropped units stay the same."""
    cell = get_cell(name, 4, dropout=0.5, recurrent_dropout=0.5, seed=3)
    layer = keras.layers.RNN(cell, return_sequences=True)
    xs = np.ones((2, 6, 4), dtype="float32")
    layer(xs)
    cell.assign_named_weights({k: np.zeros_like(v) for k, v in cell.named_weights().items()
                               if k.startswith("W_h") or (k.startswith("W_") and
                                                          k[2] in "iof" and k[3] in "iof")})
    # Only the input matters now; the first projection of the input is a fixed function
    # of the dropped input, so a per-step mask would make step outputs differ in pattern.
    train_out = keras.ops.convert_to_numpy(layer(xs, training=True))
    eval_out = keras.ops.convert_to_numpy(layer(xs, training=False))
    assert not np.allclose(train_out, eval_out)
    # Masks are regenerated per call (per batch), not frozen forever.
    other = keras.ops.convert_to_numpy(layer(xs, training=True))
    assert not np.allclose(train_out, other)


def test_vanilla_dropout_mask_is_shared_across_steps():
    cell = get_cell("vanilla", 4, dropout=0.5, seed=1)
    cell.assign_named_weights({"W_xh": np.eye(4, dtype="float32"),
                               "W_hh": np.zeros((4, 4), "float32"), "b_h": np.zeros(4)})
    layer = keras.layers.RNN(cell, return_sequences=True)
    out = keras.ops.convert_to_numpy(layer(np.ones((3, 8, 4), "float32"), training=True))
    assert np.any(out == 0) and np.any(out != 0)
    for t in range(1, 8):
        np.testing.assert_array_equal(out[:, t], out[:, 0])


# The costliest test (Bidirectional + stack + XLA + mixed precision) runs on fewer still.
@pytest.mark.parametrize("name", only_in_slow_beyond({"lstm", "gru", "mut1", "mingru"}))
def test_bidirectional_stacked_jit_and_mixed_precision(name):
    rng = np.random.default_rng(11)
    xs = rng.standard_normal((4, 6, 3)).astype("float32")
    y = rng.standard_normal((4, 8)).astype("float32")

    def model():
        inputs = keras.Input((None, 3))
        hidden = keras.layers.Bidirectional(
            keras.layers.RNN(get_cell(name, 4), return_sequences=True))(inputs)
        hidden = keras.layers.RNN([get_cell(name, 4), get_cell(name, 4)])(hidden)
        outputs = keras.layers.Dense(8, dtype="float32")(hidden)
        return keras.Model(inputs, outputs)

    keras.utils.set_random_seed(0)
    eager = model()
    keras.utils.set_random_seed(0)
    jitted = model()
    eager.compile("sgd", "mse", jit_compile=False)
    jitted.compile("sgd", "mse", jit_compile=True)
    np.testing.assert_allclose(eager.predict(xs, verbose=0), jitted.predict(xs, verbose=0),
                               atol=1e-5)
    assert np.isfinite(jitted.train_on_batch(xs, y))

    keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    half = model()
    assert half.layers[1].forward_layer.cell.compute_dtype == "float16"
    half.compile("sgd", "mse")
    np.testing.assert_allclose(half.predict(xs, verbose=0), eager.predict(xs, verbose=0),
                               atol=3e-2)
    assert np.isfinite(half.train_on_batch(xs, y))


@pytest.mark.parametrize("name", ALL_SLOW_BEYOND_FAMILIES)
def test_each_cell_learns_a_tiny_task(name):
    """Predict the input of two steps ago (one step ago for the parallel-scan cells, whose
    gates read only x_t: one such layer is a gated linear filter that cannot isolate
    x_{t-2}): a few hundred steps cut the loss well down."""
    rng = np.random.default_rng(12)
    lag = 1 if hasattr(CELLS[name], "scan") else 2
    xs = rng.integers(0, 2, size=(256, 12, 1)).astype("float32")
    ys = np.concatenate([np.zeros((256, lag, 1), "float32"), xs[:, :-lag]], axis=1)
    inputs = keras.Input((12, 1))
    hidden = keras.layers.RNN(get_cell(name, 16), return_sequences=True)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))
    model.compile(keras.optimizers.Adam(0.02, clipnorm=1.0), "binary_crossentropy")
    start = model.evaluate(xs, ys, verbose=0)
    model.fit(xs, ys, batch_size=32, epochs=40, verbose=0)
    end = model.evaluate(xs, ys, verbose=0)
    assert end < 0.35 * start, (start, end)
