"""Multi-layer recurrent stacks built from any registered cell.

Layer ``l`` reads the outputs of layer ``l − 1``:
``h_t^l = f(h_t^{l−1}, h_{t−1}^l)``. Between layers of equal width an optional
skip connection: residual ``y = H(x) + x`` or highway ``y = g ⊙ H(x) + (1 − g) ⊙ x``
with ``g = σ(x W_T + b_T)`` (Srivastava et al. 2015).
"""

from __future__ import annotations

import keras
from keras import ops

from seqkit import kernels
from seqkit.cells import CELLS, get_cell
from seqkit.cells.base import RecurrentCell, check_units

CONNECTIONS = (None, "residual", "highway")


@keras.saving.register_keras_serializable(package="seqkit")
class Highway(keras.layers.Layer):
    """Highway connection ``y = g ⊙ H(x) + (1 − g) ⊙ x``, ``g = σ(x W_T + b_T)``.

    Args:
        transform_bias: Initial ``b_T``; negative values start close to the
            identity (carry), as Srivastava et al. recommend.

    Example:
        >>> y = Highway()([x, rnn(x)])
    """

    def __init__(self, transform_bias=-1.0, **kwargs):
        super().__init__(**kwargs)
        self.transform_bias = float(transform_bias)
        self.supports_masking = True

    def build(self, input_shape):
        width = input_shape[0][-1]
        self.W_T = self.add_weight(name="W_T", shape=(width, width),
                                   initializer="glorot_uniform")
        self.b_T = self.add_weight(
            name="b_T", shape=(width,),
            initializer=keras.initializers.Constant(self.transform_bias))

    def call(self, inputs):
        x, transformed = inputs
        gate = ops.sigmoid(ops.matmul(x, self.W_T) + self.b_T)
        return gate * transformed + (1 - gate) * x

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "transform_bias": self.transform_bias}


class _ProjectedStep:
    """The recurrence of a seqkit cell on inputs already projected by ``cell.project``.

    Not a layer: it owns no weights (they stay the cell's), so it can be built per call.
    """

    def __init__(self, cell, recurrent_mask=None):
        self.cell, self.recurrent_mask = cell, recurrent_mask
        self.state_size, self.output_size = cell.state_size, cell.output_size

    def call(self, projected, states):
        states = list(states)
        h_rec = states[0] if self.recurrent_mask is None else states[0] * self.recurrent_mask
        new_states = list(self.cell.recur(projected, states, h_rec))
        return new_states[0], new_states

    __call__ = call


@keras.saving.register_keras_serializable(package="seqkit")
class RNN(keras.layers.RNN):
    """``keras.layers.RNN`` with the input projection hoisted out of the loop.

    Named ``RNN`` like Keras' layer so that models saved before this layer existed
    (weights stored under ``.../rnn/...``) and after load alike.

    For a seqkit cell, ``x @ W_x + b`` (``cell.project``) is computed for every
    time step in one matmul before the loop; the loop runs only ``cell.recur``.
    Same weights, outputs, gradients, masking, dropout masks and statefulness as
    ``keras.layers.RNN(cell)``; other cells run as in ``keras.layers.RNN``.

    Example:
        >>> layer = RNN(get_cell("lstm", 128), return_sequences=True)
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if not isinstance(cell, RecurrentCell):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if training and cell.dropout > 0:
            sequences = sequences * ops.expand_dims(cell.get_dropout_mask(sequences[:, 0]), 1)
        recurrent_mask = None
        fast = kernels.usable(cell.compute_dtype, training)
        if training and cell.recurrent_dropout > 0:
            recurrent_mask = cell.get_recurrent_dropout_mask(initial_state[0])
        elif mask is None and not self.unroll and fast:
            recurrence = cell.fused_recurrence()
            if recurrence is not None:
                return self.fused_loop(recurrence, cell, sequences, initial_state)
        loop = keras.layers.RNN(
            _ProjectedStep(cell, recurrent_mask), return_sequences=self.return_sequences,
            go_backwards=self.go_backwards, unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask)
        with kernels.gemm_scope(fast):
            return loop.inner_loop(cell.project(sequences), initial_state, mask,
                                   training=training)

    def fused_loop(self, recurrence, cell, sequences, initial_state):
        """All steps with ``recurrence = cell.fused_recurrence()`` (seqkit's fused kernels).

        Returns what ``inner_loop`` returns: ``(last_output, outputs, states)``.
        """
        xp = cell.project(ops.transpose(sequences, (1, 0, 2)))
        if self.go_backwards:
            xp = ops.flip(xp, axis=0)
        h_all, states = recurrence(xp, list(initial_state))
        return states[0], ops.transpose(h_all, (1, 0, 2)), states


@keras.saving.register_keras_serializable(package="seqkit")
class Recurrent(keras.layers.Layer):
    """A stack of ``depth`` recurrent layers of one cell type.

    Args:
        cell: Registered cell name (see ``seqkit.cells.CELLS``).
        units: Width of every layer.
        depth: Number of stacked layers.
        connection: ``None``, ``"residual"`` or ``"highway"``: the skip
            connection around each layer whose input is ``units`` wide.
        return_sequences: Return every step of the top layer (else the last).
        return_state: Also return the final states of every layer, flattened
            in order (layer 0's states first).
        stateful: Carry states between batches (truncated BPTT).
        unroll: Unroll the time loop (short, fixed-length sequences only).
        cell_kwargs: Extra arguments of the cell (``dropout``, ``activation``...).

    Example:
        >>> stack = Recurrent("lstm", 128, depth=2, connection="residual")
        >>> outputs = stack(keras.random.normal((4, 10, 128)))
    """

    def __init__(self, cell, units, depth=1, connection=None, return_sequences=True,
                 return_state=False, stateful=False, unroll=False, cell_kwargs=None,
                 **kwargs):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"Unknown cell name {cell!r}; valid names: {sorted(CELLS)}.")
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, received depth={depth!r}.")
        if connection not in CONNECTIONS:
            raise ValueError(
                f"Unknown connection {connection!r}; valid choices: {list(CONNECTIONS)}.")
        self.cell = cell
        self.units = check_units(units)
        self.depth = depth
        self.connection = connection
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.stateful = stateful
        self.unroll = bool(unroll)
        self.cell_kwargs = {
            key: keras.initializers.serialize(keras.initializers.get(value))
            if key.endswith("_initializer") else value
            for key, value in (cell_kwargs or {}).items()
        }
        self.supports_masking = True
        self.rnns = [self._layer(cell, units, layer) for layer in range(depth)]
        self.highways = (
            [Highway(name=f"highway_{layer}") for layer in range(depth)]
            if connection == "highway" else []
        )

    def _layer(self, cell, units, layer):
        """One recurrent layer: a parallel scan for cells that have one (``mingru``,
        ``minlstm``), except when stateful; else ``RNN`` (the hoisted loop) over the step."""
        cell = get_cell(cell, units, **self.cell_kwargs, name=f"{cell}_cell_{layer}")
        if callable(getattr(cell, "scan", None)) and not self.stateful:
            from seqkit.cells.minimal import ParallelRNN

            return ParallelRNN(cell, return_sequences=True, return_state=True,
                               name=f"{self.cell}_{layer}")
        return RNN(cell, return_sequences=True, return_state=True,
                          stateful=self.stateful, unroll=self.unroll, name=f"{self.cell}_{layer}")

    @property
    def states_per_layer(self):
        return len(self.rnns[0].cell.state_size)

    def build(self, input_shape):
        width = input_shape[-1]
        for layer, rnn in enumerate(self.rnns):
            shape = (*input_shape[:-1], width)
            rnn.build(shape)
            if self.highways and width == self.units:
                self.highways[layer].build([shape, shape])
            width = self.units

    def call(self, inputs, initial_state=None, mask=None, training=None):
        per_layer = self.states_per_layer
        x, final_states = inputs, []
        for layer, rnn in enumerate(self.rnns):
            states = None
            if initial_state is not None:
                states = list(initial_state[layer * per_layer:(layer + 1) * per_layer])
            out, *layer_states = rnn(x, initial_state=states, mask=mask, training=training)
            final_states += layer_states
            x = self.connect(layer, x, out)
        if self.return_sequences:
            output = x
        else:
            output = x[:, -1] if mask is None else self._last_valid(x, mask)
        return (output, *final_states) if self.return_state else output

    def connect(self, layer, x, out):
        """Applies the skip connection around layer ``layer`` (input x, output out)."""
        if not self.connection or x.shape[-1] != self.units:
            return out
        return out + x if self.connection == "residual" else self.highways[layer]([x, out])

    def initial_state(self, batch_size):
        """Zero states for every layer, flattened as ``call`` and ``step`` take them."""
        return [state for rnn in self.rnns for state in rnn.cell.get_initial_state(batch_size)]

    def step(self, x, states):
        """One time step through every layer: ``(x_t, states) -> (y_t, new_states)``.

        Used for generation and streaming; gives the same result as ``call`` on a
        sequence, one step at a time (no dropout).
        """
        per_layer, new_states = self.states_per_layer, []
        for layer, rnn in enumerate(self.rnns):
            layer_states = list(states[layer * per_layer:(layer + 1) * per_layer])
            out, layer_states = rnn.cell(x, layer_states, training=False)
            new_states += list(layer_states)
            x = self.connect(layer, x, out)
        return x, new_states

    @staticmethod
    def _last_valid(sequences, mask):
        """The output at each sequence's last unmasked step."""
        last = ops.sum(ops.cast(mask, "int32"), axis=1) - 1
        last = ops.maximum(last, 0)
        return ops.take_along_axis(sequences, last[:, None, None], axis=1)[:, 0]

    def compute_mask(self, inputs, mask=None):
        if not self.return_sequences:
            return None
        return [mask] + [None] * (self.depth * self.states_per_layer) if self.return_state \
            else mask

    def compute_output_shape(self, input_shape):
        out = (*input_shape[:-1], self.units) if self.return_sequences \
            else (input_shape[0], self.units)
        if not self.return_state:
            return out
        return (out, *[(input_shape[0], size) for _ in self.rnns
                       for size in self.rnns[0].cell.state_size])

    def reset_state(self):
        for rnn in self.rnns:
            rnn.reset_state()

    def get_config(self):
        return {
            **super().get_config(), "cell": self.cell, "units": self.units,
            "depth": self.depth, "connection": self.connection,
            "return_sequences": self.return_sequences, "return_state": self.return_state,
            "stateful": self.stateful, "unroll": self.unroll, "cell_kwargs": self.cell_kwargs,
        }


def recurrent(cell, units, depth=1, connection=None, return_sequences=True,
              return_state=False, stateful=False, unroll=False, name=None, **cell_kwargs):
    """Builds a ``Recurrent`` stack; extra keyword arguments go to every cell.

    Example:
        >>> outputs = recurrent("gru", 64, depth=3, connection="highway", dropout=0.1)(x)
    """
    return Recurrent(cell, units, depth=depth, connection=connection,
                     return_sequences=return_sequences, return_state=return_state,
                     stateful=stateful, unroll=unroll, cell_kwargs=cell_kwargs, name=name)


@keras.saving.register_keras_serializable(package="seqkit")
class OneHot(keras.layers.Layer):
    """Integer ids to one-hot float vectors (min-char-rnn's input encoding).

    Args:
        depth: Vocabulary size.

    Example:
        >>> OneHot(65)(keras.ops.array([[1, 2]]))  # shape (1, 2, 65)
    """

    def __init__(self, depth, **kwargs):
        super().__init__(**kwargs)
        self.depth = check_units(depth)

    def call(self, ids):
        return ops.one_hot(ops.cast(ids, "int32"), self.depth, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth}
