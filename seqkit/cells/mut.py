"""The mutated cells MUT1, MUT2 and MUT3 of Jozefowicz, Zaremba & Sutskever (ICML 2015).

In the paper's notation, where ``z`` multiplies the candidate::

    MUT1: z = σ(x W_xz + b_z)
          r = σ(x W_xr + h W_hr + b_r)
          h' = tanh((r ⊙ h) W_hh + tanh(x) + b_h) ⊙ z + h ⊙ (1 − z)
    MUT2: z = σ(x W_xz + h W_hz + b_z)
          r = σ(x + h W_hr + b_r)
          h' = tanh((r ⊙ h) W_hh + x W_xh + b_h) ⊙ z + h ⊙ (1 − z)
    MUT3: z = σ(x W_xz + tanh(h) W_hz + b_z)
          r = σ(x W_xr + h W_hr + b_r)
          h' = tanh((r ⊙ h) W_hh + x W_xh + b_h) ⊙ z + h ⊙ (1 − z)

The bare ``x`` terms (MUT1's ``tanh(x)``, MUT2's ``x`` in ``r``) only make sense
when the input width equals ``units``; then the equations are followed exactly.
When the widths differ, ``x`` there is replaced by a learned projection
``x W_xh`` (MUT1) or ``x W_xr`` (MUT2), which appears in ``named_weights()``.
"""

from keras import ops

from seqkit.cells.base import RecurrentCell, register_cell


class _MutCell(RecurrentCell):
    """Shared step of the MUT cells: gates ``z, r`` and the candidate of ``r ⊙ h``."""

    def candidate(self, x_h, r, h_rec):
        units = self.units
        w_hh = self.recurrent_kernel[:, -units:]
        return self.activation(self.matmul(r * h_rec, w_hh) + x_h)

    def mix(self, z, candidate, h_tm1):
        return candidate * z + h_tm1 * (1 - z)

    def fused_recurrence(self):
        """All steps in one op (``seqkit.kernels.reset_sequence``)."""
        owner = next((cls for cls in (MUT1Cell, MUT2Cell, MUT3Cell) if isinstance(self, cls)),
                     None)
        if owner is None or not (self.steps_as(owner)
                                 and type(self).candidate is _MutCell.candidate
                                 and type(self).mix is _MutCell.mix):
            return None
        from seqkit.kernels import reset_sequence

        def run(xp, states):
            h_all, h = reset_sequence(xp, states[0], self.recurrent_kernel, owner.cell_name)
            return h_all, [h]

        return run


@register_cell("mut1")
class MUT1Cell(_MutCell):
    """MUT1: the update gate sees only ``x``; the candidate adds ``tanh(x)``.

    With ``input_dim != units``, ``tanh(x)`` becomes ``tanh(x W_xh)``.

    Example:
        >>> layer = keras.layers.RNN(MUT1Cell(64))
    """

    def gates(self, input_dim):
        x_gates = ("z", "r") if input_dim == self.units else ("z", "r", "h")
        return x_gates, ("r", "h"), ("z", "r", "h")

    def project(self, inputs):
        units = self.units
        x_zr = ops.matmul(inputs, self.kernel[:, : 2 * units])
        if self.input_dim == units:
            x_in = inputs
        else:
            x_in = ops.matmul(inputs, self.kernel[:, 2 * units :])
        return ops.concatenate([x_zr, ops.tanh(x_in)], axis=-1) + self.bias

    def recur(self, xp, states, h_rec):
        x_z, x_r, x_h = self.split(xp, 3)
        z = self.recurrent_activation(x_z)
        r = self.recurrent_activation(
            x_r + self.matmul(h_rec, self.recurrent_kernel[:, : self.units])
        )
        return [self.mix(z, self.candidate(x_h, r, h_rec), states[0])]


@register_cell("mut2")
class MUT2Cell(_MutCell):
    """MUT2: the reset gate adds ``x`` itself instead of ``x W_xr``.

    With ``input_dim != units``, ``x`` in the reset gate becomes ``x W_xr``.

    Example:
        >>> layer = keras.layers.RNN(MUT2Cell(64))
    """

    def gates(self, input_dim):
        x_gates = ("z", "h") if input_dim == self.units else ("z", "r", "h")
        return x_gates, ("z", "r", "h"), ("z", "r", "h")

    def project(self, inputs):
        units = self.units
        if self.input_dim == units:
            x_z, x_h = self.split(ops.matmul(inputs, self.kernel), 2)
            return ops.concatenate([x_z, inputs, x_h], axis=-1) + self.bias
        return ops.matmul(inputs, self.kernel) + self.bias

    def recur(self, xp, states, h_rec):
        x_z, x_r, x_h = self.split(xp, 3)
        h_z, h_r = self.split(self.matmul(h_rec, self.recurrent_kernel[:, : 2 * self.units]), 2)
        z = self.recurrent_activation(x_z + h_z)
        r = self.recurrent_activation(x_r + h_r)
        return [self.mix(z, self.candidate(x_h, r, h_rec), states[0])]


@register_cell("mut3")
class MUT3Cell(_MutCell):
    """MUT3: the update gate sees ``tanh(h)`` instead of ``h``.

    Example:
        >>> layer = keras.layers.RNN(MUT3Cell(64))
    """

    def gates(self, input_dim):
        return ("z", "r", "h"), ("z", "r", "h"), ("z", "r", "h")

    def recur(self, xp, states, h_rec):
        units = self.units
        x_z, x_r, x_h = self.split(xp, 3)
        h_z = self.matmul(ops.tanh(h_rec), self.recurrent_kernel[:, :units])
        h_r = self.matmul(h_rec, self.recurrent_kernel[:, units : 2 * units])
        z = self.recurrent_activation(x_z + h_z)
        r = self.recurrent_activation(x_r + h_r)
        return [self.mix(z, self.candidate(x_h, r, h_rec), states[0])]
