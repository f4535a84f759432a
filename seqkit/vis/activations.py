"""Per-step internals of every layer of a trained model over a text.

The model's ``recurrent`` stack is stepped one token at a time with each layer's own
cell (``cell(x, states)``, the same call ``keras.layers.RNN`` makes), recording every
state (``h``; ``c`` for the LSTM family) and the input each layer received. Gate
activations are then computed from the cell's named weights (``cell.named_weights()``,
the equations' notation) and the recorded previous states, following each family's
equations (see ``seqkit/cells``); ``tests/vis/test_activations.py`` checks them by
rebuilding the next state from them. Add a family with ``register_gates``.

Example:
    >>> from seqkit.vis import load_run, trace_run
    >>> trace = trace_run(load_run("runs/char_rnn"), "int main(void) { return 0; }")
    >>> trace.layers[0].signal("tanh(c)").shape      # (steps, units)
    (28, 128)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

GATES = {}


def register_gates(cell_name):
    """Decorator: ``fn(cell, weights, x, prev, new) -> {gate: (T, units)}`` for a cell family.

    ``weights`` is ``cell.named_weights()``, ``x`` the layer's inputs ``(T, input_dim)``,
    ``prev`` / ``new`` the cell's states before / after each step (lists of ``(T, units)``,
    in ``cell.state_names`` order). Subclasses of a registered cell use its function
    unless they register their own.

    Example:
        >>> @register_gates("my_cell")
        ... def my_gates(cell, w, x, prev, new):
        ...     return {"z": sigmoid(x @ w["W_xz"] + w["b_z"])}
    """

    def decorator(fn):
        GATES[cell_name] = fn
        return fn

    return decorator


def _activation(fn):
    def apply(a):
        return np.asarray(keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(
            np.asarray(a, np.float32)))), np.float32)

    return apply


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


@register_gates("lstm")
def lstm_gates(cell, w, x, prev, new):
    """Gates ``i, f, o`` of the LSTM family (peepholes, CIFG/NIG/NFG/NOG, FGR)."""
    gate = _activation(cell.recurrent_activation)
    h, c_prev, c = prev[0], prev[1], new[1]
    feedback = {}
    if cell.gate_recurrence:
        names = cell.recurrent_gates
        for b in names:
            feedback[b] = sum(prev[2 + j] @ w[f"W_{a}{b}"] for j, a in enumerate(names))

    def pre(k, peep_state):
        value = x @ w[f"W_x{k}"] + h @ w[f"W_h{k}"] + w[f"b_{k}"] + feedback.get(k, 0.0)
        return value + w[f"p_{k}"] * peep_state if cell.peepholes else value

    out = {}
    if cell.input_gate:
        out["i"] = gate(pre("i", c_prev))
    if cell.forget_gate == "learned":
        out["f"] = gate(pre("f", c_prev))
    elif cell.forget_gate == "coupled":
        out["f"] = 1.0 - out["i"]
    if cell.output_gate:
        out["o"] = gate(pre("o", c))
    return out


@register_gates("gru")
def gru_gates(cell, w, x, prev, new):
    """Update ``z`` and reset ``r`` of the GRU with recurrent biases (``reset_after``)."""
    gate, h = _activation(cell.recurrent_activation), prev[0]
    return {k: gate(x @ w[f"W_x{k}"] + w[f"b_{k}"] + h @ w[f"W_h{k}"] + w[f"b_h{k}"])
            for k in ("z", "r")}


@register_gates("gru_cho")
def gru_cho_gates(cell, w, x, prev, new):
    """Update ``z`` and reset ``r`` of Cho et al.'s GRU."""
    gate, h = _activation(cell.recurrent_activation), prev[0]
    return {k: gate(x @ w[f"W_x{k}"] + h @ w[f"W_h{k}"] + w[f"b_{k}"]) for k in ("z", "r")}


def _x_term(cell, w, x, name):
    """MUT's bare ``x`` (input width == units) or its learned projection ``x W_x?``."""
    return x if cell.input_dim == cell.units else x @ w[name]


@register_gates("mut1")
def mut1_gates(cell, w, x, prev, new):
    gate, h = _activation(cell.recurrent_activation), prev[0]
    return {"z": gate(x @ w["W_xz"] + w["b_z"]),
            "r": gate(x @ w["W_xr"] + h @ w["W_hr"] + w["b_r"])}


@register_gates("mut2")
def mut2_gates(cell, w, x, prev, new):
    gate, h = _activation(cell.recurrent_activation), prev[0]
    return {"z": gate(x @ w["W_xz"] + h @ w["W_hz"] + w["b_z"]),
            "r": gate(_x_term(cell, w, x, "W_xr") + h @ w["W_hr"] + w["b_r"])}


@register_gates("mut3")
def mut3_gates(cell, w, x, prev, new):
    gate, h = _activation(cell.recurrent_activation), prev[0]
    return {"z": gate(x @ w["W_xz"] + np.tanh(h) @ w["W_hz"] + w["b_z"]),
            "r": gate(x @ w["W_xr"] + h @ w["W_hr"] + w["b_r"])}


@register_gates("mingru")
def mingru_gates(cell, w, x, prev, new):
    return {"z": sigmoid(x @ w["W_xz"] + w["b_z"])}


@register_gates("minlstm")
def minlstm_gates(cell, w, x, prev, new):
    return {k: sigmoid(x @ w[f"W_x{k}"] + w[f"b_{k}"]) for k in ("f", "i")}


@register_gates("vanilla")
def vanilla_gates(cell, w, x, prev, new):
    """The vanilla RNN has no gates."""
    return {}


def gates_of(cell, x, prev, new):
    """The gate activations of ``cell`` at every step (``{}`` for an unregistered family)."""
    for klass in type(cell).__mro__:
        name = klass.__dict__.get("cell_name")
        if name in GATES:
            return GATES[name](cell, cell.named_weights(), x, prev, new)
    return {}


@dataclass
class LayerTrace:
    """One layer's record: its inputs, states and gates at every step.

    Attributes:
        cell: The registered cell name.
        inputs: ``(T, input_dim)``, what the layer read at each step.
        states: ``{"h": (T, units), "c": ...}``: the states after each step.
        gates: ``{"i": (T, units), ...}``: gate activations at each step.
    """

    cell: str
    inputs: np.ndarray
    states: dict
    gates: dict = field(default_factory=dict)

    @property
    def units(self):
        return self.states["h"].shape[-1]

    @property
    def cell_signal(self):
        """The signal the paper colours text by: ``tanh(c)`` with a cell state, else ``h``."""
        return "tanh(c)" if "c" in self.states else "h"

    def signal(self, name):
        """``"h"``, ``"c"``, ``"tanh(c)"``, or a gate name; ``(T, units)``."""
        if name == "tanh(c)" and "c" in self.states:
            return np.tanh(self.states["c"])
        if name in self.states:
            return self.states[name]
        if name in self.gates:
            return self.gates[name]
        valid = [*self.states, *(["tanh(c)"] if "c" in self.states else []), *self.gates]
        raise ValueError(f"Unknown signal {name!r} for a {self.cell} layer; valid: {valid}.")


@dataclass
class Trace:
    """Per-step internals of every layer over one token sequence."""

    tokens: list
    ids: np.ndarray
    layers: list

    def signals(self, kinds=None):
        """``{(layer, signal): (T, units)}`` for each layer's ``kinds`` (default: cell signal)."""
        out = {}
        for index, layer in enumerate(self.layers):
            for kind in kinds or [layer.cell_signal]:
                if kind == "tanh(c)" and "c" not in layer.states:
                    kind = "h"
                out[(index, kind)] = layer.signal(kind)
        return out


def _stack_and_encoder(model):
    names = {layer.name for layer in model.layers}
    if "recurrent" not in names or not names & {"embedding", "one_hot"}:
        raise ValueError(f"Model {model.name!r} has no 'recurrent' stack fed by an "
                         f"'embedding' or 'one_hot' layer (its layers: {sorted(names)}); "
                         "char LMs and text classifiers have both.")
    encoder = model.get_layer("embedding" if "embedding" in names else "one_hot")
    return model.get_layer("recurrent"), encoder


def trace_model(model, ids, tokens=None):
    """Steps a model's ``recurrent`` stack over ``ids`` from zero states, recording everything.

    Args:
        model: A model with an ``embedding``/``one_hot`` layer and a ``recurrent`` stack
            (``build_many_to_many``, ``build_many_to_one`` with tokens).
        ids: Token ids, ``(T,)``.
        tokens: Display strings of the tokens (default: the ids as text).

    Returns:
        A ``Trace``.

    Example:
        >>> trace = trace_model(model, vocab.encode("hello"), list("hello"))
    """
    ids = np.asarray(ids, np.int32).reshape(-1)
    if ids.size == 0:
        raise ValueError("ids must hold at least one token, received an empty sequence.")
    stack, encoder = _stack_and_encoder(model)
    xs = tf.cast(encoder(ids[None, :])[0], stack.compute_dtype)
    per = stack.states_per_layer

    @tf.function
    def run(xs):
        steps = tf.shape(xs)[0]
        states = stack.initial_state(1)
        arrays = [tf.TensorArray(xs.dtype, size=steps)
                  for _ in range(len(stack.rnns) + len(states))]
        for t in tf.range(steps):
            x, values, new_states = tf.expand_dims(xs[t], 0), [], []
            for layer, rnn in enumerate(stack.rnns):
                values.append(x[0])
                out, layer_states = rnn.cell(x, list(states[layer * per:(layer + 1) * per]),
                                             training=False)
                new_states += list(layer_states)
                x = stack.connect(layer, x, out)
            states = new_states
            values += [tf.cast(state[0], xs.dtype) for state in new_states]
            arrays = [array.write(t, value) for array, value in zip(arrays, values)]
        return [array.stack() for array in arrays]

    recorded = [value.numpy() for value in run(xs)]
    inputs, history = recorded[:len(stack.rnns)], recorded[len(stack.rnns):]
    layers = []
    for layer, rnn in enumerate(stack.rnns):
        cell = rnn.cell
        new = [np.asarray(history[layer * per + k], np.float32) for k in range(per)]
        prev = [np.concatenate([np.zeros_like(s[:1]), s[:-1]]) for s in new]
        x = np.asarray(inputs[layer], np.float32)
        names = list(getattr(cell, "state_names", ("h",)))[:per]
        layers.append(LayerTrace(cell=getattr(cell, "cell_name", type(cell).__name__),
                                 inputs=x, states=dict(zip(names, new)),
                                 gates=gates_of(cell, x, prev, new)))
    shown = list(tokens) if tokens is not None else [str(i) for i in ids]
    if len(shown) != len(ids):
        raise ValueError(f"tokens must have one entry per id: received {len(shown)} tokens "
                         f"for {len(ids)} ids.")
    return Trace(shown, ids, layers)


def encode_text(run, text):
    """``(ids, tokens)`` of ``text`` for a char LM (characters) or text classifier (words)."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty str, received {text!r:.80}.")
    if run.task == "char_lm":
        return run.vocab.encode(text), list(text)
    from seqkit.data.words import tokenize

    tokens = tokenize(text)
    if not tokens:
        raise ValueError(f"text has no words to visualise, received {text!r:.80}.")
    return np.asarray(run.vocab.encode(text), np.int32), tokens


def trace_run(run, text):
    """``trace_model`` on a loaded run (``seqkit.vis.load_run``) and a text.

    Example:
        >>> trace = trace_run(load_run("runs/char_rnn"), "ROMEO.\\n")
    """
    from seqkit.vis.runs import TOKEN_TASKS, require_task

    require_task(run, TOKEN_TASKS, "Tracing activations")
    ids, tokens = encode_text(run, text)
    return trace_model(run.model, ids, tokens)
