"""Fused CPU kernels: seqkit's fast path for training the LSTM and the linear scans.

``fused.cc`` holds four TensorFlow ops, each one pass over memory on the op's
intra-op threads:

* ``SeqkitLstmSequence`` / ``SeqkitLstmSequenceGrad``: a whole LSTM layer, forward
  and backward, with OpenBLAS (``scipy-openblas32``) for the GEMMs and the
  element-wise work of each step fused into one pass;
* ``SeqkitLinearScan`` / ``SeqkitLinearScanGrad``: ``h_t = a_t ⊙ h_{t−1} + b_t``
  along the time axis and its reverse-scan gradient.

* ``SeqkitMatMul``: ``op(a) op(b)`` on OpenBLAS, the recurrent matmul of every other
  cell inside ``seqkit.layers.RNN``'s training loop (``gemm_scope``).

``lstm_sequence`` wraps the LSTM pair, ``linear_scan`` replaces the TensorFlow scan
of ``mingru``/``minlstm``. All give the same values and gradients as the
TensorFlow paths (``tests/test_kernels.py``).

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
    return [*compiler, "-shared", "-fPIC", "-O3", "-march=native", "-w", str(SOURCE),
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


def lstm_sequence(xp, h0, c0, recurrent_kernel):
    """A whole LSTM layer (Keras' gate order i, f, g, o; σ gates, tanh) over time-major input.

    One op runs every step (OpenBLAS GEMM ``h W_h``, then the fused gates); its
    gradient runs the steps backwards and forms ``∂L/∂W_h`` as one product
    ``[h_{−1} … h_{T−2}]ᵀ [δz_0 … δz_{T−1}]``.

    Args:
        xp: Input projections ``x W_x + b``, ``(time, batch, 4 units)``, time ≥ 1.
        h0, c0: Initial states, ``(batch, units)``.
        recurrent_kernel: ``W_h``, ``(units, 4 units)``.

    Returns:
        ``(h_all, h_T, c_T)`` with ``h_all`` of shape ``(time, batch, units)``.

    Example:
        >>> h_all, h, c = lstm_sequence(xp, h0, c0, cell.recurrent_kernel)
    """
    import tensorflow as tf

    ops = library()

    @tf.custom_gradient
    def run(xp, h0, c0, kernel):
        hs, cs, acts = ops.seqkit_lstm_sequence(xp, h0, c0, kernel)

        def grad(dhs, dh_last, dc_last):
            dhs = tf.zeros_like(hs) if dhs is None else dhs
            dh_last = tf.zeros_like(h0) if dh_last is None else dh_last
            dc_last = tf.zeros_like(c0) if dc_last is None else dc_last
            return ops.seqkit_lstm_sequence_grad(
                dhs, dh_last, dc_last, xp, h0, c0, kernel, hs, cs, acts)

        return (hs, hs[-1], cs[-1]), grad

    return run(xp, h0, c0, tf.convert_to_tensor(recurrent_kernel))


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
