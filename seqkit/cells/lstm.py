"""The LSTM and the eight variants of Greff et al. 2015, "LSTM: A Search Space Odyssey".

One general step covers the family; each variant is a few class attributes::

    i = σ(x W_xi + h W_hi + p_i ⊙ c_{t-1} + b_i)      input gate
    f = σ(x W_xf + h W_hf + p_f ⊙ c_{t-1} + b_f)      forget gate
    g = tanh(x W_xg + h W_hg + b_g)                    block input
    c_t = f ⊙ c_{t-1} + i ⊙ g
    o = σ(x W_xo + h W_ho + p_o ⊙ c_t + b_o)           output gate
    h_t = o ⊙ tanh(c_t)

Fused weights follow Keras' layout (gate order i, f, g, o); the forget-gate
bias starts at 1 (``unit_forget_bias=True``) as in Keras and Jozefowicz et al.
Peephole weights ``p_?`` and the full-gate-recurrence matrices ``W_{a}{b}``
(from gate ``a``'s previous activation to gate ``b``) start at zero, so every
variant starts as the LSTM it modifies.
"""

from keras import ops

from seqkit.cells.base import RecurrentCell, register_cell


@register_cell("lstm")
class LSTMCell(RecurrentCell):
    """Long short-term memory cell (Hochreiter & Schmidhuber 1997), no peepholes.

    Same weights and outputs as ``keras.layers.LSTMCell``. States ``[h, c]``.
    Subclasses switch parts off through class attributes: ``input_gate``,
    ``forget_gate`` (``"learned"``, ``"none"`` or ``"coupled"``: ``f = 1 − i``),
    ``output_gate``, ``input_activation``, ``output_activation``, ``peepholes``,
    ``gate_recurrence``.

    Args:
        units: Width of ``h`` and ``c``.
        unit_forget_bias: Start the forget-gate bias at 1 (default) instead of
            ``bias_initializer``.
        **kwargs: See ``RecurrentCell``.

    Example:
        >>> layer = keras.layers.RNN(LSTMCell(128), return_sequences=True)
    """

    state_names = ("h", "c")
    input_gate = True
    forget_gate = "learned"
    output_gate = True
    input_activation = True
    output_activation = True
    peepholes = False
    gate_recurrence = False

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        if self.gate_recurrence:
            self.state_names = ("h", "c") + self.recurrent_gates

    @property
    def recurrent_gates(self):
        """The sigmoid gates present: those with peepholes and gate recurrence."""
        return tuple(
            gate
            for gate, present in (
                ("i", self.input_gate),
                ("f", self.forget_gate == "learned"),
                ("o", self.output_gate),
            )
            if present
        )

    def gates(self, input_dim):
        names = [g for g in ("i", "f", "g", "o") if g == "g" or g in self.recurrent_gates]
        return names, names, names

    def bias_initializer_for(self, b_gates):
        if not (self.unit_forget_bias and "f" in b_gates):
            return self.bias_initializer
        units, base, forget = self.units, self.bias_initializer, b_gates.index("f")

        def initializer(shape, dtype=None):
            blocks = [
                ops.ones((units,), dtype=dtype) if k == forget else base((units,), dtype=dtype)
                for k in range(len(b_gates))
            ]
            return ops.concatenate(blocks)

        return initializer

    def build_extra(self, input_dim):
        if self.peepholes:
            for gate in self.recurrent_gates:
                self.add_named(f"p_{gate}", (self.units,), "zeros")
        if self.gate_recurrence:
            gates = self.recurrent_gates
            self.gate_kernel = self.add_named(
                "gate_kernel", (len(gates) * self.units,) * 2, "zeros",
                {
                    f"W_{a}{b}": (self._cols(j), self._cols(k))
                    for j, a in enumerate(gates)
                    for k, b in enumerate(gates)
                },
            )

    def recur(self, xp, states, h_rec):
        c_tm1 = states[1]
        x_gates, _, _ = self.gates(self.input_dim)
        pre = self.matmul(h_rec, self.recurrent_kernel) + xp
        if self.gate_recurrence:
            previous = ops.concatenate(states[2:], axis=-1)
            feedback = self.split(self.matmul(previous, self.gate_kernel), len(states) - 2)
            feedback = dict(zip(self.recurrent_gates, feedback))
        else:
            feedback = {}
        pre = dict(zip(x_gates, self.split(pre, len(x_gates))))

        def gate(name, cell_state):
            value = pre[name] + feedback.get(name, 0)
            if self.peepholes:
                value = value + self._views[f"p_{name}"][0] * cell_state
            return self.recurrent_activation(value)

        i = gate("i", c_tm1) if self.input_gate else 1.0
        if self.forget_gate == "learned":
            f = gate("f", c_tm1)
        elif self.forget_gate == "coupled":
            f = 1.0 - i
        else:
            f = 1.0
        g = self.activation(pre["g"]) if self.input_activation else pre["g"]
        c = f * c_tm1 + i * g
        o = gate("o", c) if self.output_gate else 1.0
        h = o * (self.activation(c) if self.output_activation else c)
        if self.gate_recurrence:
            gate_values = {"i": i, "f": f, "o": o}
            return [h, c] + [gate_values[name] for name in self.recurrent_gates]
        return [h, c]

    def fused_recurrence(self):
        """All steps in one op (``seqkit.kernels.lstm_sequence``), or ``None``.

        The LSTM and every variant with σ gates and tanh have one (``lstm_fgr``:
        ``kernels.fgr_sequence``, states ``[h, c, i, f, o]``). The returned
        ``run(xp, states)`` gives ``(h_all, final_states)``, ``xp`` and ``h_all`` time-major.
        """
        if not self.steps_as(LSTMCell):
            return None
        if self.gate_recurrence:
            return self._fused_fgr()
        from seqkit.kernels import lstm_sequence

        def run(xp, states):
            peephole = self._peephole_rows() if self.peepholes else None
            h_all, h, c = lstm_sequence(
                xp, states[0], states[1], self.recurrent_kernel, peephole,
                input_gate=self.input_gate, forget_gate=self.forget_gate,
                output_gate=self.output_gate, input_activation=self.input_activation,
                output_activation=self.output_activation)
            return h_all, [h, c]

        return run

    def _peephole_rows(self):
        """``(3, units)``: ``p_i, p_f, p_o``, zeros for absent gates."""
        return ops.stack([
            self._views[f"p_{gate}"][0].value if gate in self.recurrent_gates
            else ops.zeros((self.units,), self.compute_dtype) for gate in "ifo"])

    def _fused_fgr(self):
        """``seqkit.kernels.fgr_sequence`` for full gate recurrence with all three σ gates
        and peepholes (``lstm_fgr``), else ``None``."""
        if (self.recurrent_gates != ("i", "f", "o") or not self.peepholes
                or not (self.input_activation and self.output_activation)):
            return None
        from seqkit.kernels import fgr_sequence

        def run(xp, states):
            h_all, h, c, q = fgr_sequence(
                xp, states[0], states[1], ops.concatenate(states[2:], axis=-1),
                self.recurrent_kernel, self.gate_kernel, self._peephole_rows())
            return h_all, [h, c, *ops.split(q, 3, axis=-1)]

        return run

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register_cell("lstm_peephole")
class PeepholeLSTMCell(LSTMCell):
    """Greff et al.'s "vanilla" LSTM: the LSTM with peepholes ``p_i, p_f, p_o``
    (Gers & Schmidhuber 2000). The input and forget gates peek at ``c_{t-1}``,
    the output gate at ``c_t``.

    Example:
        >>> cell = PeepholeLSTMCell(64)
    """

    peepholes = True


@register_cell("lstm_cifg")
class CIFGLSTMCell(PeepholeLSTMCell):
    """Coupled input and forget gate (CIFG): ``f = 1 − i``; no forget-gate weights.

    Example:
        >>> cell = CIFGLSTMCell(64)
    """

    forget_gate = "coupled"


@register_cell("lstm_nig")
class NIGLSTMCell(PeepholeLSTMCell):
    """No input gate (NIG): ``i = 1``, so ``c_t = f ⊙ c_{t-1} + g``.

    Example:
        >>> cell = NIGLSTMCell(64)
    """

    input_gate = False


@register_cell("lstm_nfg")
class NFGLSTMCell(PeepholeLSTMCell):
    """No forget gate (NFG): ``f = 1``, so ``c_t = c_{t-1} + i ⊙ g``.

    Example:
        >>> cell = NFGLSTMCell(64)
    """

    forget_gate = "none"


@register_cell("lstm_nog")
class NOGLSTMCell(PeepholeLSTMCell):
    """No output gate (NOG): ``o = 1``, so ``h_t = tanh(c_t)``.

    Example:
        >>> cell = NOGLSTMCell(64)
    """

    output_gate = False


@register_cell("lstm_niaf")
class NIAFLSTMCell(PeepholeLSTMCell):
    """No input activation function (NIAF): ``g = x W_xg + h W_hg + b_g`` (linear).

    Example:
        >>> cell = NIAFLSTMCell(64)
    """

    input_activation = False


@register_cell("lstm_noaf")
class NOAFLSTMCell(PeepholeLSTMCell):
    """No output activation function (NOAF): ``h_t = o ⊙ c_t``.

    Example:
        >>> cell = NOAFLSTMCell(64)
    """

    output_activation = False


@register_cell("lstm_fgr")
class FGRLSTMCell(PeepholeLSTMCell):
    """Full gate recurrence (FGR): each gate also sees every gate's previous value,
    ``i_t = σ(... + i_{t-1} W_ii + f_{t-1} W_fi + o_{t-1} W_oi)`` and likewise
    for ``f`` and ``o``. States ``[h, c, i, f, o]``.

    Example:
        >>> cell = FGRLSTMCell(64)
    """

    gate_recurrence = True

