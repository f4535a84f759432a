import numpy as np
import tensorflow as tf

from seqkit.layers import recurrent
from seqkit.vis.gradient_flow import (
    compare_cells,
    fresh_model,
    gradient_norms,
    recurrent_singular_values,
    train_and_watch,
)


def test_linear_rnn_matches_the_closed_form():
    """h_t = x_t U + h_{t-1} W (linear): dL_T/dh_t = v (W^T)^(T-t) for L_T = h_T · v."""
    rng = np.random.default_rng(0)
    units, steps, batch = 4, 7, 3
    stack = recurrent("vanilla", units, activation="linear")
    stack.build((None, None, 2))
    w = rng.normal(size=(units, units)) * 0.6
    stack.rnns[0].cell.assign_named_weights({"W_hh": w, "W_xh": rng.normal(size=(2, units)),
                                             "b_h": np.zeros(units)})
    v = rng.normal(size=units)
    x = rng.normal(size=(batch, steps, 2)).astype("float32")
    flow = gradient_norms(stack, x, lambda out: tf.reduce_sum(out[:, -1] * v, -1))
    expected = [np.linalg.norm(np.linalg.matrix_power(w, steps - 1 - t) @ v)
                for t in range(steps)]
    np.testing.assert_allclose(flow["h"][0], expected, rtol=1e-5)
    sigma = recurrent_singular_values(stack)[0]["W_hh"]
    np.testing.assert_allclose(sigma, np.linalg.svd(w, compute_uv=False)[0], rtol=1e-5)


def test_cells_on_the_same_batch_and_clipping():
    ids = np.random.default_rng(0).integers(0, 9, size=(2, 13))
    results = compare_cells(["vanilla", "lstm"], ids, vocab_size=9, units=6, seed=3)
    assert results["vanilla"]["h"].shape == (1, 12) and "c" not in results["vanilla"]
    assert results["lstm"]["c"].shape == (1, 12)
    assert set(results["lstm"]["sigma_max"][0]) == {"W_hi", "W_hf", "W_hg", "W_ho"}
    # A linear-scale check of the rescaling: sigma_max set exactly.
    model = fresh_model("vanilla", 9, units=6, recurrent_scale=2.5)
    sigma = recurrent_singular_values(model.get_layer("recurrent"))[0]["W_hh"]
    np.testing.assert_allclose(sigma, 2.5, rtol=1e-5)
    history = train_and_watch(model, [ids], steps=3, learning_rate=0.01, clipnorm=1.0)
    assert len(history["loss"]) == 3 and np.all(np.isfinite(history["grad_norm"]))
