"""The vanilla (Elman) RNN cell: ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)``."""

import keras

from seqkit.cells.base import RecurrentCell, register_cell


@register_cell("vanilla")
class VanillaCell(RecurrentCell):
    """Elman RNN cell, ``h_t = f(x_t W_xh + h_{t-1} W_hh + b_h)``.

    Same weights and outputs as ``keras.layers.SimpleRNNCell``. ``f`` is
    ``activation`` (``"tanh"``; ``"relu"`` gives the lecture's ReLU RNN).

    Args:
        units: Width of ``h``.
        **kwargs: See ``RecurrentCell`` (activation, dropout, initializers...).

    Example:
        >>> layer = keras.layers.RNN(VanillaCell(100), return_sequences=True)
    """

    def gates(self, input_dim):
        return ("h",), ("h",), ("h",)

    def recur(self, xp, states, h_rec):
        return [self.activation(xp + self.matmul(h_rec, self.recurrent_kernel))]

    def fused_recurrence(self):
        """All steps in one op (``seqkit.kernels.rnn_sequence``) for tanh or relu."""
        if not self.steps_as(VanillaCell, ("tanh", "relu"), sigmoid_gates=False):
            return None
        from seqkit.kernels import rnn_sequence

        activation = "relu" if self.activation is keras.activations.relu else "tanh"

        def run(xp, states):
            h_all, h = rnn_sequence(xp, states[0], self.recurrent_kernel, activation)
            return h_all, [h]

        return run
