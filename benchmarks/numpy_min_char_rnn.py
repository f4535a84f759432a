"""Karpathy's min-char-rnn gist (2015), its training loop in NumPy, as the reference program.

Only the printing is left out; the algorithm and constants are the gist's.
"""

import numpy as np


def train(data, vocab_size, iterations, hidden_size=100, seq_length=25, learning_rate=1e-1,
          seed=0):
    """Runs ``iterations`` iterations on the id list ``data``; returns the smooth losses."""
    rng = np.random.default_rng(seed)
    Wxh = rng.standard_normal((hidden_size, vocab_size)) * 0.01
    Whh = rng.standard_normal((hidden_size, hidden_size)) * 0.01
    Why = rng.standard_normal((vocab_size, hidden_size)) * 0.01
    bh, by = np.zeros((hidden_size, 1)), np.zeros((vocab_size, 1))
    params = [Wxh, Whh, Why, bh, by]
    mems = [np.zeros_like(p) for p in params]
    smooth_loss = -np.log(1.0 / vocab_size) * seq_length
    n = p = 0
    smooth = []
    while n < iterations:
        if p + seq_length + 1 >= len(data) or n == 0:
            hprev = np.zeros((hidden_size, 1))
            p = 0
        inputs, targets = data[p:p + seq_length], data[p + 1:p + seq_length + 1]
        xs, hs, ps = {}, {-1: np.copy(hprev)}, {}
        loss = 0
        for t in range(len(inputs)):
            xs[t] = np.zeros((vocab_size, 1))
            xs[t][inputs[t]] = 1
            hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
            ys = Why @ hs[t] + by
            ps[t] = np.exp(ys) / np.sum(np.exp(ys))
            loss += -np.log(ps[t][targets[t], 0])
        grads = [np.zeros_like(q) for q in params]
        dWxh, dWhh, dWhy, dbh, dby = grads
        dhnext = np.zeros_like(hs[0])
        for t in reversed(range(len(inputs))):
            dy = np.copy(ps[t])
            dy[targets[t]] -= 1
            dWhy += dy @ hs[t].T
            dby += dy
            dh = Why.T @ dy + dhnext
            dhraw = (1 - hs[t] * hs[t]) * dh
            dbh += dhraw
            dWxh += dhraw @ xs[t].T
            dWhh += dhraw @ hs[t - 1].T
            dhnext = Whh.T @ dhraw
        hprev = hs[len(inputs) - 1]
        for param, dparam, mem in zip(params, grads, mems):
            np.clip(dparam, -5, 5, out=dparam)
            mem += dparam * dparam
            param += -learning_rate * dparam / np.sqrt(mem + 1e-8)
        smooth_loss = smooth_loss * 0.999 + loss * 0.001
        smooth.append(smooth_loss)
        p += seq_length
        n += 1
    return smooth
