"""The vanilla (Elman) RNN cell: ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)``."""


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
