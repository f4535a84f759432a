"""Gated recurrent units: ``gru`` (reset after the matmul) and ``gru_cho``.

Both follow Cho et al. 2014 with Keras' conventions:
``z = σ(x W_xz + h W_hz + b_z)``, ``r = σ(x W_xr + h W_hr + b_r)``,
``h_t = z ⊙ h_{t-1} + (1 − z) ⊙ h̃``. They differ in the candidate:

* ``gru``: ``h̃ = tanh(x W_xh + b_h + r ⊙ (h W_hh + b_hh))`` (``reset_after=True``,
  the cuDNN form and Keras' default; recurrent biases ``b_hz, b_hr, b_hh``);
* ``gru_cho``: ``h̃ = tanh(x W_xh + (r ⊙ h) W_hh + b_h)`` (the paper's form,
  ``keras.layers.GRU(reset_after=False)``).
"""

from keras import ops

from seqkit.cells.base import RecurrentCell, register_cell


@register_cell("gru")
class GRUCell(RecurrentCell):
    """GRU with the reset gate applied after the recurrent matmul.

    Same weights and outputs as ``keras.layers.GRUCell(reset_after=True)``:
    ``bias`` has shape ``(2, 3 * units)``, the input biases ``b_z, b_r, b_h``
    in row 0 and the recurrent biases ``b_hz, b_hr, b_hh`` in row 1.

    Args:
        units: Width of ``h``.
        **kwargs: See ``RecurrentCell``.

    Example:
        >>> layer = keras.layers.RNN(GRUCell(128))
    """

    def gates(self, input_dim):
        return ("z", "r", "h"), ("z", "r", "h"), ()

    def build_extra(self, input_dim):
        self.bias = self.add_named(
            "bias", (2, 3 * self.units), self.bias_initializer,
            {
                name: (row, self._cols(k))
                for row, names in enumerate((("b_z", "b_r", "b_h"), ("b_hz", "b_hr", "b_hh")))
                for k, name in enumerate(names)
            },
        )

    def project(self, inputs):
        return ops.matmul(inputs, self.kernel) + self.bias[0]

    def recur(self, xp, states, h_rec):
        h_tm1 = states[0]
        x_z, x_r, x_h = self.split(xp, 3)
        h_z, h_r, h_h = self.split(self.matmul(h_rec, self.recurrent_kernel) + self.bias[1], 3)
        z = self.recurrent_activation(x_z + h_z)
        r = self.recurrent_activation(x_r + h_r)
        candidate = self.activation(x_h + r * h_h)
        return [z * h_tm1 + (1 - z) * candidate]

    def fused_recurrence(self):
        """All steps in one op (``seqkit.kernels.gru_sequence``)."""
        if not self.steps_as(GRUCell):
            return None
        from seqkit.kernels import gru_sequence

        def run(xp, states):
            h_all, h = gru_sequence(xp, states[0], self.recurrent_kernel, self.bias[1])
            return h_all, [h]

        return run


@register_cell("gru_cho")
class GRUChoCell(RecurrentCell):
    """GRU of Cho et al. 2014: the reset gate scales ``h`` before the matmul.

    Same weights and outputs as ``keras.layers.GRUCell(reset_after=False)``.

    Args:
        units: Width of ``h``.
        **kwargs: See ``RecurrentCell``.

    Example:
        >>> layer = keras.layers.RNN(GRUChoCell(128))
    """

    def gates(self, input_dim):
        return ("z", "r", "h"), ("z", "r", "h"), ("z", "r", "h")

    def recur(self, xp, states, h_rec):
        h_tm1 = states[0]
        units = self.units
        x_z, x_r, x_h = self.split(xp, 3)
        h_z, h_r = self.split(self.matmul(h_rec, self.recurrent_kernel[:, : 2 * units]), 2)
        z = self.recurrent_activation(x_z + h_z)
        r = self.recurrent_activation(x_r + h_r)
        candidate = self.activation(
            x_h + self.matmul(r * h_rec, self.recurrent_kernel[:, 2 * units :])
        )
        return [z * h_tm1 + (1 - z) * candidate]

    def fused_recurrence(self):
        """All steps in one op (``seqkit.kernels.reset_sequence``)."""
        if not self.steps_as(GRUChoCell):
            return None
        from seqkit.kernels import reset_sequence

        def run(xp, states):
            h_all, h = reset_sequence(xp, states[0], self.recurrent_kernel, "gru_cho")
            return h_all, [h]

        return run
