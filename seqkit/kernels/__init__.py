"""Fused CPU kernels: seqkit's fast path for training every cell.

``fused.cc`` holds TensorFlow ops that run on the op's intra-op threads:

* whole-sequence recurrences, forward and backward: ``SeqkitLstmSequence`` (the LSTM
  and Greff et al.'s variants), ``SeqkitFgrSequence`` (full gate recurrence,
  ``lstm_fgr``), ``SeqkitGruSequence`` (``gru``),
  ``SeqkitResetSequence`` (``gru_cho``, ``mut1``–``mut3``: a second product on ``r ⊙ h``)
  and ``SeqkitRnnSequence`` (``vanilla``). The batch rows are independent at every
  step, so each thread runs the whole sequence for its rows, without synchronising
  between steps. A step is its product(s) with ``W_h``, packed once per op for a
  register-blocked kernel, then one fused element-wise pass; the backward op runs the
  steps in reverse and forms ``∂L/∂W_h`` as one OpenBLAS (``scipy-openblas32``) product
  over all steps;
* ``SeqkitMinimalScan`` / ``SeqkitMinimalScanGrad``: ``mingru``/``minlstm`` over whole
  sequences, gates and the scan ``h_t = a_t ⊙ h_{t−1} + b_t`` in one pass, and the
  reverse scan of its gradient; ``SeqkitLinearScan`` / ``SeqkitLinearScanGrad``: the
  scan alone, for masked sequences;
* ``SeqkitMatMul``: ``op(a) op(b)``, the recurrent matmul of a cell that has no
  whole-sequence op (a cell with other activations, a subclass with its own step)
  inside ``seqkit.layers.RNN``'s training loop (``gemm_scope``).

Cells reach them through ``RecurrentCell.fused_recurrence``. All give the same values
and gradients as the TensorFlow paths (``tests/test_kernels.py``).

The library is built from source with the C++ compiler and TensorFlow's own
headers (``python -m seqkit.kernels``; ``make install`` runs it). Where it cannot
be built or loaded, or ``SEQKIT_FUSED_KERNELS=0``, seqkit runs its TensorFlow
paths and says so once. The ops run only while training, on CPU, outside XLA:
exported SavedModels and ``jit_compile`` steps never contain them, so TF Serving
needs nothing extra.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

SOURCE = Path(__file__).with_name("fused.cc")
LIBRARY = Path(__file__).with_name("_fused.so")
ENVIRONMENT_SWITCH = "SEQKIT_FUSED_KERNELS"

_lock = threading.Lock()
_state = {"library": None, "tried": False, "disabled": 0, "error": None}
_scope = threading.local()


def compile_command(output):
    """The compiler command building ``fused.cc`` into ``output``."""
    import scipy_openblas32
    import tensorflow as tf

    compiler = shlex.split(os.environ.get("CXX", "g++"))
    blas = scipy_openblas32.get_lib_dir()
    return [*compiler, "-shared", "-fPIC", "-O3", "-march=native", "-DNDEBUG", "-w", str(SOURCE),
            "-o", str(output), *tf.sysconfig.get_compile_flags(),
            f"-I{scipy_openblas32.get_include_dir()}", *tf.sysconfig.get_link_flags(),
            f"-L{blas}", f"-l{scipy_openblas32.get_library()}", f"-Wl,-rpath,{blas}"]


def build(output=LIBRARY):
    """Compiles the kernels into ``output`` (atomically) and returns its path.

    Raises:
        RuntimeError: with the compiler's message, when compilation fails.
    """
    output = Path(output)
    with tempfile.TemporaryDirectory(dir=output.parent) as scratch:
        partial = Path(scratch) / output.name
        try:
            result = subprocess.run(compile_command(partial), capture_output=True, text=True)
        except OSError as error:
            raise RuntimeError(f"cannot run the C++ compiler: {error}") from error
        if result.returncode != 0:
            raise RuntimeError(
                f"compiling {SOURCE.name} failed (exit {result.returncode}):\n"
                f"{result.stderr[-4000:]}")
        os.replace(partial, output)
    return output


def _stale():
    return not LIBRARY.exists() or LIBRARY.stat().st_mtime < SOURCE.stat().st_mtime


def library():
    """The loaded op library, building it first if needed; ``None`` where unavailable."""
    if _state["tried"]:
        return _state["library"]
    with _lock:
        if _state["tried"]:
            return _state["library"]
        _state["tried"] = True
        if os.environ.get(ENVIRONMENT_SWITCH, "1") == "0":
            _state["error"] = f"{ENVIRONMENT_SWITCH}=0"
            return None
        try:
            import tensorflow as tf

            if _stale():
                build()
            _state["library"] = tf.load_op_library(str(LIBRARY))
        except Exception as error:  # noqa: BLE001 - any failure means the TF path
            _state["error"] = str(error)
            warnings.warn(
                f"seqkit's fused kernels are unavailable ({str(error)[:300]}); "
                "training runs seqkit's TensorFlow paths (same results, slower). "
                "`python -m seqkit.kernels` rebuilds them.", RuntimeWarning, stacklevel=2)
    return _state["library"]


def available():
    """Whether the fused kernels are built and loaded."""
    return library() is not None


@contextlib.contextmanager
def disabled():
    """Within this block, layers take their TensorFlow paths (for comparisons and tests).

    Example:
        >>> with seqkit.kernels.disabled():
        ...     model.fit(data)     # no fused ops in the traced step
    """
    _state["disabled"] += 1
    try:
        yield
    finally:
        _state["disabled"] -= 1


def _in_xla():
    try:
        from tensorflow.python.framework import ops as tf_ops
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - TF moved its internals: be safe
        return True
    return control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph())


def usable(dtype, training=True):
    """Whether a layer should take the fused path now.

    Only for training steps (so exported graphs hold only standard ops), in
    float32 or float64, with no GPU (the ops are CPU kernels), outside XLA.
    """
    if not training or _state["disabled"] or str(dtype) not in ("float32", "float64"):
        return False
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU") or _in_xla():
        return False
    return library() is not None


@contextlib.contextmanager
def gemm_scope(active=True):
    """Within this block (while a loop is traced), ``matmul`` runs on OpenBLAS.

    ``seqkit.layers.RNN`` opens it around its training loop, so the cells' recurrent
    matmuls (``RecurrentCell.matmul``) become ``SeqkitMatMul`` ops there and stay
    TensorFlow's ``MatMul`` everywhere else (generation, export, XLA).
    """
    previous = getattr(_scope, "gemm", False)
    _scope.gemm = bool(active)
    try:
        yield
    finally:
        _scope.gemm = previous


def in_gemm_scope():
    return getattr(_scope, "gemm", False)


_GRADIENT_REGISTERED = []


def _register_matmul_gradient():
    """``d(op(a) op(b))``: the four transpose cases of TensorFlow's own MatMul gradient."""
    if _GRADIENT_REGISTERED:
        return
    import tensorflow as tf

    @tf.RegisterGradient("SeqkitMatMul")
    def _gradient(op, grad):
        ta, tb = op.get_attr("transpose_a"), op.get_attr("transpose_b")
        a, b = op.inputs
        mm = library().seqkit_mat_mul
        if not ta and not tb:
            return mm(grad, b, transpose_b=True), mm(a, grad, transpose_a=True)
        if not ta and tb:
            return mm(grad, b), mm(grad, a, transpose_a=True)
        if ta and not tb:
            return mm(b, grad, transpose_b=True), mm(a, grad)
        return (mm(b, grad, transpose_a=True, transpose_b=True),
                mm(grad, a, transpose_a=True, transpose_b=True))

    _GRADIENT_REGISTERED.append(_gradient)


def matmul(a, b):
    """``a @ b`` for matrices: ``SeqkitMatMul`` (OpenBLAS) in a ``gemm_scope``, else Keras'.

    Example:
        >>> with gemm_scope():
        ...     y = matmul(h, w)
    """
    if in_gemm_scope():
        _register_matmul_gradient()
        return library().seqkit_mat_mul(a, b)
    from keras import ops

    return ops.matmul(a, b)


def linear_scan(a, b):
    """``h_t = a_t ⊙ h_{t−1} + b_t`` (``h_{−1} = 0``) along axis 1, with its gradient.

    Args:
        a: Coefficients, ``(batch, time, units)``, float32 or float64.
        b: Values, same shape and dtype.

    Example:
        >>> h = linear_scan(tf.fill((2, 5, 3), 0.5), tf.ones((2, 5, 3)))
    """
    import tensorflow as tf

    ops = library()

    @tf.custom_gradient
    def scan(a, b):
        h = ops.seqkit_linear_scan(a, b)

        def grad(dh):
            return ops.seqkit_linear_scan_grad(a, h, dh)

        return h, grad

    return scan(a, b)


MINIMAL_CELLS = ("mingru", "minlstm")


def minimal_scan(xp, bias, h0, cell):
    """All steps of ``mingru`` or ``minlstm`` at once, gates and scan in one op.

    The coefficients ``a_t, b_t`` of ``h_t = a_t ⊙ h_{t−1} + b_t`` are formed from
    ``xp`` as the op runs (equations in ``seqkit.cells.minimal``) and never stored;
    the gradient op forms them again on its reverse scan.

    Args:
        xp: ``x W_x``, batch-major ``(batch, time, gates · units)``: the columns of
            ``z, h`` (mingru) or ``f, i, h`` (minlstm), float32 or float64, time ≥ 1.
        bias: ``b``, ``(gates · units,)``; the op adds it as it forms the gates (one
            pass over ``xp`` fewer each way).
        h0: ``(batch, units)``, any sign.
        cell: ``"mingru"`` or ``"minlstm"``.

    Returns:
        ``h``, ``(batch, time, units)``.

    Example:
        >>> h = minimal_scan(x @ cell.kernel, cell.bias, tf.zeros((batch, units)), "mingru")
    """
    import tensorflow as tf

    if cell not in MINIMAL_CELLS:
        raise ValueError(f"minimal_scan has no cell {cell!r}; valid: {list(MINIMAL_CELLS)}.")
    ops = library()

    @tf.custom_gradient
    def run(xp, bias, h0):
        h = ops.seqkit_minimal_scan(xp, bias, h0, cell=cell)

        def grad(dh):
            return ops.seqkit_minimal_scan_grad(dh, xp, bias, h0, h, cell=cell)

        return h, grad

    return run(xp, tf.convert_to_tensor(bias), h0)


def _peephole_gradient(dxp, columns, c0, cs, peephole):
    """``∂L/∂[p_i, p_f, p_o]`` from the pre-activation gradient ``dxp`` (gate blocks in
    ``columns`` order): ``p_i``, ``p_f`` see ``c_{t−1}``, ``p_o`` sees ``c_t``; absent gates 0."""
    import tensorflow as tf

    blocks = tf.split(dxp, len(columns), axis=-1)
    c_prev = tf.concat([c0[None], cs[:-1]], axis=0)
    return tf.stack([
        tf.reduce_sum(blocks[columns.index(gate)] * state, axis=(0, 1))
        if gate in columns else tf.zeros_like(peephole[0])
        for gate, state in (("i", c_prev), ("f", c_prev), ("o", cs))])


def _zeros_for_none(grads, like):
    import tensorflow as tf

    return [tf.zeros_like(x) if g is None else g for g, x in zip(grads, like)]


def lstm_sequence(xp, h0, c0, recurrent_kernel, peephole=None, *, input_gate=True,
                  forget_gate="learned", output_gate=True, input_activation=True,
                  output_activation=True):
    """A whole LSTM layer, or one of Greff et al.'s variants, over time-major input.

    Keras' gate order i, f, g, o; only the gates present have columns. One op runs
    every step (OpenBLAS GEMM ``h W_h``, then the fused gates); its gradient runs
    the steps backwards and forms ``∂L/∂W_h`` as one product
    ``[h_{−1} … h_{T−2}]ᵀ [δz_0 … δz_{T−1}]``.

    Args:
        xp: Input projections ``x W_x + b``, ``(time, batch, gates · units)``, time ≥ 1.
        h0, c0: Initial states, ``(batch, units)``.
        recurrent_kernel: ``W_h``, ``(units, gates · units)``.
        peephole: ``None``, or ``(3, units)``: ``p_i, p_f, p_o`` (rows of absent gates
            are ignored and get a zero gradient).
        input_gate, output_gate: Whether ``i`` / ``o`` are learned (else 1).
        forget_gate: ``"learned"``, ``"none"`` (``f = 1``) or ``"coupled"`` (``f = 1 − i``).
        input_activation, output_activation: tanh on ``g`` / on ``c`` (else linear).

    Returns:
        ``(h_all, h_T, c_T)`` with ``h_all`` of shape ``(time, batch, units)``.

    Example:
        >>> h_all, h, c = lstm_sequence(xp, h0, c0, cell.recurrent_kernel)
    """
    import tensorflow as tf

    ops = library()
    form = {"input_gate": input_gate, "forget_gate": forget_gate, "output_gate": output_gate,
            "input_activation": input_activation, "output_activation": output_activation,
            "peepholes": peephole is not None}
    columns = [gate for gate, present in (("i", input_gate), ("f", forget_gate == "learned"),
                                          ("g", True), ("o", output_gate)) if present]
    kernel = tf.convert_to_tensor(recurrent_kernel)
    if peephole is None:
        peephole = tf.zeros((3, kernel.shape[0]), kernel.dtype)

    @tf.custom_gradient
    def run(xp, h0, c0, kernel, peephole):
        hs, cs, acts = ops.seqkit_lstm_sequence(xp, h0, c0, kernel, peephole, **form)

        def grad(dhs, dh_last, dc_last):
            dhs, dh_last, dc_last = _zeros_for_none((dhs, dh_last, dc_last), (hs, h0, c0))
            dxp, dh0, dc0, dkernel = ops.seqkit_lstm_sequence_grad(
                dhs, dh_last, dc_last, xp, h0, c0, kernel, peephole, hs, cs, acts, **form)
            dpeephole = (_peephole_gradient(dxp, columns, c0, cs, peephole)
                         if form["peepholes"] else tf.zeros_like(peephole))
            return dxp, dh0, dc0, dkernel, dpeephole

        return (hs, hs[-1], cs[-1]), grad

    return run(xp, h0, c0, kernel, tf.convert_to_tensor(peephole))


def fgr_sequence(xp, h0, c0, q0, recurrent_kernel, gate_kernel, peephole):
    """A whole layer of the full-gate-recurrence LSTM (``lstm_fgr``), time-major.

    The peephole LSTM whose gates ``i, f, o`` also read ``q_{t−1} = [i, f, o]_{t−1}``
    through ``gate_kernel`` ``W_g`` (rows: source gate, columns: target gate). One op runs
    every step (``h W_h`` and ``q W_g`` on packed kernels, then the fused gates); its
    gradient runs the steps backwards, carrying ``∂L/∂q`` beside ``∂L/∂h`` and ``∂L/∂c``.

    Args:
        xp: ``x W_x + b``, ``(time, batch, 4 units)`` (i, f, g, o), time ≥ 1.
        h0, c0: ``(batch, units)``.
        q0: ``(batch, 3 units)``: ``i, f, o`` before the first step.
        recurrent_kernel: ``W_h``, ``(units, 4 units)``.
        gate_kernel: ``W_g``, ``(3 units, 3 units)``.
        peephole: ``(3, units)``: ``p_i, p_f, p_o``.

    Returns:
        ``(h_all, h_T, c_T, q_T)``.

    Example:
        >>> h_all, h, c, q = fgr_sequence(xp, h0, c0, q0, cell.recurrent_kernel,
        ...                               cell.gate_kernel, peephole)
    """
    import tensorflow as tf

    ops = library()

    @tf.custom_gradient
    def run(xp, h0, c0, q0, kernel, gate_kernel, peephole):
        hs, cs, acts = ops.seqkit_fgr_sequence(xp, h0, c0, q0, kernel, gate_kernel, peephole)
        units = tf.shape(h0)[-1]
        q_last = tf.concat([acts[-1][:, :2 * units], acts[-1][:, 3 * units:]], axis=-1)

        def grad(dhs, dh_last, dc_last, dq_last):
            dhs, dh_last, dc_last, dq_last = _zeros_for_none(
                (dhs, dh_last, dc_last, dq_last), (hs, h0, c0, q0))
            dxp, dh0, dc0, dq0, dkernel, dgate = ops.seqkit_fgr_sequence_grad(
                dhs, dh_last, dc_last, dq_last, xp, h0, c0, q0, kernel, gate_kernel, peephole,
                hs, cs, acts)
            dpeephole = _peephole_gradient(dxp, "ifgo", c0, cs, peephole)
            return dxp, dh0, dc0, dq0, dkernel, dgate, dpeephole

        return (hs, hs[-1], cs[-1], q_last), grad

    return run(xp, h0, c0, q0, tf.convert_to_tensor(recurrent_kernel),
               tf.convert_to_tensor(gate_kernel), tf.convert_to_tensor(peephole))


def rnn_sequence(xp, h0, recurrent_kernel, activation="tanh"):
    """A whole Elman layer ``h_t = act(xp_t + h_{t−1} W_h)`` over time-major input.

    Args:
        xp: ``x W_x + b``, ``(time, batch, units)``, time ≥ 1.
        h0: ``(batch, units)``.
        recurrent_kernel: ``W_h``, ``(units, units)``.
        activation: ``"tanh"`` or ``"relu"``.

    Returns:
        ``(h_all, h_T)``.

    Example:
        >>> h_all, h = rnn_sequence(xp, h0, cell.recurrent_kernel)
    """
    import tensorflow as tf

    ops = library()

    @tf.custom_gradient
    def run(xp, h0, kernel):
        hs = ops.seqkit_rnn_sequence(xp, h0, kernel, activation=activation)

        def grad(dhs, dh_last):
            dhs, dh_last = _zeros_for_none((dhs, dh_last), (hs, h0))
            return ops.seqkit_rnn_sequence_grad(dhs, dh_last, h0, kernel, hs,
                                                activation=activation)

        return (hs, hs[-1]), grad

    return run(xp, h0, tf.convert_to_tensor(recurrent_kernel))


def gru_sequence(xp, h0, recurrent_kernel, recurrent_bias):
    """A whole GRU layer with the reset gate after the matmul (Keras' default form).

    ``g = h W_h + b_hh``, ``z, r = σ(xp + g)``, ``h̃ = tanh(xp_h + r ⊙ g_h)``,
    ``h' = z ⊙ h + (1 − z) ⊙ h̃``.

    Args:
        xp: ``x W_x + b``, ``(time, batch, 3 units)`` (z, r, h), time ≥ 1.
        h0: ``(batch, units)``.
        recurrent_kernel: ``(units, 3 units)``.
        recurrent_bias: ``(3 units,)``: ``b_hz, b_hr, b_hh``.

    Returns:
        ``(h_all, h_T)``.

    Example:
        >>> h_all, h = gru_sequence(xp, h0, cell.recurrent_kernel, cell.bias[1])
    """
    import tensorflow as tf

    ops = library()

    @tf.custom_gradient
    def run(xp, h0, kernel, bias):
        hs, acts = ops.seqkit_gru_sequence(xp, h0, kernel, bias)

        def grad(dhs, dh_last):
            dhs, dh_last = _zeros_for_none((dhs, dh_last), (hs, h0))
            dxp, dg, dh0, dkernel = ops.seqkit_gru_sequence_grad(dhs, dh_last, h0, kernel, hs,
                                                                 acts)
            return dxp, dh0, dkernel, tf.reduce_sum(dg, axis=(0, 1))

        return (hs, hs[-1]), grad

    return run(xp, h0, tf.convert_to_tensor(recurrent_kernel),
               tf.convert_to_tensor(recurrent_bias))


RESET_CELLS = ("gru_cho", "mut1", "mut2", "mut3")


def reset_sequence(xp, h0, recurrent_kernel, cell):
    """A whole layer of a cell whose candidate reads ``(r ⊙ h) W_hh``.

    ``cell`` is ``gru_cho``, ``mut1``, ``mut2`` or ``mut3`` (equations in their
    modules); ``xp`` holds the columns z, r, h and ``recurrent_kernel`` is the cell's
    own (mut1: ``W_hr, W_hh``; the others ``W_hz, W_hr, W_hh``).

    Returns:
        ``(h_all, h_T)``.

    Example:
        >>> h_all, h = reset_sequence(xp, h0, cell.recurrent_kernel, "mut2")
    """
    import tensorflow as tf

    if cell not in RESET_CELLS:
        raise ValueError(f"reset_sequence has no cell {cell!r}; valid: {list(RESET_CELLS)}.")
    ops = library()

    @tf.custom_gradient
    def run(xp, h0, kernel):
        hs, acts, rhs = ops.seqkit_reset_sequence(xp, h0, kernel, cell=cell)

        def grad(dhs, dh_last):
            dhs, dh_last = _zeros_for_none((dhs, dh_last), (hs, h0))
            return ops.seqkit_reset_sequence_grad(dhs, dh_last, h0, kernel, hs, acts, rhs,
                                                  cell=cell)

        return (hs, hs[-1]), grad

    return run(xp, h0, tf.convert_to_tensor(recurrent_kernel))


def main(argv=None):
    """``python -m seqkit.kernels``: builds the kernels and checks that they load."""
    del argv
    try:
        path = build()
    except RuntimeError as error:
        print(f"seqkit kernels not built: {error}", file=sys.stderr)
        print("seqkit will run its TensorFlow paths (same results, slower).", file=sys.stderr)
        return 0
    import tensorflow as tf

    tf.load_op_library(str(path))
    print(f"built {path}")
    return 0
