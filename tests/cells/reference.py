"""Independent NumPy references of every cell's equations, written from the papers.

Each function takes the named weights (design.md notation: ``x @ W_x?``,
``h @ W_h?``), a sequence ``xs`` of shape (batch, time, input) and returns the
outputs (batch, time, units) and the final states. Nothing here imports seqkit.
"""

import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def vanilla(w, xs, activation=np.tanh, h0=None):
    h = np.zeros((xs.shape[0], w["W_hh"].shape[0])) if h0 is None else h0
    outs = []
    for t in range(xs.shape[1]):
        h = activation(xs[:, t] @ w["W_xh"] + h @ w["W_hh"] + w["b_h"])
        outs.append(h)
    return np.stack(outs, 1), [h]


def lstm_family(w, xs, variant="lstm"):
    """Greff et al. 2015, Fig. 1 and Section 3, with the variant's change applied."""
    units = w["W_hg"].shape[0]
    batch = xs.shape[0]
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    i_prev = f_prev = o_prev = np.zeros((batch, units))
    peep = variant != "lstm"
    outs = []
    for t in range(xs.shape[1]):
        x = xs[:, t]

        def pre(g, x=x, h=h):
            return x @ w[f"W_x{g}"] + h @ w[f"W_h{g}"] + w[f"b_{g}"]

        def fgr(g, i_prev=i_prev, f_prev=f_prev, o_prev=o_prev):  # full gate recurrence
            if variant != "lstm_fgr":
                return 0.0
            return i_prev @ w[f"W_i{g}"] + f_prev @ w[f"W_f{g}"] + o_prev @ w[f"W_o{g}"]

        z = pre("g") if variant == "lstm_niaf" else np.tanh(pre("g"))
        if variant == "lstm_nig":
            i = np.ones_like(z)
        else:
            i = sigmoid(pre("i") + (w["p_i"] * c if peep else 0) + fgr("i"))
        if variant == "lstm_nfg":
            f = np.ones_like(z)
        elif variant == "lstm_cifg":
            f = 1.0 - i
        else:
            f = sigmoid(pre("f") + (w["p_f"] * c if peep else 0) + fgr("f"))
        c = z * i + c * f
        if variant == "lstm_nog":
            o = np.ones_like(z)
        else:
            o = sigmoid(pre("o") + (w["p_o"] * c if peep else 0) + fgr("o"))
        h = c * o if variant == "lstm_noaf" else np.tanh(c) * o
        i_prev, f_prev, o_prev = i, f, o
        outs.append(h)
    states = [h, c]
    if variant == "lstm_fgr":
        states += [i, f, o]
    return np.stack(outs, 1), states


def gru(w, xs, reset_after=True):
    """Cho et al. 2014; ``reset_after`` is the cuDNN / Keras-default form."""
    units = w["W_hh"].shape[0]
    h = np.zeros((xs.shape[0], units))
    outs = []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        if reset_after:
            z = sigmoid(x @ w["W_xz"] + w["b_z"] + h @ w["W_hz"] + w["b_hz"])
            r = sigmoid(x @ w["W_xr"] + w["b_r"] + h @ w["W_hr"] + w["b_hr"])
            cand = np.tanh(x @ w["W_xh"] + w["b_h"] + r * (h @ w["W_hh"] + w["b_hh"]))
        else:
            z = sigmoid(x @ w["W_xz"] + h @ w["W_hz"] + w["b_z"])
            r = sigmoid(x @ w["W_xr"] + h @ w["W_hr"] + w["b_r"])
            cand = np.tanh(x @ w["W_xh"] + (r * h) @ w["W_hh"] + w["b_h"])
        h = z * h + (1 - z) * cand
        outs.append(h)
    return np.stack(outs, 1), [h]


def mut(w, xs, which):
    """Jozefowicz et al. 2015, MUT1-3, for input width == units (literal equations)."""
    units = w["W_hh"].shape[0]
    h = np.zeros((xs.shape[0], units))
    outs = []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        if which == "mut1":
            z = sigmoid(x @ w["W_xz"] + w["b_z"])
            r = sigmoid(x @ w["W_xr"] + h @ w["W_hr"] + w["b_r"])
            h = np.tanh((r * h) @ w["W_hh"] + np.tanh(x) + w["b_h"]) * z + h * (1 - z)
        elif which == "mut2":
            z = sigmoid(x @ w["W_xz"] + h @ w["W_hz"] + w["b_z"])
            r = sigmoid(x + h @ w["W_hr"] + w["b_r"])
            h = np.tanh((r * h) @ w["W_hh"] + x @ w["W_xh"] + w["b_h"]) * z + h * (1 - z)
        else:
            z = sigmoid(x @ w["W_xz"] + np.tanh(h) @ w["W_hz"] + w["b_z"])
            r = sigmoid(x @ w["W_xr"] + h @ w["W_hr"] + w["b_r"])
            h = np.tanh((r * h) @ w["W_hh"] + x @ w["W_xh"] + w["b_h"]) * z + h * (1 - z)
        outs.append(h)
    return np.stack(outs, 1), [h]


def reference(name, weights, xs):
    """Dispatches to the reference of cell ``name``."""
    if name == "vanilla":
        return vanilla(weights, xs)
    if name.startswith("lstm"):
        return lstm_family(weights, xs, "lstm_peephole" if name == "lstm_peephole" else name)
    if name in ("gru", "gru_cho"):
        return gru(weights, xs, reset_after=name == "gru")
    if name in ("mut1", "mut2", "mut3"):
        return mut(weights, xs, name)
    raise KeyError(name)
