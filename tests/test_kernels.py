"""seqkit's fused CPU kernels (seqkit/kernels): same values and gradients as the TF paths."""

import contextlib
import os
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkit import kernels
from seqkit.cells import CELLS, get_cell
from seqkit.cells.minimal import ParallelRNN, linear_scan
from seqkit.layers import RNN
from tests.cells.util import random_weights

pytestmark = pytest.mark.skipif(
    shutil.which(os.environ.get("CXX", "g++")) is None,
    reason="no C++ compiler: seqkit runs its TensorFlow paths")

TOLERANCE = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 1e-5, "atol": 1e-6}}


def _normal(shape, seed, dtype="float64", scale=1.0):
    return tf.constant(np.random.default_rng(seed).normal(size=shape) * scale, dtype)


def _ops_in(function, *args):
    graph = tf.function(function).get_concrete_function(*args).graph
    names = {op.type for op in graph.get_operations()}
    for f in graph.as_graph_def().library.function:
        names |= {node.op for node in f.node_def}
    return {name for name in names if name.startswith("Seqkit")}


def _run(layer, xs, states=None, fused=True):
    """Outputs, final states and gradients (of inputs, initial states and weights)."""
    watched = [xs, *(states or [])]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        if fused:
            outputs = layer(xs, initial_state=states, training=True)
        else:
            with kernels.disabled():
                outputs = layer(xs, initial_state=states, training=True)
        loss = sum(tf.reduce_sum(tf.sin(o) * (k + 1)) for k, o in enumerate(outputs))
    grads = tape.gradient(loss, watched + list(layer.trainable_variables))
    return [o.numpy() for o in outputs] + [g.numpy() for g in grads]


def test_the_kernels_are_built_and_loaded():
    assert kernels.available(), kernels._state["error"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_lstm_equals_the_tensorflow_loop(dtype, go_backwards):
    xs = _normal((3, 9, 5), 0, dtype)
    states = [_normal((3, 6), 1, dtype), _normal((3, 6), 2, dtype)]
    layer = RNN(get_cell("lstm", 6, dtype=dtype), return_sequences=True, return_state=True,
                go_backwards=go_backwards, dtype=dtype)
    layer.build(xs.shape)
    layer.cell.assign_named_weights(random_weights(layer.cell, np.random.default_rng(3)))
    fused, reference = _run(layer, xs, states), _run(layer, xs, states, fused=False)
    for ours, theirs in zip(fused, reference):
        np.testing.assert_allclose(ours, theirs, **TOLERANCE[dtype])


def test_fused_lstm_equals_keras_lstm_with_the_same_weights():
    xs = _normal((4, 12, 5), 4, "float32")
    ours = RNN(get_cell("lstm", 8), return_sequences=True, return_state=True)
    theirs = keras.layers.LSTM(8, return_sequences=True, return_state=True)
    ours.build(xs.shape)
    theirs.build(xs.shape)
    ours.cell.assign_named_weights(random_weights(ours.cell, np.random.default_rng(5)))
    theirs.set_weights(ours.get_weights())
    for mine, keras_value in zip(_run(ours, xs), _run(theirs, xs)):
        np.testing.assert_allclose(mine, keras_value, rtol=1e-5, atol=1e-5)


# The op each cell's training loop runs on.
KERNEL_OF = {
    **{name: "SeqkitLstmSequence" for name in CELLS if name.startswith("lstm")},
    "lstm_fgr": "SeqkitFgrSequence", "vanilla": "SeqkitRnnSequence", "gru": "SeqkitGruSequence",
    **{name: "SeqkitResetSequence" for name in ("gru_cho", "mut1", "mut2", "mut3")},
}


def _layer(name, units, input_dim, dtype="float64", seed=7, go_backwards=False, **cell_kwargs):
    layer = RNN(get_cell(name, units, dtype=dtype, **cell_kwargs), return_sequences=True,
                return_state=True, go_backwards=go_backwards, dtype=dtype)
    layer.build((None, None, input_dim))
    layer.cell.assign_named_weights(random_weights(layer.cell, np.random.default_rng(seed)))
    return layer


def _assert_fused_equals_tensorflow(layer, xs, states, dtype="float64"):
    for ours, theirs in zip(_run(layer, xs, states), _run(layer, xs, states, fused=False)):
        np.testing.assert_allclose(ours, theirs, **TOLERANCE[dtype])


def test_every_sequential_cell_has_its_kernel():
    assert set(KERNEL_OF) == set(CELLS) - {"mingru", "minlstm"}


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("name", sorted(KERNEL_OF))
def test_every_cell_on_its_kernel_equals_the_tensorflow_loop(name, go_backwards):
    """Values and gradients (inputs, initial states, every weight) in float64."""
    xs = _normal((3, 7, 5), 6)
    layer = _layer(name, 6, 5, go_backwards=go_backwards)
    states = [_normal((3, 6), 20 + k) for k in range(len(layer.cell.state_size))]
    _assert_fused_equals_tensorflow(layer, xs, states)
    assert KERNEL_OF[name] in _ops_in(lambda x: layer(x, training=True), xs)


@pytest.mark.parametrize("name", ["lstm", "lstm_fgr", "gru", "gru_cho", "mut3", "vanilla"])
def test_batches_split_over_threads_give_the_same_values(name):
    """41 rows: whole register blocks of the step product and a remainder, on two or more
    threads, each running the whole sequence for its rows; widths past one panel."""
    xs = _normal((41, 4, 5), 30)
    layer = _layer(name, 37, 5)
    states = [_normal((41, 37), 31 + k) for k in range(len(layer.cell.state_size))]
    _assert_fused_equals_tensorflow(layer, xs, states)


def test_results_do_not_depend_on_the_number_of_threads():
    """Bitwise: each thread runs the whole sequence for its rows, and a row's sums run in
    one order whichever thread runs it; one intra-op thread gives the same bytes."""
    code = textwrap.dedent("""
        import hashlib, sys
        import numpy as np, tensorflow as tf
        if int(sys.argv[1]):
            tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[1]))
        from seqkit import kernels
        rng, n = np.random.default_rng(32), 37
        xp, h0, c0, w = (tf.constant(rng.normal(size=shape) * scale, "float32") for shape, scale
                         in (((6, 41, 4 * n), 1), ((41, n), 1), ((41, n), 1), ((n, 4 * n), 0.2)))
        with tf.GradientTape() as tape:
            tape.watch([xp, h0, c0, w])
            h_all, h, c = kernels.lstm_sequence(xp, h0, c0, w)
            loss = tf.reduce_sum(tf.sin(h_all)) + tf.reduce_sum(c)
        out = [h_all, c, *tape.gradient(loss, [xp, h0, c0, w])]
        print(hashlib.sha256(b"".join(x.numpy().tobytes() for x in out)).hexdigest())
        """)
    digests = set()
    for threads in ("1", "0"):  # one thread; TensorFlow's default (every core)
        result = subprocess.run([sys.executable, "-c", code, threads], capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        digests.add(result.stdout.split()[-1])
    assert len(digests) == 1


@pytest.mark.parametrize("name, kwargs", [
    ("vanilla", {"activation": "relu"}),
    ("mut1", {}),  # input width == units: tanh(x) itself
    ("mut2", {}),  # x itself in the reset gate
    ("lstm_cifg", {"unit_forget_bias": False}),
])
def test_kernels_in_float32_and_at_equal_widths(name, kwargs):
    xs = _normal((4, 11, 6), 30, "float32")
    layer = _layer(name, 6, 6, dtype="float32", seed=31, **kwargs)
    _assert_fused_equals_tensorflow(layer, xs, None, dtype="float32")
    assert KERNEL_OF[name] in _ops_in(lambda x: layer(x, training=True), xs)


def test_cells_the_kernels_do_not_compute_keep_the_step_loop():
    """A cell with other activations than the kernel's runs its own step on SeqkitMatMul."""
    xs = _normal((3, 7, 5), 32)
    for name, kwargs in (("gru", {"activation": "relu"}),
                         ("lstm", {"recurrent_activation": "hard_sigmoid"})):
        layer = _layer(name, 6, 5, **kwargs)
        _assert_fused_equals_tensorflow(layer, xs, None)
        assert _ops_in(lambda x, layer=layer: layer(x, training=True), xs) == {"SeqkitMatMul"}


@pytest.mark.parametrize("name, keras_layer", [
    ("gru", lambda units: keras.layers.GRU(units, return_sequences=True, return_state=True)),
    ("gru_cho", lambda units: keras.layers.GRU(units, reset_after=False, return_sequences=True,
                                               return_state=True)),
    ("vanilla", lambda units: keras.layers.SimpleRNN(units, return_sequences=True,
                                                     return_state=True)),
])
def test_kernels_equal_keras_layers_with_the_same_weights(name, keras_layer):
    xs = _normal((4, 12, 5), 33, "float32")
    ours, theirs = _layer(name, 8, 5, dtype="float32", seed=34), keras_layer(8)
    theirs.build(xs.shape)
    theirs.set_weights(ours.get_weights())
    for mine, keras_value in zip(_run(ours, xs), _run(theirs, xs)):
        np.testing.assert_allclose(mine, keras_value, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("transpose_a, transpose_b",
                         [(False, False), (False, True), (True, False), (True, True)])
def test_matmul_and_its_gradient(transpose_a, transpose_b):
    a, b = _normal((4, 3), 8), _normal((3, 5), 9)
    a = tf.transpose(a) if transpose_a else a
    b = tf.transpose(b) if transpose_b else b
    upstream = _normal((4, 5), 10)
    results = []
    for product in (
        lambda: kernels.library().seqkit_mat_mul(
            a, b, transpose_a=transpose_a, transpose_b=transpose_b),
        lambda: tf.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b),
    ):
        kernels._register_matmul_gradient()
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            loss = tf.reduce_sum(product() * upstream)
        results.append([product().numpy(), *[g.numpy() for g in tape.gradient(loss, [a, b])]])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_linear_scan_kernel_equals_the_tensorflow_scan(dtype):
    a = tf.constant(np.random.default_rng(11).uniform(size=(3, 70, 130)), dtype)
    b = _normal((3, 70, 130), 12, dtype)
    upstream = _normal((3, 70, 130), 13, dtype)
    results = []
    for scan in (kernels.linear_scan, linear_scan):
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            h = scan(a, b)
            loss = tf.reduce_sum(h * upstream)
        results.append([h.numpy(), *[g.numpy() for g in tape.gradient(loss, [a, b])]])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, **TOLERANCE[dtype])


def _parallel_layer(name, units, seed, dtype="float64"):
    layer = ParallelRNN(get_cell(name, units, dtype=dtype), return_state=True, dtype=dtype)
    layer.build((None, None, 5))
    layer.cell.assign_named_weights(random_weights(layer.cell, np.random.default_rng(seed)))
    return layer


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
@pytest.mark.parametrize("units, scale", [(6, 1.0), (300, 1.0), (7, 40.0)])
def test_parallel_cells_on_their_kernel_equal_the_tensorflow_scan(name, units, scale):
    """Gates and scan in one op (SeqkitMinimalScan): 300 units span a full and a partial
    block of the op's rows; scale 40 saturates every gate."""
    xs = _normal((3, 40, 5), 14, scale=scale)
    layer = _parallel_layer(name, units, 15)
    for h0 in (None, [_normal((3, units), 16)]):
        for ours, theirs in zip(_run(layer, xs, h0), _run(layer, xs, h0, fused=False)):
            np.testing.assert_allclose(ours, theirs, **TOLERANCE["float64"])
    assert _ops_in(lambda x: layer(x, training=True), xs) == {"SeqkitMinimalScan"}


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_parallel_cells_in_float32_on_their_kernel(name):
    xs = _normal((4, 33, 5), 20, "float32", scale=3.0)
    layer = _parallel_layer(name, 9, 21, "float32")
    h0 = [_normal((4, 9), 22, "float32")]
    for ours, theirs in zip(_run(layer, xs, h0), _run(layer, xs, h0, fused=False)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_masked_parallel_cells_run_the_scan_kernel(name):
    xs = _normal((3, 12, 5), 23)
    mask = tf.constant(np.random.default_rng(24).uniform(size=(3, 12)) > 0.3)
    layer = _parallel_layer(name, 6, 25)
    h0 = [_normal((3, 6), 26)]

    def run(fused):
        with tf.GradientTape() as tape:
            tape.watch([xs, *h0])
            with contextlib.nullcontext() if fused else kernels.disabled():
                outputs = layer(xs, initial_state=h0, mask=mask, training=True)
            loss = sum(tf.reduce_sum(tf.sin(o) * (k + 1)) for k, o in enumerate(outputs))
        return [*outputs, *tape.gradient(loss, [xs, *h0, *layer.trainable_variables])]

    for ours, theirs in zip(run(True), run(False)):
        np.testing.assert_allclose(ours, theirs, **TOLERANCE["float64"])
    assert _ops_in(lambda x: layer(x, mask=mask, training=True), xs) == {"SeqkitLinearScan"}


def test_a_cell_with_other_coefficients_keeps_the_tensorflow_scan():
    class Halved(CELLS["mingru"]):
        def coefficients(self, xp):
            a, b = super().coefficients(xp)
            return a, b / 2

    cell = Halved(4)
    assert cell.fused_scan() is None
    layer = ParallelRNN(cell)
    xs = _normal((2, 6, 3), 27, "float32")
    assert "SeqkitMinimalScan" not in _ops_in(lambda x: layer(x, training=True), xs)


def test_inference_and_xla_graphs_hold_no_seqkit_op():
    """Exported (training=False) and jit_compile graphs use only TensorFlow's ops."""
    xs = _normal((2, 5, 3), 17, "float32")
    model = keras.Sequential([keras.Input((5, 3)), RNN(get_cell("lstm", 4), return_sequences=True),
                              RNN(get_cell("gru", 4)), keras.layers.Dense(2)])
    assert _ops_in(lambda x: model(x, training=True), xs) >= {"SeqkitLstmSequence",
                                                              "SeqkitGruSequence"}
    assert not _ops_in(lambda x: model(x, training=False), xs)
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    history = model.fit(xs, tf.zeros((2, 2)), epochs=2, verbose=0)  # XLA would reject them
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("name", ["lstm", "mingru"])
def test_a_training_step_on_the_kernels_lowers_the_loss(name):
    keras.utils.set_random_seed(0)
    xs, ys = _normal((16, 20, 3), 18, "float32"), _normal((16, 1), 19, "float32")
    layer = (ParallelRNN(get_cell(name, 16), return_sequences=False) if name == "mingru"
             else RNN(get_cell(name, 16)))
    model = keras.Sequential([keras.Input((20, 3)), layer, keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    first = model.evaluate(xs, ys, verbose=0)
    model.fit(xs, ys, epochs=5, verbose=0)
    assert model.evaluate(xs, ys, verbose=0) < first


def test_bad_shapes_name_what_was_received():
    library = kernels.library()
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"received \[5,2,8\]"):
        library.seqkit_lstm_sequence(tf.zeros((5, 2, 8)), tf.zeros((2, 3)), tf.zeros((2, 3)),
                                     tf.zeros((3, 12)), tf.zeros((3, 3)))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"peephole .*received \[2,3\]"):
        library.seqkit_lstm_sequence(tf.zeros((5, 2, 12)), tf.zeros((2, 3)), tf.zeros((2, 3)),
                                     tf.zeros((3, 12)), tf.zeros((2, 3)))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"3 units.*received \[4,2,6\]"):
        library.seqkit_gru_sequence(tf.zeros((4, 2, 6)), tf.zeros((2, 3)), tf.zeros((3, 9)),
                                    tf.zeros((9,)))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\(units, 2 units\)"):
        library.seqkit_reset_sequence(tf.zeros((4, 2, 9)), tf.zeros((2, 3)), tf.zeros((3, 9)),
                                      cell="mut1")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"time >= 1.*received \[0,2,3\]"):
        library.seqkit_rnn_sequence(tf.zeros((0, 2, 3)), tf.zeros((2, 3)), tf.zeros((3, 3)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="inner dimensions differ"):
        library.seqkit_mat_mul(tf.zeros((2, 3)), tf.zeros((4, 5)))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\(2, time, 9\), received \[2,4,4\]"):
        library.seqkit_minimal_scan(tf.zeros((2, 4, 4)), tf.zeros((9,)), tf.zeros((2, 3)),
                                    cell="minlstm")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"bias .*received \[5\]"):
        library.seqkit_minimal_scan(tf.zeros((2, 4, 6)), tf.zeros((5,)), tf.zeros((2, 3)))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"dh .*received \[2,4,2\]"):
        library.seqkit_minimal_scan_grad(tf.zeros((2, 4, 2)), tf.zeros((2, 4, 6)),
                                         tf.zeros((6,)), tf.zeros((2, 3)), tf.zeros((2, 4, 3)))
    fgr = (tf.zeros((4, 2, 12)), tf.zeros((2, 3)), tf.zeros((2, 3)), tf.zeros((2, 9)),
           tf.zeros((3, 12)), tf.zeros((9, 9)), tf.zeros((3, 3)))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"q0 .*\[2,9\].*received \[2,6\]"):
        library.seqkit_fgr_sequence(*fgr[:3], tf.zeros((2, 6)), *fgr[4:])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"gate_kernel .*received \[6,6\]"):
        library.seqkit_fgr_sequence(*fgr[:5], tf.zeros((6, 6)), fgr[6])
    with pytest.raises(ValueError, match=r"no cell 'gru'.*minlstm"):
        kernels.minimal_scan(tf.zeros((2, 4, 6)), tf.zeros((6,)), tf.zeros((2, 3)), "gru")
    with pytest.raises(ValueError, match=r"no cell 'gru'.*mut1"):
        kernels.reset_sequence(tf.zeros((4, 2, 9)), tf.zeros((2, 3)), tf.zeros((3, 9)), "gru")


def test_switched_off_seqkit_trains_on_its_tensorflow_paths():
    code = ("import tensorflow as tf; from seqkit import kernels; from seqkit.layers import RNN;"
            "from seqkit.cells import get_cell; layer = RNN(get_cell('lstm', 4));"
            "y = layer(tf.zeros((2, 3, 5)), training=True);"
            "print(kernels.available(), kernels.usable('float32'), y.shape)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, kernels.ENVIRONMENT_SWITCH: "0"}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == "False False (2, 4)"
