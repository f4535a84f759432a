"""Minimal recurrent cells that train with a parallel scan: ``mingru``, ``minlstm``.

Feng et al. 2024, "Were RNNs All We Needed?" (log-space version, appendix).
The gates read ``x_t`` only, so every step is linear in ``h``:
``h_t = a_t ⊙ h_{t−1} + b_t`` with ``a_t, b_t`` functions of ``x_t``, and the
candidate ``h̃ = g(x W_xh + b_h)`` with ``g(a) = a + 0.5 if a ≥ 0 else σ(a)``
(positive, so the paper's log-space form applies).

* ``mingru``: ``z = σ(x W_xz + b_z)``, ``h_t = (1 − z) ⊙ h_{t−1} + z ⊙ h̃``.
* ``minlstm``: ``f = σ(x W_xf + b_f)``, ``i = σ(x W_xi + b_i)``,
  ``f' = f / (f + i)``, ``i' = i / (f + i)``, ``h_t = f' ⊙ h_{t−1} + i' ⊙ h̃``.

A cell runs step by step in ``keras.layers.RNN`` (generation, streaming) and
all steps at once through ``cell.scan`` / ``ParallelRNN`` (training). Training steps on
CPU run the gates and the scan as one op, ``seqkit.kernels.minimal_scan`` (a sequential
pass over time, parallel over batch × units: on a CPU that is the whole parallelism
there is), or ``SeqkitLinearScan`` after the coefficients when there is a mask; the
scan below is the path everywhere else (GPU, XLA, inference, export). All give the same
values and gradients (``tests/test_kernels.py``).

The scan is exact: a prefix scan of the pairs ``(a_t, b_t)`` under
``(a, b) ∘ (a', b') = (a a', a' b + b')`` in groups of 16 steps (O(T) work,
``log_16 T`` levels), with a hand-written backward pass, the reverse scan
``δ_t = ∂L/∂h_t + a_{t+1} δ_{t+1}``, ``∂L/∂b_t = δ_t``, ``∂L/∂a_t = δ_t h_{t−1}``.
It runs in linear space: with ``a ∈ [0, 1]`` no product can overflow, and
rounding grows like ``log T``, not with ``T``. The coefficients come
from the paper's stable log-space expressions (``1 − z = σ(−k_z)``,
``f' = σ(softplus(−k_i) − softplus(−k_f))``). The paper's
``h = exp(a* + logcumsumexp(log b − a*))``, ``a* = cumsum(log a)``, loses
``|a*|·ε`` of relative precision as ``|a*|`` grows with ``t``. Forward pass at
batch 16, T = 1024, 256 units, float32, 2 CPU cores (same run):

=========================================  ========  ==================
scan                                       time      max relative error
=========================================  ========  ==================
cumsum + ``tf.math.cumulative_logsumexp``  267 ms    3.5e-4
odd-even, log-space combine (logaddexp)    90 ms     4.5e-7
odd-even, linear combine                   40 ms     3.8e-7
groups of 16, linear combine (this one)    30 ms     4.0e-7
=========================================  ========  ==================
"""

from __future__ import annotations

import functools

import keras
from keras import ops

from seqkit import kernels
from seqkit.cells.base import CELLS, RecurrentCell, register_cell

#: Steps per group at each level of the scan.
RADIX = 16
#: Levels of the scan when the length is only known at run time (up to ``RADIX**6`` steps).
DYNAMIC_LEVELS = 6


def g(x):
    """The paper's positive candidate activation: ``x + 0.5`` for ``x ≥ 0``, else ``σ(x)``."""
    return ops.where(x >= 0, x + 0.5, ops.sigmoid(x))


def _shift(x, reverse=False):
    """``x`` one step later along axis 1 (``y_t = x_{t−1}``, ``y_0 = 0``); earlier if reverse."""
    if reverse:
        return ops.pad(x[:, 1:], [(0, 0), (0, 1), (0, 0)])
    return ops.pad(x[:, :-1], [(0, 0), (1, 0), (0, 0)])


def _scan(a, b, reverse=False, levels=DYNAMIC_LEVELS):
    """``h_t = a_t h_{t−1} + b_t`` from ``h = 0`` along axis 1 (``h_{t+1}`` if reverse).

    Cuts the sequence into groups of ``k`` steps. A sweep through each group gives
    its combined step (``A = Π a``, ``H`` = its last ``h`` from a zero start); the
    recurrence between groups is solved the same way, one level up; a second
    sweep from each group's incoming ``h`` fills in its steps. O(T) work,
    ``log_k T`` levels, each a few whole-tensor operations.
    """
    length = a.shape[1]
    if length == 1 or (length is None and levels == 0):
        return b
    k = RADIX if length is None else min(RADIX, length)
    true_length = ops.shape(a)[1]
    pad = (-true_length) % k
    if length is None or pad:  # identity steps (a = 1, b = 0) at the end
        a = ops.pad(a, [(0, 0), (0, pad), (0, 0)], constant_values=1.0)
        b = ops.pad(b, [(0, 0), (0, pad), (0, 0)])
    shape = (ops.shape(a)[0], -1, k, a.shape[2])
    a_steps = ops.unstack(ops.reshape(a, shape), k, axis=2)
    b_steps = ops.unstack(ops.reshape(b, shape), k, axis=2)
    order = range(k - 1, -1, -1) if reverse else range(k)
    a_group, h = a_steps[order[0]], b_steps[order[0]]
    for j in order[1:]:
        a_group, h = a_group * a_steps[j], a_steps[j] * h + b_steps[j]
    h_groups = _scan(a_group, h, reverse, levels - 1)
    h, out = _shift(h_groups, reverse), [h_groups] * k
    for j in order[:-1]:
        h = out[j] = a_steps[j] * h + b_steps[j]
    h = ops.reshape(ops.stack(out, axis=2), (shape[0], -1, shape[3]))
    return h[:, :true_length] if length is None or pad else h


@ops.custom_gradient
def linear_scan(a, b):
    """All ``h_t = a_t ⊙ h_{t−1} + b_t`` (``h_0 = 0``) at once along axis 1.

    Args:
        a: Coefficients, shape ``(batch, time, units)``.
        b: Values, same shape and dtype.

    Returns:
        ``h``, shape ``(batch, time, units)``. Its gradient is the reverse scan
        ``δ_t = ∂L/∂h_t + a_{t+1} δ_{t+1}``: ``∂L/∂b_t = δ_t``, ``∂L/∂a_t = δ_t h_{t−1}``.

    Example:
        >>> h = linear_scan(ops.full((2, 5, 3), 0.5), ops.ones((2, 5, 3)))
    """
    h = _scan(a, b)

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        delta = _scan(_shift(a, reverse=True), upstream, reverse=True)
        return delta * _shift(h), delta

    return h, grad


class MinimalCell(RecurrentCell):
    """Shared base of ``mingru`` and ``minlstm``: a step ``h_t = a ⊙ h_{t−1} + b``.

    Subclasses give ``coefficients(xp) -> (a, b)`` from the input projection.
    The activations are the paper's (``σ`` gates, ``g`` candidate) and cannot
    be changed; ``recurrent_dropout`` is accepted and has no effect (there is no
    recurrent matmul).
    """

    def __init__(self, units, **kwargs):
        for key in ("activation", "recurrent_activation"):
            value = kwargs.pop(key, None)
            if value is not None:
                raise ValueError(
                    f"{type(self).__name__} has fixed activations (sigmoid gates, g candidate) "
                    f"so that its parallel scan applies; received {key}={value!r}, "
                    "valid choices: [None]."
                )
        super().__init__(units, **kwargs)

    def coefficients(self, xp):
        raise NotImplementedError

    def fused_scan(self):
        """``run(x W_x, b, h0) -> h`` on ``kernels.minimal_scan`` when this cell computes its
        registered equations (``coefficients`` and ``project`` not overridden), else None."""
        for name in kernels.MINIMAL_CELLS:
            owner = CELLS[name]
            if (isinstance(self, owner) and type(self).coefficients is owner.coefficients
                    and type(self).project is owner.project):
                return functools.partial(kernels.minimal_scan, cell=name)
        return None

    def recur(self, xp, states, h_rec):
        a, b = self.coefficients(xp)
        return [a * states[0] + b]

    def scan(self, inputs, initial_state=None, mask=None, training=False):
        """Every step at once: the same result as ``keras.layers.RNN(cell)``.

        Args:
            inputs: ``(batch, time, input_dim)``.
            initial_state: ``h_0`` (a tensor or a one-element list), any sign;
                zeros when ``None``.
            mask: Boolean ``(batch, time)``; masked steps keep ``h`` unchanged and,
                as in ``keras.layers.RNN``, output the previous output.
            training: Applies input dropout (one mask per sequence).

        Returns:
            ``(outputs, [h_T])``: outputs ``(batch, time, units)`` and the final state.

        Example:
            >>> outputs, (h,) = MinGRUCell(32).scan(keras.random.normal((4, 100, 8)))
        """
        inputs = ops.convert_to_tensor(inputs)
        if not self.built:
            self.build(inputs.shape)
        if training and self.dropout > 0:
            ones = ops.ones_like(inputs[:, :1])
            inputs = inputs * keras.random.dropout(ones, self.dropout, seed=self.seed_generator)
        dtype = "float64" if self.compute_dtype == "float64" else "float32"
        fused = self.fused_scan() if mask is None and kernels.usable(dtype, training) else None
        if fused is not None:  # the bias, the gates and the scan in one op, same values
            if isinstance(initial_state, (list, tuple)):
                (initial_state,) = initial_state
            h0 = (ops.zeros((ops.shape(inputs)[0], self.units), dtype) if initial_state is None
                  else ops.cast(initial_state, dtype))
            h = fused(ops.cast(ops.matmul(inputs, self.kernel), dtype),
                      ops.cast(self.bias, dtype), h0)
            return ops.cast(h, self.compute_dtype), [ops.cast(h[:, -1], self.compute_dtype)]
        a, b = self.coefficients(ops.cast(self.project(inputs), dtype))
        if mask is not None:
            mask = ops.cast(mask, "bool")[:, :, None]
            a, b = ops.where(mask, a, 1.0), ops.where(mask, b, 0.0)
        if initial_state is not None:
            if isinstance(initial_state, (list, tuple)):
                (initial_state,) = initial_state
            h0 = ops.cast(initial_state, dtype)[:, None]
            b = ops.concatenate([b[:, :1] + a[:, :1] * h0, b[:, 1:]], axis=1)
        if kernels.usable(dtype, training):
            h = kernels.linear_scan(a, b)  # one pass over memory, same values
        else:
            h = linear_scan(a, b)
        final = h[:, -1]
        if mask is not None and initial_state is not None:
            # keras.layers.RNN outputs zeros before a sequence's first unmasked step.
            started = ops.cumsum(ops.cast(mask, "int32"), axis=1) > 0
            h = ops.where(started, h, 0.0)
        return ops.cast(h, self.compute_dtype), [ops.cast(final, self.compute_dtype)]

    def get_config(self):
        config = super().get_config()
        del config["activation"], config["recurrent_activation"]
        return config


@register_cell("mingru")
class MinGRUCell(MinimalCell):
    """minGRU: a GRU whose gate and candidate read the input only.

    ``z = σ(x W_xz + b_z)``, ``h̃ = g(x W_xh + b_h)``,
    ``h_t = (1 − z) ⊙ h_{t−1} + z ⊙ h̃``, with ``g(a) = a + 0.5`` for ``a ≥ 0``
    and ``σ(a)`` otherwise. Named weights ``W_xz, W_xh`` ``(input_dim, units)``,
    ``b_z, b_h`` ``(units,)``.

    Args:
        units: Width of ``h``.
        **kwargs: See ``RecurrentCell`` (no ``activation`` choices).

    Example:
        >>> layer = ParallelRNN(MinGRUCell(128))            # training, all steps at once
        >>> layer = keras.layers.RNN(MinGRUCell(128))      # step by step
    """

    def gates(self, input_dim):
        return ("z", "h"), (), ("z", "h")

    def coefficients(self, xp):
        k_z, k_h = self.split(xp, 2)
        return ops.sigmoid(-k_z), ops.sigmoid(k_z) * g(k_h)


@register_cell("minlstm")
class MinLSTMCell(MinimalCell):
    """minLSTM: an LSTM without output gate or cell state, gates from the input only.

    ``f = σ(x W_xf + b_f)``, ``i = σ(x W_xi + b_i)``, ``h̃ = g(x W_xh + b_h)``,
    ``f' = f / (f + i)``, ``i' = i / (f + i)``, ``h_t = f' ⊙ h_{t−1} + i' ⊙ h̃``.
    Computed as ``f' = σ(d)``, ``i' = σ(−d)`` with
    ``d = softplus(−k_i) − softplus(−k_f) = log f − log i`` (no ``0 / 0`` when
    both gates saturate). Named weights ``W_xf, W_xi, W_xh``, ``b_f, b_i, b_h``.

    Args:
        units: Width of ``h``.
        **kwargs: See ``RecurrentCell`` (no ``activation`` choices).

    Example:
        >>> layer = ParallelRNN(MinLSTMCell(128))
    """

    def gates(self, input_dim):
        return ("f", "i", "h"), (), ("f", "i", "h")

    def coefficients(self, xp):
        k_f, k_i, k_h = self.split(xp, 3)
        d = ops.softplus(-k_i) - ops.softplus(-k_f)
        return ops.sigmoid(d), ops.sigmoid(-d) * g(k_h)


@keras.saving.register_keras_serializable(package="seqkit")
class ParallelRNN(keras.layers.Layer):
    """Runs a cell that has ``scan`` over whole sequences at once.

    Same inputs, outputs, masking and weights as ``keras.layers.RNN(cell)``.

    Args:
        cell: A cell with a ``scan`` method (``mingru``, ``minlstm``).
        return_sequences: Return every step (else the last output).
        return_state: Also return the final state ``h_T``.

    Example:
        >>> layer = ParallelRNN(get_cell("minlstm", 64), return_state=True)
        >>> outputs, h = layer(keras.random.normal((4, 100, 8)))
    """

    def __init__(self, cell, return_sequences=True, return_state=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not callable(getattr(cell, "scan", None)):
            valid = sorted(name for name, cls in CELLS.items() if hasattr(cls, "scan"))
            raise TypeError(
                f"ParallelRNN needs a cell with a scan method, received cell={cell!r}; "
                f"valid cells: {valid}."
            )
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.supports_masking = True

    def build(self, input_shape):
        if not self.cell.built:
            self.cell.build((None, input_shape[-1]))

    def call(self, inputs, initial_state=None, mask=None, training=False):
        outputs, states = self.cell.scan(
            inputs, initial_state=initial_state, mask=mask, training=training
        )
        if not self.return_sequences:
            outputs = outputs[:, -1]
        return (outputs, *states) if self.return_state else outputs

    def compute_output_shape(self, input_shape):
        units = self.cell.units
        out = (*input_shape[:2], units) if self.return_sequences else (input_shape[0], units)
        return (out, (input_shape[0], units)) if self.return_state else out

    def compute_mask(self, inputs, mask=None):
        mask = mask if self.return_sequences else None
        return [mask, None] if self.return_state else mask

    def get_config(self):
        return {
            **super().get_config(),
            "cell": keras.saving.serialize_keras_object(self.cell),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
        }
