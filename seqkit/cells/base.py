"""Shared machinery for seqkit's hand-written recurrent cells.

A cell does one step, ``keras.layers.RNN`` does the loop (as in Keras' own
``keras/src/layers/rnn``). Every cell splits its step in two:

* ``project(x)``: everything that depends on the input alone (``x @ W_x? + b``),
  so a fast layer can compute it for all time steps in one matmul;
* ``recur(xp, states, h_rec)``: the recurrence proper, given that projection,
  the previous states and ``h_rec`` (the previous ``h`` after recurrent dropout,
  used for matmuls only; the carry always uses the undropped state).

Weights are stored fused (Keras' layout: ``kernel`` ``(in, n*units)``,
``recurrent_kernel`` ``(units, n*units)``, ``bias``) and are also visible under
the equations' own names through ``named_weights()``.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
from keras import ops


def _keras_dropout_mixin():
    """Keras' dropout-mask mixin, which ``keras.layers.RNN`` recognises.

    ``keras.layers.RNN`` creates one dropout mask per sequence, before its loop,
    for cells that derive from Keras' ``DropoutRNNCell`` and resets it after the
    loop. That class is not exported publicly, so it is found through the MRO of
    the public ``keras.layers.LSTMCell`` rather than imported from ``keras.src``.
    """
    for klass in keras.layers.LSTMCell.__mro__:
        if klass.__name__ == "DropoutRNNCell":
            return klass
    raise ImportError(
        "keras.layers.LSTMCell no longer derives from DropoutRNNCell; "
        f"seqkit needs a Keras 3 release that does (found keras {keras.__version__})."
    )


DropoutRNNCell = _keras_dropout_mixin()


def check_units(units):
    """Returns ``units`` as an int, or raises ValueError."""
    if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
        raise ValueError(f"units must be a positive integer, received units={units!r}.")
    return int(units)


def check_rate(name, value):
    if not isinstance(value, numbers.Real) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1), received {name}={value!r}.")
    return float(value)


class RecurrentCell(DropoutRNNCell, keras.layers.Layer):
    """Base class of every seqkit cell.

    Subclasses set ``state_names`` and implement ``gates(input_dim)`` (which
    gate columns the fused kernel, recurrent kernel and bias hold), ``recur``
    and, where the input enters other than through ``x @ kernel + bias``,
    ``project``. Extra weights (peepholes, recurrent biases) are added in
    ``build_extra`` with ``add_named``.

    Args:
        units: Positive int, width of the hidden state.
        activation: Activation of the candidate / output (``tanh`` in the papers).
        recurrent_activation: Activation of the gates (``sigmoid``).
        dropout: Fraction of the inputs dropped, one mask per sequence.
        recurrent_dropout: Fraction of ``h`` dropped before the recurrent
            matmuls, one mask per sequence.
        kernel_initializer: Initializer of the input matrices ``W_x?``.
        recurrent_initializer: Initializer of the recurrent matrices ``W_h?``.
        bias_initializer: Initializer of the biases.
        seed: Seed of the dropout masks.
        **kwargs: Passed to ``keras.layers.Layer`` (``name``, ``dtype``...).
    """

    state_names = ("h",)

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        dropout=0.0,
        recurrent_dropout=0.0,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self._views = {}
        self.input_dim = None

    # Keras RNN cell protocol -------------------------------------------------

    @property
    def state_size(self):
        return [self.units] * len(self.state_names)

    @property
    def output_size(self):
        return self.units

    def get_initial_state(self, batch_size=None):
        return [
            ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in self.state_size
        ]

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"{type(self).__name__} needs a known input width, received input_shape="
                f"{input_shape}."
            )
        self.input_dim = int(input_dim)
        x_gates, h_gates, b_gates = self.gates(self.input_dim)
        units = self.units
        if x_gates:
            self.kernel = self.add_named(
                "kernel", (self.input_dim, len(x_gates) * units), self.kernel_initializer,
                {f"W_x{g}": (slice(None), self._cols(k)) for k, g in enumerate(x_gates)},
            )
        if h_gates:
            self.recurrent_kernel = self.add_named(
                "recurrent_kernel", (units, len(h_gates) * units), self.recurrent_initializer,
                {f"W_h{g}": (slice(None), self._cols(k)) for k, g in enumerate(h_gates)},
            )
        if b_gates:
            self.bias = self.add_named(
                "bias", (len(b_gates) * units,), self.bias_initializer_for(b_gates),
                {f"b_{g}": (self._cols(k),) for k, g in enumerate(b_gates)},
            )
        self.build_extra(self.input_dim)
        self.built = True

    def call(self, inputs, states, training=False):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        h_rec = states[0]
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout > 0:
            h_rec = h_rec * self.get_recurrent_dropout_mask(h_rec)
        new_states = list(self.recur(self.project(inputs), states, h_rec))
        return new_states[0], new_states

    # To be provided by subclasses ---------------------------------------------

    def gates(self, input_dim):
        """Returns (x_gates, h_gates, bias_gates): the gate names of the fused weights."""
        raise NotImplementedError

    def build_extra(self, input_dim):
        """Adds weights beyond the fused kernel, recurrent kernel and bias."""

    def project(self, inputs):
        """The part of the step that depends on the input alone."""
        return ops.matmul(inputs, self.kernel) + self.bias

    def recur(self, xp, states, h_rec):
        """Returns the new states (the first is the output) from the projection."""
        raise NotImplementedError

    def fused_recurrence(self):
        """This cell's whole-sequence form on seqkit's fused kernels, or ``None``.

        Returns ``run(xp, states) -> (h_all, new_states)``, where ``xp`` is ``project(x)``
        for every step, time-major ``(time, batch, ·)``, and ``h_all`` is time-major too.
        Cells with a whole-sequence kernel override this; ``None`` (the default, or a
        cell the kernel does not compute) makes ``seqkit.layers.RNN`` run its step loop.
        """
        return None

    def steps_as(self, owner, activations=("tanh",), sigmoid_gates=True):
        """Whether this cell computes ``owner``'s own step (``project`` and ``recur`` not
        overridden) with σ gates and one of ``activations``: what a fused kernel computes."""
        return (type(self).recur is owner.recur and type(self).project is owner.project
                and (not sigmoid_gates
                     or self.recurrent_activation is keras.activations.sigmoid)
                and any(self.activation is getattr(keras.activations, name)
                        for name in activations))

    @staticmethod
    def matmul(a, b):
        """The recurrent matmul of ``recur``: ``ops.matmul``, or seqkit's OpenBLAS
        kernel inside ``seqkit.layers.RNN``'s training loop (``kernels.gemm_scope``)."""
        from seqkit import kernels

        return kernels.matmul(a, b)

    # Weights under their equation names -------------------------------------

    def bias_initializer_for(self, b_gates):
        return self.bias_initializer

    def _cols(self, k):
        return slice(k * self.units, (k + 1) * self.units)

    def add_named(self, name, shape, initializer, views=None):
        """Adds a weight and records the named views (index tuples) into it."""
        weight = self.add_weight(name=name, shape=shape, initializer=initializer)
        for view_name, index in (views or {name: ()}).items():
            self._views[view_name] = (weight, index)
        return weight

    def split(self, tensor, count):
        """Splits the last axis into ``count`` blocks of ``units``."""
        return ops.split(tensor, count, axis=-1)

    def _require_built(self):
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} has no weights yet: call it on an input or call "
                "cell.build((None, input_dim)) first."
            )

    def named_weights(self):
        """Returns ``{name: ndarray}`` in the equations' notation (``W_xh``, ``b_h``...).

        ``W_x?`` has shape ``(input_dim, units)`` and acts as ``x @ W_x?``; ``W_h?``
        has shape ``(units, units)`` and acts as ``h @ W_h?``; biases ``(units,)``.
        """
        self._require_built()
        values = {}
        for name, (weight, index) in self._views.items():
            values[name] = np.array(keras.ops.convert_to_numpy(weight.value)[index])
        return values

    def assign_named_weights(self, weights):
        """Sets weights from ``{name: array}`` (any subset of ``named_weights()``).

        An unbuilt cell is built from the width of a ``W_x?`` matrix in ``weights``.
        Raises ValueError on unknown names or mismatched shapes.
        """
        if not self.built:
            widths = {np.shape(v)[0] for k, v in weights.items() if k.startswith("W_x")}
            if len(widths) != 1:
                self._require_built()
            self.build((None, widths.pop()))
        unknown = sorted(set(weights) - set(self._views))
        if unknown:
            raise ValueError(
                f"Unknown weight name(s) {unknown} for {type(self).__name__}; "
                f"valid names: {sorted(self._views)}."
            )
        updated = {}
        for name, value in weights.items():
            weight, index = self._views[name]
            key = id(weight)
            if key not in updated:
                updated[key] = (weight, np.array(keras.ops.convert_to_numpy(weight.value)))
            full = updated[key][1]
            value = np.asarray(value)
            expected = full[index].shape
            if value.shape != expected:
                raise ValueError(
                    f"Weight {name!r} of {type(self).__name__} must have shape {expected}, "
                    f"received shape {value.shape}."
                )
            full[index] = value
        for weight, full in updated.values():
            weight.assign(full)

    # Serialisation -------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(
                    self.recurrent_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "seed": self.seed,
            }
        )
        return config


CELLS = {}


def register_cell(name):
    """Class decorator: registers a cell under ``name`` and as Keras-serialisable.

    Example:
        >>> @register_cell("my_cell")
        ... class MyCell(RecurrentCell): ...
    """

    def decorator(cls):
        if name in CELLS:
            raise ValueError(f"A cell named {name!r} is already registered ({CELLS[name]}).")
        cls = keras.saving.register_keras_serializable(package="seqkit")(cls)
        cls.cell_name = name
        CELLS[name] = cls
        return cls

    return decorator


def get_cell(name, /, units, **kwargs):
    """Builds the registered cell ``name`` with ``units`` hidden units.

    Example:
        >>> cell = get_cell("mut1", units=128)
        >>> layer = keras.layers.RNN(cell, return_sequences=True)
    """
    if name not in CELLS:
        raise ValueError(f"Unknown cell name {name!r}; valid names: {sorted(CELLS)}.")
    return CELLS[name](units, **kwargs)
