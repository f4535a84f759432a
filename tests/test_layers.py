import keras
import numpy as np
import pytest

from seqkit.cells import CELLS
from seqkit.layers import Recurrent, recurrent
from tests.cells.util import random_weights


def _xs(shape=(3, 6, 4), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _manual(stack, xs, connection=None):
    """Runs the stack's own RNN layers one by one, applying the connection by hand."""
    x = xs
    for layer, rnn in enumerate(stack.rnns):
        out = keras.ops.convert_to_numpy(rnn(x)[0])
        if connection and x.shape[-1] == stack.units:
            if connection == "residual":
                out = out + x
            else:
                hw = stack.highways[layer]
                gate = 1 / (1 + np.exp(-(x @ hw.W_T.numpy() + hw.b_T.numpy())))
                out = gate * out + (1 - gate) * x
        x = out
    return x


@pytest.mark.parametrize("connection", [None, "residual", "highway"])
def test_stack_equals_layers_applied_in_turn(connection):
    stack = recurrent("gru", 4, depth=3, connection=connection)
    xs = _xs()
    out = keras.ops.convert_to_numpy(stack(xs))
    rng = np.random.default_rng(1)
    for rnn in stack.rnns:
        rnn.cell.assign_named_weights(random_weights(rnn.cell, rng))
    out = keras.ops.convert_to_numpy(stack(xs))
    np.testing.assert_allclose(out, _manual(stack, xs, connection), atol=1e-5)
    assert out.shape == (3, 6, 4)


def test_skip_connections_only_where_widths_match():
    stack = recurrent("lstm", 5, depth=2, connection="residual")
    xs = _xs()
    out = keras.ops.convert_to_numpy(stack(xs))
    layer0 = keras.ops.convert_to_numpy(stack.rnns[0](xs)[0])
    layer1 = keras.ops.convert_to_numpy(stack.rnns[1](layer0)[0])
    np.testing.assert_allclose(out, layer1 + layer0, atol=1e-5)


def test_return_state_and_initial_state_per_layer():
    stack = recurrent("lstm", 4, depth=2, return_state=True, return_sequences=False)
    xs = _xs()
    out, *states = stack(xs)
    assert out.shape == (3, 4) and len(states) == 4
    # Feeding the final states back continues the sequence: two halves == the whole.
    first, *mid = stack(xs[:, :3])
    second, *_ = stack(xs[:, 3:], initial_state=mid)
    np.testing.assert_allclose(second, out, atol=1e-5)


def test_masking_last_valid_output():
    stack = recurrent("vanilla", 4, depth=2, return_sequences=False)
    xs = _xs()
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]], bool)
    out = keras.ops.convert_to_numpy(stack(xs, mask=mask))
    for row, length in enumerate(mask.sum(1)):
        one = keras.ops.convert_to_numpy(stack(xs[row:row + 1, :length]))
        np.testing.assert_allclose(out[row], one[0], atol=1e-5)


def test_in_functional_model_with_embedding_mask_and_serialisation(tmp_path):
    inputs = keras.Input((None,), dtype="int32", name="tokens")
    hidden = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    hidden = recurrent("mut2", 4, depth=2, connection="highway", return_sequences=False,
                       dropout=0.1)(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    tokens = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]])
    expected = model.predict(tokens, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(tokens, verbose=0), expected, atol=1e-6)
    short = model.predict(tokens[:1, :3], verbose=0)
    np.testing.assert_allclose(expected[0], short[0], atol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"cell": "nope"}, "Unknown cell name 'nope'"),
    ({"depth": 0}, "depth=0"),
    ({"connection": "dense"}, r"'dense'.*\[None, 'residual', 'highway'\]"),
    ({"units": -1}, "units=-1"),
])
def test_bad_arguments(kwargs, match):
    args = {"cell": "lstm", "units": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        Recurrent(**args)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_hoisted_path_equals_the_reference_loop(name):
    """seqkit.layers.RNN (input projection outside the loop) gives keras.layers.RNN's outputs,
    final states and gradients, with a mask and with dropout masks."""
    import tensorflow as tf

    from seqkit.cells import get_cell
    from seqkit.layers import RNN

    xs = tf.constant(_xs((3, 7, 5), seed=2))
    mask = tf.constant(np.arange(7)[None, :] < np.array([[7], [4], [1]]))
    weights = None
    for training, kwargs in ((False, {}), (True, {"dropout": 0.3, "recurrent_dropout": 0.2})):
        results = []
        for layer_class in (keras.layers.RNN, RNN):
            cell = get_cell(name, 6, seed=7, **kwargs)
            layer = layer_class(cell, return_sequences=True, return_state=True)
            layer.build(xs.shape)
            if weights is None:
                weights = random_weights(cell, np.random.default_rng(3))
            cell.assign_named_weights(weights)
            with tf.GradientTape() as tape:
                tape.watch(xs)
                outputs = layer(xs, mask=mask, training=training)
                loss = sum(tf.reduce_sum(tf.sin(o)) for o in outputs)
            grads = tape.gradient(loss, [xs, *layer.trainable_variables])
            results.append([o.numpy() for o in outputs] + [g.numpy() for g in grads])
        for reference, hoisted in zip(*results):
            np.testing.assert_allclose(hoisted, reference, rtol=1e-5, atol=1e-5)


def test_recurrent_uses_the_hoisted_loop_and_keeps_unroll():
    from seqkit.layers import RNN

    stack = recurrent("lstm", 4, depth=2, unroll=True)
    assert all(isinstance(rnn, RNN) and rnn.unroll for rnn in stack.rnns)
    restored = Recurrent.from_config(stack.get_config())
    assert restored.unroll and restored.rnns[0].unroll
