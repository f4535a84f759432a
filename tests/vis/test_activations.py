"""Traced states equal the model's own outputs; traced gates rebuild the next state by
each family's equations (written out here independently)."""

import numpy as np
import pytest

from seqkit.builders import build_many_to_many
from seqkit.vis import load_run, trace_model, trace_run


def sig(a):
    return 1 / (1 + np.exp(-a))


def g_min(a):
    return np.where(a >= 0, a + 0.5, sig(a))


def next_state(cell, w, x, prev, gates):
    """The new h (and c) from the gates, by the equations in seqkit/cells' docstrings."""
    h = prev[0]
    if cell.startswith("lstm"):
        c_prev = prev[1]
        g = x @ w["W_xg"] + h @ w["W_hg"] + w["b_g"]
        g = g if cell == "lstm_niaf" else np.tanh(g)
        i = gates.get("i", 1.0)
        f = gates.get("f", 1.0)
        c = f * c_prev + i * g
        return [gates.get("o", 1.0) * np.tanh(c), c]
    z, r = gates.get("z"), gates.get("r")
    if cell == "gru":
        cand = np.tanh(x @ w["W_xh"] + w["b_h"] + r * (h @ w["W_hh"] + w["b_hh"]))
        return [z * h + (1 - z) * cand]
    if cell == "gru_cho":
        cand = np.tanh(x @ w["W_xh"] + (r * h) @ w["W_hh"] + w["b_h"])
        return [z * h + (1 - z) * cand]
    if cell == "mut1":
        x_in = x @ w["W_xh"] if "W_xh" in w else x  # bare x when input width == units
        cand = np.tanh((r * h) @ w["W_hh"] + np.tanh(x_in) + w["b_h"])
        return [cand * z + h * (1 - z)]
    if cell in ("mut2", "mut3"):
        cand = np.tanh((r * h) @ w["W_hh"] + x @ w["W_xh"] + w["b_h"])
        return [cand * z + h * (1 - z)]
    if cell == "mingru":
        return [(1 - z) * h + z * g_min(x @ w["W_xh"] + w["b_h"])]
    if cell == "minlstm":
        f, i = gates["f"], gates["i"]
        return [f / (f + i) * h + i / (f + i) * g_min(x @ w["W_xh"] + w["b_h"])]
    raise AssertionError(cell)


CELLS = ["lstm", "lstm_peephole", "lstm_cifg", "lstm_nog", "lstm_fgr", "gru", "gru_cho",
         "mut1", "mut2", "mut3", "mingru", "minlstm"]


@pytest.mark.parametrize("cell", CELLS)
def test_gates_rebuild_the_next_state(cell):
    rng = np.random.default_rng(0)
    model = build_many_to_many(cell, 5, 7, depth=2, compile=False)
    for rnn in model.get_layer("recurrent").rnns:
        named = rnn.cell.named_weights()  # peepholes and gate recurrences start at 0
        rnn.cell.assign_named_weights({k: rng.normal(size=v.shape) * 0.5
                                       for k, v in named.items()})
    ids = rng.integers(0, 7, size=9)
    trace = trace_model(model, ids)
    for index, layer in enumerate(trace.layers):
        cell_obj = model.get_layer("recurrent").rnns[index].cell
        w = {k: v.astype(np.float64) for k, v in cell_obj.named_weights().items()}
        names = list(layer.states)
        new = [layer.states[n] for n in names]
        prev = [np.concatenate([np.zeros_like(s[:1]), s[:-1]]) for s in new]
        rebuilt = next_state(cell, w, layer.inputs, prev, layer.gates)
        for name, value, expected in zip(names, rebuilt, new):
            np.testing.assert_allclose(value, expected, atol=2e-5, err_msg=f"{cell} {name}")
        if cell.startswith("lstm"):
            assert set(layer.gates) == {"lstm_nog": {"i", "f"}}.get(cell, {"i", "f", "o"})


def test_trace_of_a_trained_run_equals_the_model(char_run):
    run = load_run(char_run)
    text = "if (x) {\n\ty = \"a\";\n}\n"
    trace = trace_run(run, text)
    assert trace.tokens == list(text) and len(trace.layers) == 2
    model = run.model
    stack = model.get_layer("recurrent")
    top = stack(model.get_layer("one_hot")(run.vocab.encode(text)[None]))[0].numpy()
    np.testing.assert_allclose(trace.layers[1].states["h"], top, atol=1e-5)
    assert trace.layers[0].signal("tanh(c)").shape == (len(text), 8)
    assert set(trace.layers[0].gates) == {"i", "f", "o"}
    with pytest.raises(ValueError, match="Unknown signal 'q'"):
        trace.layers[0].signal("q")
